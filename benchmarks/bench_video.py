"""Video tracking benchmark with ground truth: synthetic clips made from annotated photos.

Each clip moves one annotated photo (shared/data/face_landmark_samples, 68-point ground truth)
through a 640x480 frame under a known smooth motion: shift (+-40 px, +-25 px), in-plane rotation
(+-8 deg) and scale (+-10 %), plus a few-frame occlusion of the lower face. Each frame's ground
truth is the annotation moved by that frame's matrix. For every clip it measures

- tracked NME: ``denseface predict`` on the video (denseface.infer.tracking.FaceTracker with its
  defaults, smoothing on), 68 points against the moved ground truth, normalised by sqrt(w*h)
  of the ground truth's box (the AFLW2000-3D normaliser), in percent;
- still NME: every frame predicted on its own (detector + two passes, ``DenseFace.predict``);
- jitter: the landmarks mapped back through the inverse of the known motion into the photo's
  frame, where a perfect tracker stands still; the mean frame-to-frame displacement of those
  points, in percent of the normaliser (tracked vs still);
- fps of the tracker for one 640x480 face (wall time of ``FaceTracker.update`` over the clip's
  decoded frames, the median of ``--repeats`` passes), with the eye stage and, in turn in the
  same run, without it (``fps_no_eyes``).

Frames under the occluder and the two frames after it are left out of the NME and jitter
figures and reported apart.

    python benchmarks/bench_video.py                      # all clips, the default model
    python benchmarks/bench_video.py --model dense520_mbv2_100 --frames 60

Writes benchmarks/results/video.json and the results section of docs/video.md.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from denseface.eval.moving_clip import (AFTER_OCCLUSION, FPS, OCCLUDED, Clip, clip_sources, make_clip,
                                        nearest_face, score_track)
from denseface.eval.report import write_doc_section

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "video.json"
DOC = ROOT / "docs" / "video.md"
TARGETS = {"nme_margin": 0.3, "frame_ratio": 1.5, "fps": 200.0}


def tracker_fps(models: dict, clip: Clip, tracker_config, smoothing, repeats: int) -> dict:
    """Frames per second of ``FaceTracker.update`` over the clip for each model (by name), the
    median of ``repeats`` passes, the models taking turns in each round (same load)."""
    from denseface.infer.tracking import FaceTracker

    seconds: dict = {k: [] for k in models}
    for _ in range(repeats):
        for name, model in models.items():
            tracker = FaceTracker(model, tracker_config, smoothing)
            t0 = time.perf_counter()
            for t, frame in enumerate(clip.frames):
                tracker.update(frame, t / FPS)
            seconds[name].append(time.perf_counter() - t0)
    return {k: len(clip.frames) / float(np.median(v)) for k, v in seconds.items()}


def evaluate_clip(model, clip: Clip, tracker_config, smoothing) -> dict:
    from denseface.infer.tracking import FaceTracker

    n = len(clip.frames)
    tracker = FaceTracker(model, tracker_config, smoothing)
    tracked, still = [], []
    for t, frame in enumerate(clip.frames):
        f = nearest_face(tracker.update(frame, t / FPS), clip.gt68[t])
        tracked.append(None if f is None else f.landmarks68[:, :2])
    for t, frame in enumerate(clip.frames):
        f = nearest_face(model.predict_array(frame), clip.gt68[t])
        still.append(None if f is None else f.landmarks68[:, :2])
    a, b = score_track(clip, tracked), score_track(clip, still)
    keep = np.ones(n, bool)
    keep[[t for t in OCCLUDED if t < n]] = False
    keep[[t for t in range(OCCLUDED.stop, OCCLUDED.stop + AFTER_OCCLUSION) if t < n]] = False
    step_keep = keep[1:] & keep[:-1]
    both = keep & np.isfinite(a["nme"]) & np.isfinite(b["nme"])
    ratio = a["nme"][both] / b["nme"][both]
    return {
        "clip": clip.name, "frames": n,
        "tracked_nme": float(np.nanmean(a["nme"][keep])), "still_nme": float(np.nanmean(b["nme"][keep])),
        "tracked_nme_max": float(np.nanmax(a["nme"][keep])), "still_nme_max": float(np.nanmax(b["nme"][keep])),
        "worst_frame_ratio": float(ratio.max()) if ratio.size else float("nan"),
        "tracked_jitter": float(np.nanmean(a["jitter_steps"][step_keep])),
        "still_jitter": float(np.nanmean(b["jitter_steps"][step_keep])),
        "tracked_missing": int((~np.isfinite(a["nme"][keep])).sum()),
        "still_missing": int((~np.isfinite(b["nme"][keep])).sum()),
        "occluded_tracked_nme": float(np.nanmean(a["nme"][~keep])) if (~keep).any() else float("nan"),
        "occluded_still_nme": float(np.nanmean(b["nme"][~keep])) if (~keep).any() else float("nan"),
        "detector_frames": tracker.detections, "drift_checks": tracker.checks, "restarts": tracker.restarts,
    }


def passes(row: dict) -> dict:
    return {"nme": row["tracked_nme"] <= row["still_nme"] + TARGETS["nme_margin"],
            "frame_ratio": row["worst_frame_ratio"] <= TARGETS["frame_ratio"],
            "jitter": row["tracked_jitter"] < row["still_jitter"]}


def render(result: dict) -> str:
    rows = result["clips"]
    lines = [f"_Generated by `python benchmarks/bench_video.py` ({result['model']}, "
             f"{result['frames']} frames per clip, {result['threads']} thread(s))._", "",
             "| clip | tracked NME | still NME | worst frame tracked/still | tracked jitter | still jitter "
             "| occluded frames tracked / still NME | detector frames | fps | fps without eye stage | targets met |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ok = passes(r)
        lines.append(
            f"| {r['clip']} | {r['tracked_nme']:.2f} | {r['still_nme']:.2f} | {r['worst_frame_ratio']:.2f} | "
            f"{r['tracked_jitter']:.3f} | {r['still_jitter']:.3f} | {r['occluded_tracked_nme']:.2f} / "
            f"{r['occluded_still_nme']:.2f} | {r['detector_frames']} | {r['fps']:.0f} | {r['fps_no_eyes']:.0f} | "
            + ("all" if all(ok.values()) else "missed: " + ", ".join(k for k, v in ok.items() if not v)) + " |")
    m = result["mean"]
    lines += ["", f"Mean over clips: tracked NME {m['tracked_nme']:.2f} vs still {m['still_nme']:.2f}; "
              f"jitter {m['tracked_jitter']:.3f} vs {m['still_jitter']:.3f}; tracker {m['fps']:.0f} fps "
              f"({m['fps_no_eyes']:.0f} without the eye stage, in turn; one 640x480 face, {result['threads']} "
              f"thread(s), median of {result['repeats']} passes, on a shared 2-core machine, load average "
              f"{result['load_average'][0]} at the start, {result['load_average'][1]} at the end).", "",
              f"Targets: tracked NME <= still NME + {TARGETS['nme_margin']} on every clip, no frame above "
              f"{TARGETS['frame_ratio']}x the still NME, jitter below the still predictions' (two "
              "flip-averaged passes per frame), >= "
              f"{TARGETS['fps']:.0f} fps. NME in %, jitter in % of the face size per frame."]
    return "\n".join(lines)


def main() -> None:
    from denseface.infer.api import DenseFace
    from denseface.infer.tracking import SmoothingConfig, TrackerConfig
    from denseface.paths import shared_root

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="registry name or model file (default: the package default)")
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--clips", nargs="*", default=None, help="only clips whose name contains one of these")
    ap.add_argument("--no-write", action="store_true", help="print only")
    ap.add_argument("--repeats", type=int, default=3, help="timed passes over each clip (median)")
    args = ap.parse_args()
    shared = shared_root()
    if shared is None:
        sys.exit("needs ../shared (or DENSEFACE_SHARED)")
    cv2.setNumThreads(args.threads)
    model = DenseFace(args.model, threads=args.threads)
    no_eyes = DenseFace(args.model, threads=args.threads, config={"eyes": False})
    load = os.getloadavg()[0]
    rows = []
    for name, path, face in clip_sources(shared):
        if args.clips and not any(c in name for c in args.clips):
            continue
        clip = make_clip(name, path, face, args.frames)
        row = evaluate_clip(model, clip, TrackerConfig(), SmoothingConfig())
        fps = tracker_fps({"fps": model, "fps_no_eyes": no_eyes}, clip, TrackerConfig(), SmoothingConfig(),
                          args.repeats)
        rows.append({**row, **fps})
        print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)
    keys = ("tracked_nme", "still_nme", "tracked_jitter", "still_jitter", "fps", "fps_no_eyes")
    result = {"model": str(args.model or "default"), "frames": args.frames, "threads": args.threads,
              "eye_stage": model.eye_stage is not None, "repeats": args.repeats,
              "load_average": [round(load, 2), round(os.getloadavg()[0], 2)],
              "clips": rows, "mean": {k: float(np.mean([r[k] for r in rows])) for k in keys},
              "targets": TARGETS, "all_met": all(all(passes(r).values()) for r in rows)}
    print(render(result))
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=1) + "\n")
        write_doc_section(DOC, "bench_video", render(result))


if __name__ == "__main__":
    main()
