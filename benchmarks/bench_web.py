"""denseface in the browser: calibration of BlazeFace, its detection rates on AFLW2000-3D, and the
figures of docs/web.md (speed, download size, parity with Python, tracking against ground truth).

    python benchmarks/bench_web.py --calibrate          # BlazeFace box -> crop, non-test photos
    python benchmarks/bench_web.py --parts aflw2000      # both BlazeFace models on AFLW2000-3D
    python benchmarks/bench_web.py                       # size, parity, speed, live tracking
    python benchmarks/bench_web.py --report-only         # docs/web.md from the saved results

Everything runs in headless Chromium (Debian's ``chromium``) through web/tests/browser/harness.mjs
on the folder that ``denseface export --format web`` writes; needs ``npm ci`` in web/ and the
shared data (../shared or $DENSEFACE_SHARED).

- calibrate: BlazeFace short- and full-range on the 68-point ground truth of
  shared/data/face_landmark_samples and shared/data/300wlp_samples (never AFLW2000-3D; every
  photo handed to the browser as a lossless PNG of the pixels Python decodes), matched and fitted
  exactly as ``benchmarks/compare_detectors.py --calibrate`` does for the Python detectors
  (denseface.eval.calibration); the mappings go into denseface/infer/detectors/data/
  crop_mappings.json beside theirs, the details into benchmarks/results/calibration_web.json.
- aflw2000: both models on all 2000 AFLW2000-3D images, in compare_detectors.py's result format
  (benchmarks/results/aflw2000_det_blazeface_*.json), so docs/detectors.md's table lists them
  beside the Python detectors (run ``compare_detectors.py --report-only``).
- size: the exported folder's bytes (and gzip-compressed, as a server would send them).
- parity: the browser's 520 points against Python's ONNX Runtime with the same given boxes.
- speed: frames per second of the tracker on a 640x480 clip (bench_video.py's moving face, one
  face) and ms per photo (detector + two passes), in headless Chromium on this machine.
- live: the demo page's webcam with Chromium's fake camera playing the clip (.y4m, the frame
  number written as a barcode in its corner): NME of the page's tracked 68 points against the
  clip's ground truth, beside Python's FaceTracker on the same frames.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.compare_detectors import machine  # noqa: E402

HARNESS = ROOT / "web" / "tests" / "browser" / "harness.mjs"
RESULTS = ROOT / "benchmarks" / "results"
DOC = ROOT / "docs" / "web.md"
BROWSER_DETECTORS = ("blazeface_short", "blazeface_full")
TARGETS = {"fps": 30.0, "folder_mb": 25.0, "parity_px": 0.05, "live_nme_margin": 0.3}
#: The frame number in the clip's top-left corner: BITS white/black cells of CELL px, from (X0, Y0).
BARCODE = {"bits": 8, "cell": 16, "x0": 8, "y0": 8}
LIVE_CLIP = "eos_lfpw/image_0010"


# ------------------------------------------------------------------------------------ running
def run_harness(site: Path, task: str, payload: dict, files: Path | None = None,
                fixtures: Path | None = None, timeout: float = 600) -> dict:
    """Run one task of web/tests/browser/harness.mjs; its result (raises with its stderr)."""
    with tempfile.TemporaryDirectory(prefix="denseface-web-") as tmp:
        inp, out = Path(tmp) / "input.json", Path(tmp) / "result.json"
        inp.write_text(json.dumps(payload))
        cmd = ["node", str(HARNESS), "--site", str(site), "--task", task, "--input", str(inp), "--out", str(out)]
        if files:
            cmd += ["--files", str(files)]
        if fixtures:
            cmd += ["--fixtures", str(fixtures)]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0 or not out.exists():
            raise RuntimeError(f"harness task {task} failed ({r.returncode}): {r.stderr.strip()[-2000:]}")
        return json.loads(out.read_text())


def export_site(folder: Path, model: str | None = None) -> dict:
    from denseface.export.web import WebExportConfig, export_web

    return export_web(WebExportConfig(out=folder, model=model))


def write_png(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f"cannot write {path}")


# ------------------------------------------------------------------------------ the live clip
def draw_barcode(frame: np.ndarray, number: int) -> None:
    """The frame number as white (1) / black (0) cells in the top-left corner, in place."""
    b = BARCODE
    for k in range(b["bits"]):
        x = b["x0"] + k * b["cell"]
        frame[b["y0"]:b["y0"] + b["cell"], x:x + b["cell"]] = 255 if (number >> k) & 1 else 0


def write_y4m(path: Path, frames: np.ndarray, fps: float) -> np.ndarray:
    """RGB frames (T, H, W, 3) -> a YUV4MPEG2 file (4:2:0, BT.601 as OpenCV converts it), the
    format of Chromium's fake camera; returns the frames decoded back to RGB (what a reader of the
    file sees, to run Python on the same pixels)."""
    t, h, w = frames.shape[:3]
    back = np.empty_like(frames)
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{int(fps)}:1 Ip A1:1 C420jpeg\n".encode())
        for i, frame in enumerate(frames):
            yuv = cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420)
            f.write(b"FRAME\n")
            f.write(yuv.tobytes())
            back[i] = cv2.cvtColor(yuv, cv2.COLOR_YUV2RGB_I420)
    return back


def live_clip(shared: Path, folder: Path, frames: int = 100):
    """bench_video.py's clip of LIVE_CLIP with the barcode: (clip with the decoded frames,
    y4m path)."""
    from benchmarks.bench_video import FPS, clip_sources, make_clip

    (name, path, face), = [c for c in clip_sources(shared) if c[0] == LIVE_CLIP]
    clip = make_clip(name, path, face, frames)
    for i, f in enumerate(clip.frames):
        draw_barcode(f, i)
    folder.mkdir(parents=True, exist_ok=True)
    y4m = folder / "clip.y4m"
    clip.frames = write_y4m(y4m, clip.frames, FPS)
    return clip, y4m


def clip_scores(clip, preds: dict[int, np.ndarray | None]) -> dict:
    """Per-frame NME (%) of predicted 68 points {frame: (68, 2) or None} against the clip's
    ground truth, the occluded frames (and the two after) left out as bench_video.py does."""
    from benchmarks.bench_video import AFTER_OCCLUSION, OCCLUDED
    from denseface.metrics import bbox_size, nme_2d

    skip = set(OCCLUDED) | set(range(OCCLUDED.stop, OCCLUDED.stop + AFTER_OCCLUSION))
    norm = bbox_size(clip.gt68)
    nme, missing = {}, []
    for t, p in preds.items():
        if t in skip:
            continue
        if p is None:
            missing.append(t)
            continue
        nme[t] = float(nme_2d(p, clip.gt68[t], norm[t]))
    return {"mean": float(np.mean(list(nme.values()))) if nme else float("nan"), "frames": len(nme),
            "missing": missing, "per_frame": nme}


def python_tracked(clip, model=None) -> dict[int, np.ndarray | None]:
    """Python's FaceTracker (defaults) on the clip's frames: {frame: 68 points or None}."""
    from benchmarks.bench_video import FPS, _nearest_face
    from denseface.infer.api import DenseFace
    from denseface.infer.tracking import FaceTracker

    tracker = FaceTracker(DenseFace(model))
    out = {}
    for t, frame in enumerate(clip.frames):
        f = _nearest_face(tracker.update(frame, t / FPS), clip.gt68[t])
        out[t] = None if f is None else f.landmarks68[:, :2]
    return out


def browser_tracked(clip, frames: list[dict]) -> dict[int, np.ndarray | None]:
    """The page's frames (harness task live) -> {clip frame: the face nearest the truth}."""
    out = {}
    for fr in frames:
        t = fr["frame"]
        if not 0 <= t < len(clip.frames):
            continue
        faces = [np.asarray(f["landmarks68"])[:, :2] for f in fr["faces"]]
        out[t] = min(faces, key=lambda p: float(np.linalg.norm(p - clip.gt68[t], axis=1).mean())) if faces else None
    return out


def run_live(site: Path, shared: Path, folder: Path, frames: int = 60) -> dict:
    """The demo's webcam on the fake camera: the page's tracked NME beside Python's."""
    clip, y4m = live_clip(shared, folder)
    page = run_harness(site, "live", {"clip": str(y4m), "frames": frames, "barcode": BARCODE})
    got = browser_tracked(clip, page["result"]["frames"])
    py_pred = python_tracked(clip)
    py = clip_scores(clip, py_pred)
    br = clip_scores(clip, got)
    py_same = clip_scores(clip, {t: p for t, p in py_pred.items() if t in got})
    return {"clip": LIVE_CLIP, "processed_frames": len(page["result"]["frames"]),
            "frames_with_face": sum(bool(f["faces"]) for f in page["result"]["frames"]),
            "barcode_in_range": sum(0 <= f["frame"] < len(clip.frames) for f in page["result"]["frames"]),
            "browser_nme": br["mean"], "browser_missing": br["missing"], "python_nme": py["mean"],
            "python_nme_same_frames": py_same["mean"], "page_fps_text": page["result"]["fps"],
            "page_message": page["result"]["message"], "log": page["log"]}


# ------------------------------------------------------------------------------ calibration
def calibrate(site: Path, shared: Path, folder: Path) -> dict:
    from denseface.eval.calibration import calibration_images, fit_mapping_to_landmarks, match_detection
    from denseface.geometry.boxes import box_iou, landmark_bbox, roi_box_from_landmarks
    from denseface.infer.detectors.base import Detection
    from denseface.io.images import read_image, to_rgb

    items = calibration_images(shared)
    photos = []
    for k, a in enumerate(items):
        write_png(folder / f"{k}.png", to_rgb(read_image(a.path)))
        photos.append({"path": f"/__fixtures__/{k}.png"})
    low = 0.1   # every detection MediaPipe reports down to this score (its graph's floor is its option)
    res = run_harness(site, "detect", {"detectors": list(BROWSER_DETECTORS), "score_threshold": low, "photos": photos},
                      fixtures=folder)["result"]
    n_faces = sum(len(a.faces68) for a in items)
    out = {"n_images": len(items), "n_faces": n_faces, "machine": machine(), "detectors": {}}
    from denseface.export.web import BROWSER_DETECTOR_SCORE_THRESHOLD

    for name in BROWSER_DETECTORS:
        boxes, gts, face_scores, other = [], [], [], []
        for a, row in zip(items, res[name]):
            found = [Detection(np.array(d["box"]), d["score"]) for d in row["detections"]]
            kept = [d for d in found if d.score >= BROWSER_DETECTOR_SCORE_THRESHOLD]
            used = set()
            for p in a.faces68:
                m = match_detection(kept, p)
                if m is not None:
                    boxes.append(m.box)
                    gts.append(p)
                on_face = [i for i, d in enumerate(found) if box_iou(d.box, landmark_bbox(p)) >= 0.3]
                used.update(on_face)
                face_scores.append(round(max(found[i].score for i in on_face), 4) if on_face else None)
            other += [{"image": str(a.path.relative_to(shared)), "box": np.round(d.box, 1).tolist(),
                       "score": round(d.score, 4)} for i, d in enumerate(found) if i not in used]
        mapping = fit_mapping_to_landmarks(np.array(boxes), gts)
        ious = [box_iou(mapping(b), roi_box_from_landmarks(p)) for b, p in zip(boxes, gts)]
        out["detectors"][name] = {
            "mapping": {"scale": mapping.scale, "shift_x": mapping.shift_x, "shift_y": mapping.shift_y},
            "matched": len(boxes), "crop_iou_mean": round(float(np.mean(ious)), 4),
            "crop_iou_min": round(float(np.min(ious)), 4),
            "default_score_threshold": BROWSER_DETECTOR_SCORE_THRESHOLD, "score_floor": low,
            "face_scores": face_scores, "other_detections": other,
            "ms_median": float(np.median([r["ms"] for r in res[name]]))}
        print(f"{name}: {mapping} from {len(boxes)}/{n_faces} faces, crop IoU {np.mean(ious):.3f}", file=sys.stderr)
    write_json(RESULTS / "calibration_web.json", out)
    record_mappings(out)
    return out


def record_mappings(calibration: dict) -> None:
    """BlazeFace's mappings into the detectors' calibration file, beside the Python detectors'
    (their entries are kept), then the JavaScript package data regenerated from it."""
    from denseface.export.web import write_package_data
    from denseface.infer.detectors.base import CROP_MAPPINGS_FILE

    data = json.loads(CROP_MAPPINGS_FILE.read_text())
    for name, d in calibration["detectors"].items():
        data["mappings"][name] = {**d["mapping"], "matched_faces": d["matched"],
                                  "written_by": "python benchmarks/bench_web.py --calibrate (in headless Chromium)",
                                  "calibration_set": f"{calibration['n_images']} images, {calibration['n_faces']} faces "
                                                     "(face_landmark_samples + 300wlp_samples; no AFLW2000-3D)",
                                  "date": calibration["machine"]["date"]}
    CROP_MAPPINGS_FILE.write_text(json.dumps(data, indent=1) + "\n")
    write_package_data()


def write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")


# ------------------------------------------------------------------------------ AFLW2000-3D
def evaluate_aflw2000(site: Path, shared: Path, limit: int = 0, detectors=BROWSER_DETECTORS + ("page",)) -> None:
    """Both BlazeFace models, and the page's detector (the full-range model's faces plus the
    short-range model's others), on AFLW2000-3D, in compare_detectors.py's per-detector format."""
    from benchmarks.compare_detectors import FOUND_IOU, MATCH_IOU
    from denseface.eval.datasets import load_aflw2000
    from denseface.export.web import BROWSER_DETECTOR_SCORE_THRESHOLD
    from denseface.geometry.boxes import BoxToCrop, box_iou, landmark_bbox, roi_box_from_landmarks
    from denseface.infer.detectors.base import calibrated_crop_mapping

    data = load_aflw2000(shared / "data" / "aflw2000_3d", shared / "data" / "3ddfa_test_configs", limit)
    folder = data.image_paths[0].parent
    start = machine()
    res = run_harness(site, "detect", {"detectors": list(detectors),
                                       "score_threshold": BROWSER_DETECTOR_SCORE_THRESHOLD,
                                       "photos": [{"path": f"/__files__/{p.name}"} for p in data.image_paths],
                                       "timeout_s": 6 * 3600},
                      files=folder, timeout=6 * 3600 + 60)["result"]
    for name in detectors:
        mapping = calibrated_crop_mapping(name) or BoxToCrop(scale=1.0)
        found_iou, crop_iou, score, n_det = [], [], [], []
        for gt, row in zip(data.pts68, res[name]):
            boxes = [np.array(d["box"]) for d in row["detections"]]
            crops = [np.array(d["crop_box"]) if d.get("crop_box") else mapping(np.array(d["box"]))
                     for d in row["detections"]]
            gt_box, gt_crop = landmark_bbox(gt), roi_box_from_landmarks(gt)
            raw = [box_iou(b, gt_box) for b in boxes]
            found_iou.append(round(max(raw), 4) if raw else None)
            score.append(round(row["detections"][int(np.argmax(raw))]["score"], 4) if raw else None)
            crop_iou.append(round(max(box_iou(c, gt_crop) for c in crops), 4) if crops else None)
            n_det.append(len(boxes))
        label = "blazeface_page" if name == "page" else name
        write_json(RESULTS / f"aflw2000_det_{label}.json", {
            "detector": label, "model": None, "score_threshold": BROWSER_DETECTOR_SCORE_THRESHOLD,
            "threads": None, "images": [p.name for p in data.image_paths], "yaw": [round(float(y), 3) for y in data.yaw],
            "found": [v is not None and v >= FOUND_IOU for v in found_iou], "found_iou": found_iou, "score": score,
            "hit": [v is not None and v >= MATCH_IOU for v in crop_iou], "iou": crop_iou, "n_detections": n_det,
            "ms": [round(r["ms"], 2) for r in res[name]], "cpu_ms": [None] * len(data), "nme": {},
            "detect_max_side": None, "date": start["date"],
            "load_average": [start["load_average"], round(os.getloadavg()[0], 1)],
            "runtime": "headless Chromium (harness.mjs), MediaPipe graph on software WebGL"})


# ------------------------------------------------------------------------------ the figures
def folder_size(site: Path) -> dict:
    files = [p for p in site.rglob("*") if p.is_file()]
    raw = sum(p.stat().st_size for p in files)
    gz = sum(len(gzip.compress(p.read_bytes(), 6)) for p in files)
    biggest = sorted(((p.stat().st_size, str(p.relative_to(site))) for p in files), reverse=True)[:5]
    return {"files": len(files), "bytes": raw, "gzip_bytes": gz, "largest": [[n, b] for b, n in biggest]}


def parity(site: Path, fixtures: Path, shared: Path) -> dict:
    """Browser vs Python (tests/web_fixtures.py's photo fixtures), both tta modes."""
    fx = json.loads((fixtures / "photos" / "fixture.json").read_text())
    out = {"photos": len(fx["photos"]), "faces": sum(len(p["boxes"]) for p in fx["photos"])}
    for tta in ("flip", "none"):
        res = run_harness(site, "predict", {"detector": None, "config": {"tta": tta},
                                            "photos": [{"path": f"/__files__/{p['name']}", "boxes": p["boxes"]} for p in fx["photos"]]},
                          files=shared / "data" / "face_landmark_samples")
        errs = [float(np.abs(np.array(a["landmarks"]) - np.array(b["landmarks"])).max())
                for p, r in zip(fx["photos"], res["result"]) for a, b in zip(p["faces"][tta], r["faces"])]
        out[tta] = {"max_px": max(errs), "median_px": float(np.median(errs))}
    return out


def speed(site: Path, shared: Path, folder: Path, rounds: int = 3) -> dict:
    from benchmarks.bench_video import FPS
    from benchmarks.qualitative import PHOTOS

    clip, _ = live_clip(shared, folder)
    for i, f in enumerate(clip.frames):
        write_png(folder / "frames" / f"{i:03d}.png", f)
    photos = [p for p in PHOTOS if not p.endswith(".ppm")]
    res = run_harness(site, "throughput", {"frames": [f"/__fixtures__/frames/{i:03d}.png" for i in range(len(clip.frames))],
                                           "fps": FPS, "rounds": rounds, "photo_repeats": 3,
                                           "photos": [f"/__files__/{p}" for p in photos], "timeout_s": 1800},
                      files=shared / "data" / "face_landmark_samples", fixtures=folder, timeout=1860)["result"]
    fps = [r["frames"] / r["seconds"] for r in res["rounds"]]
    ms = [float(np.median(p["ms"])) for p in res["photos"]]
    return {"clip": LIVE_CLIP, "frames": len(clip.frames), "fps_rounds": fps, "fps": float(np.median(fps)),
            "with_face": [r["with_face"] for r in res["rounds"]],
            "photos": {p: {"ms": m, "size": [q["width"], q["height"]]} for p, m, q in zip(photos, ms, res["photos"])},
            "ms_per_photo": float(np.median(ms)), "cores": res["cores"]}


def same_faces(site: Path, shared: Path) -> dict:
    """The page's detector (default) against `denseface predict`'s on face_landmark_samples:
    faces matched by their final crops (IoU >= 0.4)."""
    from denseface.geometry.boxes import box_iou
    from denseface.infer.api import DenseFace

    root = shared / "data" / "face_landmark_samples"
    photos = sorted(p for p in root.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    res = run_harness(site, "predict", {"photos": [{"path": f"/__files__/{p.relative_to(root)}"} for p in photos]},
                      files=root)["result"]
    df = DenseFace()
    py_faces = page_faces = both = page_only = 0
    for path, r in zip(photos, res):
        py = df.predict(path)
        py_faces += len(py)
        page_faces += len(r["faces"])
        both += sum(max((box_iou(f.crop_box, b["crop_box"]) for b in r["faces"]), default=0) >= 0.4 for f in py)
        page_only += sum(max((box_iou(f.crop_box, b["crop_box"]) for f in py), default=0) < 0.4 for b in r["faces"])
    return {"photos": len(photos), "python_faces": py_faces, "page_faces": page_faces, "found_by_both": both,
            "page_only": page_only, "python_detector": df.detector.name}


def render(r: dict) -> str:
    m = r.get("machine", {})
    lines = [f"_Generated by `python benchmarks/bench_web.py` on {m.get('date', '?')} ({m.get('cpus', '?')} cores, "
             f"1-minute load average {m.get('load_average', '?')} at the start; the machine is shared), headless "
             f"{r.get('chromium', 'Chromium')}._", ""]
    if "size" in r:
        s = r["size"]
        lines += [f"- **Download size** of the exported folder: **{s['bytes'] / 1e6:.1f} MB** in {s['files']} files "
                  f"({s['gzip_bytes'] / 1e6:.1f} MB gzip-compressed); target <= {TARGETS['folder_mb']:.0f} MB. "
                  "Largest: " + ", ".join(f"`{n}` {b / 1e6:.1f} MB" for n, b in s["largest"][:4]) + "."]
    if "parity" in r:
        from denseface.infer.api import PredictConfig

        p, default = r["parity"], PredictConfig().tta
        lines += [f"- **Parity** with Python's ONNX Runtime, {p['faces']} faces on {p['photos']} photos of "
                  f"face_landmark_samples with given boxes: largest difference of the 520 points "
                  f"**{p['flip']['max_px']:.1e} px** (tta flip{', the default' if default == 'flip' else ''}; median "
                  f"{p['flip']['median_px']:.1e}), {p['none']['max_px']:.1e} px (tta none"
                  f"{', the default' if default == 'none' else ''}); target < {TARGETS['parity_px']} px. Crops are "
                  "bit-identical to OpenCV's."]
    if "speed" in r:
        s = r["speed"]
        lines += [f"- **Tracking speed**, one 640x480 face (`{s['clip']}` clip of bench_video.py, "
                  f"{s['frames']} frames, tracker defaults, flip averaging on): **{s['fps']:.1f} fps** "
                  f"(rounds: {', '.join(f'{v:.1f}' for v in s['fps_rounds'])}); target >= {TARGETS['fps']:.0f} fps.",
                  f"- **Photos** (detector, two passes, flip averaging): **{s['ms_per_photo']:.0f} ms** per photo, "
                  "median over " + ", ".join(f"`{k}` {v['size'][0]}x{v['size'][1]} {v['ms']:.0f} ms" for k, v in s['photos'].items()) + "."]
    if "live" in r:
        v = r["live"]
        lines += [f"- **Live webcam** (fake camera playing the `{v['clip']}` clip with ground truth): the page processed "
                  f"{v['processed_frames']} frames, {v['frames_with_face']} with the face; tracked NME "
                  f"**{v['browser_nme']:.2f}** vs Python's FaceTracker {v['python_nme']:.2f} on the whole clip "
                  f"({v['python_nme_same_frames']:.2f} on the frames the page processed); target <= Python + "
                  f"{TARGETS['live_nme_margin']}."]
    if "faces" in r:
        v = r["faces"]
        lines += [f"- **Faces found**, the page's detector against `denseface predict`'s ({v['python_detector']}) on the "
                  f"{v['photos']} browser-readable photos of face_landmark_samples: Python {v['python_faces']} faces, the "
                  f"page {v['page_faces']}, **{v['found_by_both']} found by both**, {v['page_only']} by the page alone "
                  "(the misses are small faces in crowds: BlazeFace sees the whole photo at 192 px)."]
    lines += detector_lines()
    return "\n".join(lines)


def detector_lines() -> list[str]:
    """BlazeFace's calibration and AFLW2000-3D rates, from their saved results."""
    lines = []
    cal = RESULTS / "calibration_web.json"
    if cal.exists():
        c = json.loads(cal.read_text())
        lines += ["", f"BlazeFace's box -> crop calibration (`--calibrate`, {c['n_images']} photos, {c['n_faces']} faces "
                  f"with 68-point ground truth, no AFLW2000-3D; {c['machine']['date']}):", "",
                  "| detector | scale | shift x | shift y | faces matched | crop IoU mean / min | ms per photo (median) |",
                  "|---|---|---|---|---|---|---|"]
        for name, d in c["detectors"].items():
            m = d["mapping"]
            lines.append(f"| {name} | {m['scale']} | {m['shift_x']} | {m['shift_y']} | {d['matched']} / {c['n_faces']} | "
                         f"{d['crop_iou_mean']:.3f} / {d['crop_iou_min']:.3f} | {d['ms_median']:.0f} |")
    rows = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("aflw2000_det_blazeface_*.json"))]
    if rows:
        from denseface.metrics import yaw_bin

        lines += ["", "BlazeFace on AFLW2000-3D (all 2000 images, in headless Chromium; found = a box with IoU >= 0.3 "
                  "with the box of the 68 ground-truth points, crop-detected = a calibrated crop with IoU >= 0.5 "
                  "with the ground-truth training crop, as docs/detectors.md counts them; the Python detectors' rows "
                  "are there):", "",
                  "| detector | found 0-30 | 30-60 | 60-90 | balanced | crop-detected balanced | ms per image (median) | date |",
                  "|---|---|---|---|---|---|---|---|"]
        names = {"blazeface_page": "the page's detector (full-range, plus the short-range model's other faces)"}
        for r in sorted(rows, key=lambda r: r["detector"] != "blazeface_page"):
            bins = yaw_bin(r["yaw"])
            found, hit = np.array(r["found"]), np.array(r["hit"])
            f = [100 * found[bins == b].mean() for b in range(3)]
            h = [100 * hit[bins == b].mean() for b in range(3)]
            lines.append(f"| {names.get(r['detector'], r['detector'])} | {f[0]:.1f}% | {f[1]:.1f}% | {f[2]:.1f}% | **{np.mean(f):.1f}%** | "
                         f"{np.mean(h):.1f}% | {np.median(r['ms']):.0f} | {r['date']} |")
    return lines


def main(argv=None) -> int:
    from denseface.paths import shared_root

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calibrate", action="store_true", help="same as --parts calibrate")
    ap.add_argument("--parts", nargs="+", default=["size", "parity", "speed", "live", "faces"],
                    choices=("calibrate", "aflw2000", "size", "parity", "speed", "live", "faces"))
    ap.add_argument("--limit", type=int, default=0, help="AFLW2000-3D: an even subset of this many images")
    ap.add_argument("--aflw-detectors", nargs="+", default=list(BROWSER_DETECTORS) + ["page"],
                    help="aflw2000: BlazeFace models and/or 'page' (the page's merged detector)")
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args(argv)
    shared = shared_root()
    if shared is None:
        ap.error("needs the shared data folder (../shared or $DENSEFACE_SHARED)")
    parts = ["calibrate"] if args.calibrate else ([] if args.report_only else args.parts)
    result_file = RESULTS / "web.json"
    result = json.loads(result_file.read_text()) if result_file.exists() else {}
    with tempfile.TemporaryDirectory(prefix="denseface-bench-web-") as tmp:
        tmp = Path(tmp)
        site = tmp / "site"
        if parts:
            export_site(site)
        if "calibrate" in parts:
            calibrate(site, shared, tmp / "calibration")
            export_site(site)   # with the new mappings
        if "aflw2000" in parts:
            evaluate_aflw2000(site, shared, args.limit, tuple(args.aflw_detectors))
        if any(p in parts for p in ("size", "parity", "speed", "live", "faces")):
            result["machine"] = machine()
        if "size" in parts:
            result["size"] = folder_size(site)
        if "parity" in parts:
            from tests.web_fixtures import write_fixtures

            write_fixtures(tmp / "fixtures", shared)
            result["parity"] = parity(site, tmp / "fixtures", shared)
        if "speed" in parts:
            result["speed"] = speed(site, shared, tmp / "speed")
        if "live" in parts:
            result["live"] = run_live(site, shared, tmp / "live")
        if "faces" in parts:
            result["faces"] = same_faces(site, shared)
        if parts:
            result["chromium"] = subprocess.run(["/usr/bin/chromium", "--version"], capture_output=True,
                                                text=True).stdout.strip().split(" built")[0]
            write_json(result_file, result)
    from denseface.eval.report import write_doc_section

    write_doc_section(DOC, "bench_web", render(result))
    print(render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
