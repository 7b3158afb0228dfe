"""Steady video beside MediaPipe's video mode (benchmarks/peers_video.py, run by
``benchmarks/peers.py --parts video``; its docstring has the protocol): the clips' constants, the
per-clip scores in % of the inter-ocular distance, and the sections of docs/peers.md and
docs/video.md."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..metrics import interocular

FRAME_W, FRAME_H, FPS, FRAMES = 640, 480, 30.0, 90
NOISE_SIGMA = 4.0      # grey levels, independent per pixel and frame
FACE_PX = 160.0        # longer side of the face's 68-point box in the frame
MOTION = {"rotation_deg": 10.0, "scale": 0.12, "shift_px": 60.0}
TEST_FACES = 12
KINDS = ("still", "moving")
METHODS = ("denseface", "denseface_raw", "denseface_photo", "mediapipe")
#: Issue 30's targets, measured in the same run.
TARGETS = {"jitter_vs_mediapipe": 0.5, "moving_nme_margin": 0.1}


@dataclass
class Clip:
    """One clip as written: its file, each frame's ground truth and motion."""
    name: str
    kind: str              # "still" or "moving"
    path: Path             # the MP4 file
    gt: np.ndarray         # (T, 68, 2) image pixels of each frame
    motion: np.ndarray     # (T, 2, 3) photo pixels -> frame pixels


def scores(pred: np.ndarray, clip: Clip) -> dict:
    """Per-clip figures of (T, 68, 2) predictions (NaN = no face): nme, and on still clips
    jitter and step (see the module docstring), in % of the inter-ocular distance."""
    iod = interocular(clip.gt)                                        # (T,)
    ok = np.isfinite(pred).all((1, 2))
    err = np.linalg.norm(pred - clip.gt, axis=2).mean(1) / iod * 100.0
    row = {"found": int(ok.sum()), "frames": len(pred),
           "nme": float(err[ok].mean()) if ok.any() else None}
    if clip.kind == "moving" and ok.sum() > 2:   # frame-to-frame motion left after undoing the known motion
        square = np.concatenate([clip.motion, np.tile([[[0.0, 0.0, 1.0]]], (len(pred), 1, 1))], 1)
        inv = np.linalg.inv(square)[:, :2]
        back = np.einsum("tij,tkj->tki", inv[:, :, :2], pred) + inv[:, None, :, 2]
        scale = np.sqrt(np.abs(np.linalg.det(clip.motion[:, :, :2])))          # frame px per photo px
        both = ok[1:] & ok[:-1]
        steps = np.linalg.norm(np.diff(back, axis=0), axis=2).mean(1) * scale[1:]
        row["step_moving"] = float(steps[both].mean() / iod[0] * 100.0) if both.any() else None
    if clip.kind == "still" and ok.sum() > 2:
        p = pred[ok]
        spread = np.sqrt(((p - p.mean(0)) ** 2).sum(2).mean(0))          # (68,) px
        row["jitter"] = float(spread.mean() / iod[0] * 100.0)
        both = ok[1:] & ok[:-1]
        steps = np.linalg.norm(np.diff(pred, axis=0), axis=2).mean(1)[both]
        row["step"] = float(steps.mean() / iod[0] * 100.0) if both.any() else None
    return row


def summary(rows: list[dict]) -> dict:
    """Means over clips, per kind and method."""
    out = {}
    for kind in KINDS:
        ks = [r for r in rows if r["kind"] == kind]
        out[kind] = {}
        for m in METHODS:
            rs = [r["methods"][m] for r in ks if m in r["methods"]]
            if not rs:
                continue
            agg = {"clips": len(rs), "found_pct": 100.0 * sum(r["found"] for r in rs) / sum(r["frames"] for r in rs)}
            for key in ("nme", "jitter", "step", "step_moving"):
                v = [r[key] for r in rs if r.get(key) is not None]
                if v:
                    agg[key] = float(np.mean(v))
            out[kind][m] = agg
    return out


def targets_met(s: dict) -> dict:
    """Issue 30's targets on a summary (None where a method is missing)."""
    d, mp = s["still"].get("denseface", {}), s["still"].get("mediapipe")
    mv = s["moving"]
    return {"jitter": (d["jitter"] <= TARGETS["jitter_vs_mediapipe"] * mp["jitter"]) if mp else None,
            "moving_nme": mv["denseface"]["nme"] <= mv["denseface_photo"]["nme"] + TARGETS["moving_nme_margin"]}


def table(d: dict, fmt) -> list[str]:
    """The results table (docs/peers.md and docs/video.md share it)."""
    s = d["summary"]
    names = {"denseface": "**denseface tracker** (default smoothing)",
             "denseface_raw": "denseface tracker, no smoothing",
             "denseface_photo": "denseface, each frame as a photo",
             "mediapipe": "MediaPipe Face Mesh 0.10.21, video mode"}
    lines = ["| method | jitter (still) | frame to frame (still) | frame to frame (moving, motion undone) "
             "| NME still | NME moving | frames with a face |",
             "|---|---|---|---|---|---|---|"]
    for m in METHODS:
        st, mv = s["still"].get(m), s["moving"].get(m)
        if st is None:
            continue
        lines.append(f"| {names[m]} | {fmt(st.get('jitter'), 3)} % | {fmt(st.get('step'), 3)} % | "
                     f"{fmt(mv.get('step_moving'), 3)} % | {fmt(st.get('nme'))} | {fmt(mv.get('nme'))} | "
                     f"{fmt(min(st['found_pct'], mv['found_pct']), 1)} % |")
    return lines


def body(d: dict, fmt) -> list[str]:
    """The table and what it says about the targets (docs/peers.md and docs/video.md)."""
    met, s = d["met"], d["summary"]
    mpj = s["still"].get("mediapipe", {}).get("jitter")
    parts = [f"_Generated by `python benchmarks/peers.py --parts video` ({d['clips']} clips, "
             f"{d['machine']['date']})._", "", *table(d, fmt), ""]
    if mpj:
        parts.append(f"- Jitter: denseface {fmt(s['still']['denseface']['jitter'], 3)} % = "
                     f"{s['still']['denseface']['jitter'] / mpj:.2f}x MediaPipe's (target <= "
                     f"{TARGETS['jitter_vs_mediapipe']}x: **{'met' if met['jitter'] else 'missed'}**).")
    parts += [f"- Moving clips: the tracker's NME {fmt(s['moving']['denseface']['nme'])} vs "
              f"{fmt(s['moving']['denseface_photo']['nme'])} for the same frames as photos (target <= +"
              f"{TARGETS['moving_nme_margin']}: **{'met' if met['moving_nme'] else 'missed'}**).",
              f"- denseface's tracker: {d['tracker_fps_median']:.0f} fps here (one face, one thread, a "
              f"shared 2-core machine at load {d['machine']['load_average']}; `benchmarks/bench_video.py` "
              "measures speed)"
              + (f"; MediaPipe's video mode {d['mediapipe']['ms_per_frame']:.1f} ms a frame in its own process "
                 "pinned to one core." if d.get("mediapipe") else "."),
              "- MediaPipe's 68 come from its 468 through the index table above, so part of its NME is "
              "convention; its jitter is not." + ("" if d.get("mediapipe_decoded_same_frames") in (True, None)
                                                   else " Its decoder gave other frames than ours!"), ""]
    return parts


def section(d: dict, fmt) -> list[str]:
    """The video section of docs/peers.md."""
    return ["## Steady video: tracking against MediaPipe's video mode", "",
            f"{d['clips'] // 2} held-out 300-W faces, each as a still and a moving clip of {d['frames']} frames "
            f"at {FRAME_W}x{FRAME_H} (face {d['face_px']:.0f} px, sensor noise sigma {d['noise_sigma']:g} grey "
            f"levels per frame, written as MP4 and read back; moving: rotation +-{MOTION['rotation_deg']:g} deg, "
            f"scale +-{100 * MOTION['scale']:.0f} %, shift up to {MOTION['shift_px']:g} px). Ground truth: the "
            "human 68 points moved by each frame's matrix. Jitter: each point's spread over a still clip's "
            "frames; all figures in % of the inter-ocular distance (`benchmarks/peers_video.py` has the "
            "protocol; docs/video.md the smoothing).", "", *body(d, fmt)]


def tuning_section(d: dict, fmt) -> list[str]:
    """The tuning section of docs/video.md from benchmarks/results/video_tuning.json."""
    lines = ["| smoothing | jitter (still) | frame to frame (still) | frame to frame (moving, motion undone) "
             "| moving NME - photos' | blink kept |",
             "|---|---|---|---|---|---|"]
    for name, r in d["candidates"].items():
        bold = "**" if name == d["chosen"] else ""
        lines.append(f"| {bold}{name}{bold} | {fmt(r['jitter'], 3)} % | {fmt(r['step'], 3)} % | "
                     f"{fmt(r['step_moving'], 3)} % | {r['moving_excess']:+.3f} | {fmt(r['blink_kept'])} |")
    return [f"_Generated by `python benchmarks/peers_video.py --tune` ({d['clips']} clips of {d['frames']} frames "
            f"from {d['photos']})._", "", *lines, "",
            f"Rule: among the settings with moving NME - photos' <= {d['rule']['moving_excess_max']} and at "
            f"least {d['rule']['blink_kept_min']:.0%} of a synthetic blink's eye-aspect-ratio drop kept, the "
            f"lowest jitter (within {d['rule']['jitter_tie']} % counts as equal: then the most blink kept); "
            f"chosen: **{d['chosen']}**"
            + (" (`SmoothingConfig()`)." if d["chosen"] == "default" else ", which is NOT `SmoothingConfig()`.")]
