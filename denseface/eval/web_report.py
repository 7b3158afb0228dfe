"""docs/web.md's generated section: the targets of denseface in the browser and the Markdown of
each part's figures (benchmarks/bench_web.py measures them in headless Chromium and saves them
in benchmarks/results/web.json; ``--report-only`` renders that file again)."""
from __future__ import annotations

import numpy as np

#: Eye aspect ratio below which an eye reads closed (denseface.metrics.eye_aspect_ratios).
CLOSED_EAR = 0.2
#: parity_eyes_px: with the eye stage, the pipeline's difference before it (under parity_px)
#: moves the eye patches and the eye network repeats it about twice (tests/test_web.py).
TARGETS = {"fps": 30.0, "folder_mb": 15.0, "parity_px": 0.05, "parity_eyes_px": 0.15, "parity_eyes_mean_px": 0.01,
           "live_nme_margin": 0.3, "photo_ms": 60.0,
           "first_photo_s": 1.5}

#: The profile's stages: the ONNX Runtime sessions and the JavaScript around them, from the
#: harness's nested timers (task profile: "detect" holds "detector_onnx", "network" holds
#: "network_onnx", "eyes" holds "eyes_onnx").
PROFILE_STAGES = {
    "detector (ONNX Runtime)": lambda r: r.get("detector_onnx", 0.0),
    "detection copies, decoding (JS)": lambda r: r.get("detect", 0.0) - r.get("detector_onnx", 0.0),
    "landmark network (ONNX Runtime)": lambda r: r.get("network_onnx", 0.0),
    "crops, mirrors, decoding (JS)": lambda r: r.get("network", 0.0) - r.get("network_onnx", 0.0),
    "eye stage (ONNX Runtime)": lambda r: r.get("eyes_onnx", 0.0),
    "eye patches, moves (JS)": lambda r: r.get("eyes", 0.0) - r.get("eyes_onnx", 0.0),
    "the rest (JS: boxes, pose, tracking, smoothing)":
        lambda r: r["total"] - r.get("detect", 0.0) - r.get("network", 0.0) - r.get("eyes", 0.0),
    "total": lambda r: r["total"],
}


def profile_stages(runs: list[dict]) -> dict:
    """Mean ms of each PROFILE_STAGES stage over the runs (photos or frames) of the task (means,
    so that the stages add up to the total)."""
    return {k: float(np.mean([f(r) for r in runs])) for k, f in PROFILE_STAGES.items()}


def size_lines(s: dict) -> list[str]:
    """docs/web.md: the download size (the size part's result)."""
    return [f"- **Download size** of the exported folder: **{s['bytes'] / 1e6:.1f} MB** in {s['files']} files "
            f"({s['gzip_bytes'] / 1e6:.1f} MB gzip-compressed); target <= {TARGETS['folder_mb']:.0f} MB. "
            "Largest: " + ", ".join(f"`{n}` {b / 1e6:.1f} MB" for n, b in s["largest"][:4]) + "."]


def parity_lines(p: dict) -> list[str]:
    """docs/web.md: parity with Python's ONNX Runtime (the parity part's result)."""
    from ..infer.api import PredictConfig

    default = PredictConfig().tta
    return [f"- **Parity** with Python's ONNX Runtime, {p['faces']} faces on {p['photos']} photos of "
            f"face_landmark_samples with given boxes, the eye stage on (the default): largest difference "
            f"of the 520 points **{p['flip']['max_px']:.1e} px** (tta flip{', the default' if default == 'flip' else ''}; median "
            f"{p['flip']['median_px']:.1e}), {p['none']['max_px']:.1e} px (tta none"
            f"{', the default' if default == 'none' else ''}); target < {TARGETS['parity_eyes_px']} px (the "
            f"pipeline's difference before the eye stage, under {TARGETS['parity_px']} px, moves the eye "
            "patches: the eye network repeats it about twice). Crops and eye patches are bit-identical to "
            "OpenCV's."]


def eyes_lines(v: dict) -> list[str]:
    """docs/web.md: the eye stage against Python's (the eyes part's result)."""
    return [f"- **The eye stage** in the page against Python's `DenseFace()`, {len(v['faces'])} faces "
            f"(`examples/astronaut.jpg` and {v['photos'] - 1} closed-eye photos of CEW) with the boxes of "
            f"Python's faces given to both: eye points (`landmarks68_300w` 36-47) and 520 points differ by "
            f"**{v['mean_px']:.1e} px mean, {v['max_px']:.1e} px at most** (target <= "
            f"{TARGETS['parity_eyes_mean_px']} px mean, {TARGETS['parity_eyes_px']} px at most), while the "
            f"stage moves the eye points by {v['moved_px'][0]:.1f}-{v['moved_px'][1]:.1f} px; closed eyes read "
            f"closed (eye aspect ratio < {CLOSED_EAR}): Python {v['closed_read_closed']['python']}, the page "
            f"{v['closed_read_closed']['page']} of {v['closed_faces']}."]


def detector_lines(v: dict) -> list[str]:
    """docs/web.md: the page's detector against Python's (the detector part's result)."""
    return [f"- **The detector**, the page's (YuNet in ONNX Runtime Web, the cascade) against `denseface "
            f"predict`'s ({v['python_detector']}) on the {v['photos']} browser-readable photos of "
            f"face_landmark_samples: Python {v['python_boxes']} boxes, the page {v['page_boxes']}, "
            f"{v['boxes_matched']} matched; largest box difference **{100 * v['box_err_max']:.1f} %** of the box "
            f"size, largest score difference {v['score_err_max']:.3f}. Faces of predict: Python "
            f"{v['python_faces']}, the page {v['page_faces']}, **{v['found_by_both']} found by both**, "
            f"{v['page_only']} by the page alone."]


def speed_lines(s: dict) -> list[str]:
    """docs/web.md: photo and tracking speed (the speed part's result)."""
    return [f"- **Photos** (detector with the cascade, two passes, flip averaging on the last, the eye stage, after warm-up): "
            f"**{s['ms_per_photo']:.0f} ms** per photo (target <= {TARGETS['photo_ms']:.0f} ms), median over "
            + ", ".join(f"`{k}` {v['size'][0]}x{v['size'][1]} {v['ms']:.0f} ms" for k, v in s['photos'].items()) + ".",
            f"- **Tracking speed**, one 640x480 face (`{s['clip']}` clip of bench_video.py, "
            f"{s['frames']} frames decoded beforehand, tracker defaults, flip averaging on): **{s['fps']:.1f} fps** "
            f"(rounds: {', '.join(f'{v:.1f}' for v in s['fps_rounds'])})"
            + (f"; without the eye stage, in turn with those rounds, {s['fps_no_eyes']:.1f} fps (rounds: "
               f"{', '.join(f'{v:.1f}' for v in s['fps_no_eyes_rounds'])})." if s.get("fps_no_eyes") else ".")]


def demo_lines(v: dict) -> list[str]:
    """docs/web.md: the demo page as a user meets it (the demo part's result)."""
    fetched = sum(f["bytes"] or 0 for f in v["fetched"])
    return [f"- **The demo page** as a user meets it: opened, and a photo (einstein.jpg, two faces, so the "
            f"cascade searches the 640-px copy too) dropped at once: model, detector and runtime loaded "
            f"{v['ready_s']:.2f} s (the photo waiting, the page skips its blank warm-up: the photo's run is the "
            f"first), **the photo's points drawn "
            f"{v['first_photo_s']:.2f} s** after navigation (median of {len(v['first_photo'])} fresh browsers; "
            f"target <= {TARGETS['first_photo_s']} s); it fetches {len(v['fetched'])} files, "
            f"{fetched / 1e6:.1f} MB. The webcam with the fake camera at {v['camera_fps']} fps: the page shows "
            f"**{v['page_fps']:.1f} fps** with drawing (its own measurement, \"{v['page_fps_text']}\"; "
            f"{v['ms_per_frame_median']:.1f} ms per frame median, tracking and drawing; {v['frames_with_face']} "
            f"of {v['frames']} frames with the face); target >= {TARGETS['fps']:.0f} fps."]


def live_lines(v: dict) -> list[str]:
    """docs/web.md: the live webcam against ground truth (the live part's result)."""
    return [f"- **Live webcam** (fake camera playing the `{v['clip']}` clip with ground truth at its 25 fps): the "
            f"page processed {v['processed_frames']} frames, {v['frames_with_face']} with the face; tracked NME "
            f"**{v['browser_nme']:.2f}** vs Python's FaceTracker {v['python_nme']:.2f} on the whole clip "
            f"({v['python_nme_same_frames']:.2f} on the frames the page processed); target <= Python + "
            f"{TARGETS['live_nme_margin']}."]


def profile_lines(v: dict) -> list[str]:
    """docs/web.md: where the time goes, a table (the profile part's result)."""
    names = list(v["photos"])
    lines = ["", f"Where the time goes (`--parts profile`: the page's ONNX Runtime sessions and the JavaScript "
             f"around them timed; mean ms per stage over {v['repeats']} runs of each photo after a first, and "
             f"over the {v['frames']} frames of the tracking clip; each face's pose read, as the demo draws it):", "",
             "| stage | tracked frame 640x480 | " + " | ".join(f"`{n.split('/')[-1]}`" for n in names) + " |",
             "|---|---|" + "---|" * len(names)]
    for stage in PROFILE_STAGES:
        cells = [v["frame"][stage]] + [v["photos"][n]["ms"][stage] for n in names]
        label = f"**{stage}**" if stage == "total" else stage
        lines.append(f"| {label} | " + " | ".join(f"{c:.1f}" for c in cells) + " |")
    return lines


#: Each part's renderer, in the order of docs/web.md.
RENDERERS = {"size": size_lines, "parity": parity_lines, "eyes": eyes_lines, "detector": detector_lines,
             "speed": speed_lines, "demo": demo_lines, "live": live_lines, "profile": profile_lines}


def render(r: dict) -> str:
    """docs/web.md's generated section from the saved results: a line per part that ran."""
    m = r.get("machine", {})
    lines = [f"_Generated by `python benchmarks/bench_web.py` on {m.get('date', '?')} ({m.get('cpus', '?')} cores, "
             f"1-minute load average {m.get('load_average', '?')} at the start; the machine is shared), headless "
             f"{r.get('chromium', 'Chromium')}._", ""]
    for part, part_lines in RENDERERS.items():
        if part in r:
            lines += part_lines(r[part])
    return "\n".join(lines)
