"""What a user would use instead, measured side by side: MediaPipe Face Mesh and dlib beside
denseface on the same images, in the same run.

    bash benchmarks/peers_env.sh                    # once: the peers' venvs, outside the checkout
    python benchmarks/peers.py                      # calibrate, aflw2000, w300, time; docs/peers.md
    python benchmarks/peers.py --parts time         # some parts only
    python benchmarks/peers.py --report-only        # docs/peers.md from benchmarks/results/peers_*.json
    python benchmarks/peers.py --mediapipe-python /opt/venvs/mediapipe/bin/python --dlib-python ...

Each peer runs in its own venv through a worker CLI (benchmarks/peer_mediapipe.py,
benchmarks/peer_dlib.py: image list in, .npz/.json out), so denseface's environment never
imports MediaPipe or dlib and neither becomes a dependency of denseface. A peer whose python is
missing or cannot import its package gives one line and is left out; the rest still runs.

Parts (results in benchmarks/results/peers_*.json; docs/peers.md is rebuilt from them):

- calibrate: each peer's own box convention, fitted on the non-test calibration photos
  (denseface.eval.calibration.calibration_images: face_landmark_samples and 300wlp_samples, never
  AFLW2000-3D) as denseface's detectors are: a median BoxToCrop from the ground-truth 68-point box
  to dlib's detector rectangle, and to the ROI that MediaPipe derives from its own 468 points.
- aflw2000: AFLW2000-3D (the test set: reported, never used to choose anything), 2000 images,
  yaw bins of denseface.eval.datasets.load_aflw2000 (3DDFA's protocol). Per method: faces found
  and the 68-point 2D NME (denseface.metrics.nme_2d: sqrt(w*h) of the ground-truth box, as
  ``denseface eval aflw2000``) on the faces it found. A face is found when one of the method's
  faces has the centre of its 68 points' box inside the ground-truth 68-point box (the nearest
  one wins). Two modes per method: its own detector, and the ground-truth 68-point box (denseface:
  ``predict(boxes=[box])``, read as a landmark box; dlib: the box through its calibrated mapping
  as the shape predictor's rectangle; MediaPipe: the box through its calibrated mapping as the
  ROI of its landmark model, rotated so the ground-truth outer eye corners lie level, as
  MediaPipe's own rule does).
- w300: shared/data/w300_afw_helen (1,207 real faces of AFW and HELEN, 300-W's human 68 points,
  crops 2x the face box): inter-ocular NME (outer eye corners, points 36 and 45, the 300-W
  normaliser) on the AFW faces and on all faces, overall and by part; MediaPipe with its own
  detector on the crop and given the whole crop as its ROI; dlib (trained on these images) and
  denseface for reference. Per-image MediaPipe arrays: benchmarks/results/peers_w300.npz.
- openness: eyes that close and mouths that open (benchmarks/peers_openness.py): held-out 300-W
  faces and held-out CEW closed eyes, every method with its own detector.
- video: steady video (benchmarks/peers_video.py): held-out 300-W faces as still and moving MP4
  clips; denseface's tracker beside MediaPipe Face Mesh in video mode: jitter, frame-to-frame
  motion and NME, and the same frames as photos (also docs/video.md).
- time: the same AFLW2000-3D photos for every method, each on one CPU core (the process and the
  peers' workers pinned to one core; ONNX Runtime and OpenCV 1 thread), taking turns in rounds
  of rotating order; per photo the median of repeats, per round the median over photos; ratios
  to denseface within each round, then the median over rounds.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import peers_openness
import peers_video
from denseface.eval import steady_video
from denseface.eval.calibration import calibration_images
from denseface.eval.datasets import load_aflw2000
from denseface.eval.peers import (MAX_FACES, PARTS, Peer, aflw2000_section, aflw_summary, fmt, matched,
                                  pick_face, square, time_section, w300_section, w300_summary)
from denseface.eval.report import machine
from denseface.geometry.boxes import BoxToCrop, fit_box_to_crop, landmark_bbox
from denseface.metrics import YAW_BIN_NAMES, balanced_mean, bin_means
from denseface.paths import shared_path

ROOT = Path(__file__).resolve().parents[1]

RESULTS = ROOT / "benchmarks" / "results"
DOC = ROOT / "docs" / "peers.md"
VENVS = Path(os.environ.get("PEERS_VENV_DIR", "/work/venvs"))
PEERS = ("mediapipe", "dlib")
WORKERS = {"mediapipe": ROOT / "benchmarks" / "peer_mediapipe.py", "dlib": ROOT / "benchmarks" / "peer_dlib.py"}


# ------------------------------------------------------------------------------ helpers
def write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=float))
    tmp.replace(path)


def make_peers(args, workdir: Path) -> dict[str, Peer]:
    peers = {}
    for name in PEERS:
        p = Peer(name, getattr(args, f"{name}_python"), WORKERS[name], workdir)
        if p.ok:
            peers[name] = p
        else:
            print(f"peers: {name}: left out: {p.problem}")
    return peers


def denseface_model(threads: int = 1):
    from denseface import DenseFace
    return DenseFace(threads=threads)


def ours_predict(model, paths: list[Path], boxes: np.ndarray | None, gts: list[np.ndarray]) -> np.ndarray:
    out = np.full((len(paths), 68, 3), np.nan)
    for i, path in enumerate(paths):
        faces = model.predict(str(path), boxes=None if boxes is None else [boxes[i]])
        k = pick_face([f.landmarks68 for f in faces], gts[i])
        if k is not None:
            out[i] = faces[k].landmarks68
    return out


def mediapipe_roi(mapping: BoxToCrop, gt68: np.ndarray) -> np.ndarray:
    """The ground-truth ROI for MediaPipe's landmark model: the 68-point box through MediaPipe's
    calibrated mapping, rotated so the outer eye corners (36, 45) lie level (its own rule)."""
    from peer_mediapipe import roi_from_box

    b = mapping(landmark_bbox(gt68))
    r = roi_from_box(b, gt68[36, :2], gt68[45, :2], scale=1.0)
    return r


# ------------------------------------------------------------------------------ calibrate
def part_calibrate(peers: dict[str, Peer]) -> dict:
    from denseface.paths import shared_root

    items = calibration_images(shared_root())
    paths = [a.path for a in items]
    out = {"source": "denseface.eval.calibration.calibration_images (face_landmark_samples, "
                     "300wlp_samples; not AFLW2000-3D)", "images": len(paths),
           "faces": sum(len(a.faces68) for a in items), "mappings": {}}
    for name, peer in peers.items():
        r = peer.predict(paths, "calibrate")
        gt_boxes, targets = [], []
        for i, a in enumerate(items):
            faces = [r["points68"][i, k] for k in range(MAX_FACES) if r["found"][i, k]]
            idx = [k for k in range(MAX_FACES) if r["found"][i, k]]
            for gt in a.faces68:
                k = pick_face(faces, np.asarray(gt, np.float64))
                if k is None:
                    continue
                region = r["rois"][i, idx[k]] if name == "mediapipe" else r["boxes"][i, idx[k]]
                gt_boxes.append(landmark_bbox(gt))
                targets.append(square(region) if name == "mediapipe" else region)
        m = fit_box_to_crop(np.array(gt_boxes), np.array(targets))
        out["mappings"][name] = {"scale": m.scale, "shift_x": m.shift_x, "shift_y": m.shift_y,
                                 "faces_matched": len(gt_boxes),
                                 "target": ("the ROI from MediaPipe's own 468 points (1.5x their box, square)"
                                            if name == "mediapipe" else "dlib's detector rectangle")}
        print(f"peers: calibrate {name}: {out['mappings'][name]}")
    write_json(RESULTS / "peers_calibration.json", out)
    return out


def load_mappings() -> dict[str, BoxToCrop]:
    p = RESULTS / "peers_calibration.json"
    if not p.is_file():
        return {}
    d = json.loads(p.read_text())["mappings"]
    return {k: BoxToCrop(v["scale"], v["shift_x"], v["shift_y"]) for k, v in d.items()}


# ------------------------------------------------------------------------------ aflw2000
def part_aflw2000(peers: dict[str, Peer], limit: int, workdir: Path) -> dict:
    data = load_aflw2000(shared_path("data", "aflw2000_3d"), shared_path("data", "3ddfa_test_configs"), limit)
    gts = list(data.pts68)
    gt_boxes = np.stack([landmark_bbox(g) for g in gts])
    paths = list(data.image_paths)
    maps = load_mappings()
    preds: dict[str, np.ndarray] = {}
    model = denseface_model()
    t0 = time.perf_counter()
    preds["denseface|own"] = ours_predict(model, paths, None, gts)
    preds["denseface|gt"] = ours_predict(model, paths, gt_boxes, gts)
    print(f"peers: aflw2000 denseface {time.perf_counter() - t0:.0f} s")
    for name, peer in peers.items():
        t0 = time.perf_counter()
        r = peer.predict(paths, "aflw_own")
        preds[f"{name}|own"] = matched(r["points68"], r["found"], gts)
        if name in maps:
            if name == "mediapipe":
                regions = np.stack([mediapipe_roi(maps[name], g) for g in gts])
            else:
                regions = np.stack([maps[name](b) for b in gt_boxes])
            r = peer.predict(paths, "aflw_gt", regions)
            preds[f"{name}|gt"] = matched(r["points68"], r["found"], gts)
        print(f"peers: aflw2000 {name} {time.perf_counter() - t0:.0f} s")
    rows = {k: aflw_summary(v, data) for k, v in preds.items()}
    common = {mode: np.all([r["found"] for k, r in rows.items() if k.endswith(mode)], axis=0)
              for mode in ("|own", "|gt")}
    out = {"machine": machine(), "n_images": len(data), "bin_names": list(YAW_BIN_NAMES),
           "bin_counts": [int((data.bins == b).sum()) for b in range(3)],
           "mappings": {k: dataclasses.asdict(v) for k, v in maps.items()},
           "peers": {n: p.info for n, p in peers.items()}, "missing": [n for n in PEERS if n not in peers],
           "rows": {}}
    for k, r in rows.items():
        mode = "|" + k.split("|")[1]
        nme_common = np.where(common[mode], r["nme"], np.nan)
        cb = bin_means(nme_common, data.bins)
        out["rows"][k] = {"found_pct": r["found_pct"], "found_all_pct": r["found_all_pct"],
                          "nme_bins": r["nme_bins"], "nme_balanced": r["nme_balanced"],
                          "nme_bins_common": cb, "nme_balanced_common": balanced_mean(cb),
                          "common_faces": int(common[mode].sum())}
    write_json(RESULTS / "peers_aflw2000.json", out)
    return out


# ------------------------------------------------------------------------------ w300
def part_w300(peers: dict[str, Peer], workdir: Path) -> dict:
    folder = shared_path("data", "w300_afw_helen")
    with np.load(folder / "labels.npz") as z:
        names, gt = z["names"], z["pts68"].astype(np.float64)
    paths = [folder / "images" / str(n) for n in names]
    afw = np.array([str(n).startswith("afw_") for n in names])
    sizes = []
    import cv2
    for p in paths:
        im = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        sizes.append(im.shape[:2])
    sizes = np.array(sizes, np.float64)               # (N, 2) h, w
    # the crop is 2x the longer side of the 68-point box, centred on it: the implied face box
    crop_face_box = np.stack([[w / 4 - 0.5, h / 4 - 0.5, 3 * w / 4 - 0.5, 3 * h / 4 - 0.5] for h, w in sizes])
    gts = list(gt)
    maps = load_mappings()
    preds: dict[str, np.ndarray] = {}
    model = denseface_model()
    preds["denseface|own"] = ours_predict(model, paths, None, gts)
    preds["denseface|crop"] = ours_predict(model, paths, crop_face_box, gts)
    arrays = {"names": names}
    for name, peer in peers.items():
        r = peer.predict(paths, "w300_own")
        preds[f"{name}|own"] = matched(r["points68"], r["found"], gts)
        if name == "mediapipe":
            rois = np.stack([[(w - 1) / 2, (h - 1) / 2, w, h, 0.0] for h, w in sizes])
            r = peer.predict(paths, "w300_crop", rois)
        elif name in maps:
            r = peer.predict(paths, "w300_crop", np.stack([maps[name](b) for b in crop_face_box]))
        else:
            continue
        preds[f"{name}|crop"] = matched(r["points68"], r["found"], gts)
    for k in ("mediapipe|own", "mediapipe|crop"):
        if k in preds:
            tag = k.split("|")[1]
            arrays[f"mediapipe_{tag}_pred68"] = preds[k][..., :2].astype(np.float32)
            arrays[f"mediapipe_{tag}_found"] = np.isfinite(preds[k][..., :2]).all((1, 2))
    labels = {"denseface|own": "denseface, its default detector on the crop",
              "denseface|crop": "denseface given the crop's implied square face box (the centre half of the crop)",
              "mediapipe|own": "MediaPipe Face Mesh, its own detector (BlazeFace) on the crop",
              "mediapipe|crop": "MediaPipe Face Mesh given the whole crop as its ROI (no detector)",
              "dlib|own": "dlib (trained on these images), its HOG detector on the crop",
              "dlib|crop": "dlib (trained on these images) given the crop's implied square face box "
                           "(side = the longer side of the 68-point box) through its calibrated mapping"}
    out = {"machine": machine(), "data": str(folder), "faces": len(names), "afw_faces": int(afw.sum()),
           "normaliser": "inter-ocular: distance between the outer eye corners, points 36 and 45 (0-based), the 300-W convention",
           "parts_first_last": {k: [v[0], v[1] - 1] for k, v in PARTS.items()},
           "found_rule": "a face is found when the centre of its 68 points' box lies inside the ground truth's 68-point box",
           "npz": "benchmarks/results/peers_w300.npz",
           "peers": {n: p.info for n, p in peers.items()}, "missing": [n for n in PEERS if n not in peers],
           "rows": {k: {"label": labels[k], "trained_on_these_images": k.startswith("dlib"),
                        **w300_summary(v, gt, afw)} for k, v in preds.items()}}
    np.savez_compressed(RESULTS / "peers_w300.npz", **arrays)
    write_json(RESULTS / "peers_w300.json", out)
    return out


# ------------------------------------------------------------------------------ time
def time_ours(model, paths: list[Path], repeats: int, warmup: int) -> dict:
    from denseface.infer.api import Timings
    from denseface.io.images import read_image, to_rgb

    images = [(p, to_rgb(read_image(p))) for p in paths]
    for _ in range(warmup):
        model.predict_array(images[0][1])
    rows = []
    for _, rgb in images:
        e2e, e2e_cpu, det, lmk, net, faces = [], [], [], [], [], 0
        for _ in range(repeats):
            t = Timings()
            w0, c0 = time.perf_counter(), time.process_time()
            faces = len(model.predict_array(rgb, max_faces=1, timings=t))
            w1, c1 = time.perf_counter(), time.process_time()
            e2e.append(1e3 * (w1 - w0))
            e2e_cpu.append(1e3 * (c1 - c0))
            det.append(1e3 * t.seconds["detect"])
            lmk.append(1e3 * (t.seconds["crop"] + t.seconds["network"] + t.seconds["decode"]) / max(1, faces))
            net.append(1e3 * t.seconds["network"] / max(1, faces))
        rows.append({"faces": faces, "end_to_end_ms": float(np.median(e2e)),
                     "end_to_end_cpu_ms": float(np.median(e2e_cpu)), "detect_ms": float(np.median(det)),
                     "landmarks_ms": float(np.median(lmk)), "network_ms": float(np.median(net))})
    keys = ("end_to_end_ms", "end_to_end_cpu_ms", "detect_ms", "landmarks_ms", "network_ms")
    return {"median": {k: float(np.median([r[k] for r in rows])) for k in keys}, "per_photo": rows}


def part_time(peers: dict[str, Peer], n_images: int, rounds: int, repeats: int, workdir: Path) -> dict:
    data = load_aflw2000(shared_path("data", "aflw2000_3d"), shared_path("data", "3ddfa_test_configs"), n_images)
    paths = list(data.image_paths)
    before = os.sched_getaffinity(0)
    core = sorted(before)[0]
    os.sched_setaffinity(0, {core})
    import cv2
    cv2.setNumThreads(1)
    model = denseface_model(threads=1)
    methods = ["denseface", *peers]
    per_round = []
    try:
        for r in range(rounds):
            order = methods[r % len(methods):] + methods[: r % len(methods)]
            res = {}
            for m in order:
                if m == "denseface":
                    res[m] = time_ours(model, paths, repeats, 3)["median"]
                else:
                    res[m] = peers[m].time(paths, f"time{r}", repeats, 3)["median"]
                print(f"peers: time round {r} {m}: {res[m]['end_to_end_ms']:.2f} ms")
            per_round.append({"order": order, "median": res})
    finally:
        os.sched_setaffinity(0, before)
    summary = {}
    for m in methods:
        keys = per_round[0]["median"][m].keys()
        summary[m] = {k: float(np.median([pr["median"][m][k] for pr in per_round])) for k in keys}
        for k in ("end_to_end_ms", "landmarks_ms", "detect_ms", "end_to_end_cpu_ms"):
            ratios = [pr["median"][m][k] / pr["median"]["denseface"][k] for pr in per_round
                      if pr["median"]["denseface"].get(k)]
            summary[m][f"{k}_ratio"] = float(np.median(ratios)) if ratios else None
    cfg = model.config
    out = {"machine": machine(), "core": core, "photos": len(paths),
           "photo_source": "AFLW2000-3D, evenly spaced (450 x 450, one face each)",
           "rounds": rounds, "repeats": repeats, "denseface_model": model.runner.config.name
           if hasattr(model.runner.config, "name") else str(model.runner.config.__class__.__name__),
           "denseface_config": {"passes": cfg.passes, "tta": getattr(cfg, "tta", None)},
           "peers": {n: p.info for n, p in peers.items()}, "missing": [n for n in PEERS if n not in peers],
           "per_round": per_round, "summary": summary}
    write_json(RESULTS / "peers_time.json", out)
    return out


# ------------------------------------------------------------------------------ report
#: docs/peers.md's sections in order: each from its result file, left out while that file is missing.
REPORT_SECTIONS = (("peers_aflw2000.json", aflw2000_section), ("peers_w300.json", w300_section),
                   ("peers_openness.json", lambda d: peers_openness.section(d, fmt)),
                   ("peers_video.json", lambda d: steady_video.section(d, fmt)),
                   ("peers_time.json", time_section))


def render() -> str:
    parts = ["# Peers: what a user would use instead, measured side by side", "",
             "_Generated by `python benchmarks/peers.py` (its docstring has the protocol) from "
             "`benchmarks/results/peers_*.json`; never edited by hand._", "",
             "MediaPipe Face Mesh (468 points; the 68 through the index table of "
             "[PeizhiYan/Mediapipe_2_Dlib_Landmarks](https://github.com/PeizhiYan/Mediapipe_2_Dlib_Landmarks), "
             "`mediapipe2dlib/mp2dlib.py` at commit db9e81e2, a mean of two points where it gives two) and "
             "dlib's 68-point shape predictor (`face_recognition_models` 0.3.0) run in their own venvs "
             "(`bash benchmarks/peers_env.sh`) through worker scripts (`benchmarks/peer_mediapipe.py`, "
             "`benchmarks/peer_dlib.py`), so neither is a dependency of denseface.", ""]
    for name, section in REPORT_SECTIONS:
        path = RESULTS / name
        if path.is_file():
            parts += section(json.loads(path.read_text()))
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--parts", nargs="+", default=["calibrate", "aflw2000", "w300", "openness", "video", "time"],
                    choices=["calibrate", "aflw2000", "w300", "openness", "video", "time"])
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--mediapipe-python", default=str(VENVS / "mediapipe" / "bin" / "python"))
    ap.add_argument("--dlib-python", default=str(VENVS / "dlib" / "bin" / "python"))
    ap.add_argument("--limit", type=int, default=0, help="AFLW2000-3D images (0 = all 2000)")
    ap.add_argument("--time-images", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workdir", default="", help="worker files (default: a temporary folder)")
    args = ap.parse_args(argv)
    if not args.report_only:
        with tempfile.TemporaryDirectory(prefix="denseface_peers_") as tmp:
            workdir = Path(args.workdir or tmp)
            workdir.mkdir(parents=True, exist_ok=True)
            peers = make_peers(args, workdir)
            if "calibrate" in args.parts and peers:
                part_calibrate(peers)
            if "aflw2000" in args.parts:
                part_aflw2000(peers, args.limit, workdir)
            if "w300" in args.parts:
                part_w300(peers, workdir)
            if "openness" in args.parts:
                write_json(RESULTS / "peers_openness.json",
                           {"machine": machine(), **peers_openness.part_openness(peers, pick_face)})
            if "video" in args.parts:
                write_json(RESULTS / "peers_video.json",
                           {"machine": machine(), **peers_video.part_video(peers, workdir)})
            if "time" in args.parts:
                part_time(peers, args.time_images, args.rounds, args.repeats, workdir)
    DOC.write_text(render())
    if (RESULTS / "peers_video.json").is_file():
        peers_video.write_video_doc(json.loads((RESULTS / "peers_video.json").read_text()), fmt)
    print(f"peers: wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
