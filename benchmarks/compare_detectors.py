"""Compare face detectors on AFLW2000-3D, and calibrate their box -> crop mappings.

    python benchmarks/compare_detectors.py --calibrate          # fit BoxToCrop on non-test data
    python benchmarks/compare_detectors.py                       # detection rate + ms, all 2000
    python benchmarks/compare_detectors.py --model M.onnx        # + downstream NME (1 and 2 passes)

Calibration uses the 68-point ground truth of shared/data/face_landmark_samples and
shared/data/300wlp_samples only (never AFLW2000-3D): for each matched detection, the target is
roi_box_from_landmarks(GT 68), the training crop policy. The printed BoxToCrop values are the
``crop_mapping`` constants in denseface/infer/detectors.py.

On AFLW2000-3D a face counts as detected when the detector's calibrated crop overlaps the
ground-truth crop (roi_box_from_landmarks of the 68 GT points) with IoU >= 0.5; the best such
detection is used downstream. Yaw bins by |yaw| of Pose_Para: [0,30], (30,60], (60,90].
NME: mean 2D distance over the 68 points / sqrt(w*h) of the GT points' box, in percent
(3DDFA protocol), over the detected faces of each bin; "GT crop" = the network on the
ground-truth crop, one pass (no detector). Results go between markers in docs/detectors.md.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from denseface.geometry.boxes import roi_box_from_landmarks  # noqa: E402
from denseface.infer.calibration import (calibration_images, fit_box_to_crop,  # noqa: E402
                                         match_detection)
from denseface.infer.detectors import box_iou, create_detector  # noqa: E402
from denseface.infer.images import detection_view, read_image  # noqa: E402
from denseface.paths import shared_root  # noqa: E402

BINS = ("0-30", "30-60", "60-90")
MATCH_IOU = 0.5


def yaw_bin(yaw_deg: float) -> int:
    a = abs(yaw_deg)
    return 0 if a <= 30 else (1 if a <= 60 else 2)


def nme68(pred: np.ndarray, gt: np.ndarray) -> float:
    """2D NME (%) of 68 points, normalised by sqrt(w*h) of the ground truth's box."""
    wh = gt[:, :2].max(0) - gt[:, :2].min(0)
    return float(100 * np.linalg.norm(pred[:, :2] - gt[:, :2], axis=1).mean() / np.sqrt(wh[0] * wh[1]))


def make_detector(name: str, yunet_model: Path | None):
    return create_detector(name, **({"model_path": str(yunet_model)} if name == "yunet" else {}))


def detect_all(det, image: np.ndarray, max_side: int):
    """Detections in image pixels, wall seconds, process CPU seconds (all threads)."""
    view, scale = detection_view(image, max_side)
    t0, c0 = time.perf_counter(), time.process_time()
    found = det.detect(view)
    return [d.scaled(1 / scale) for d in found], time.perf_counter() - t0, time.process_time() - c0


# ---------------------------------------------------------------------------------- calibrate
def calibrate(names, shared: Path, yunet_model, max_side: int) -> str:
    items = calibration_images(shared)
    n_faces = sum(len(a.faces68) for a in items)
    rows = ["| detector | matched faces | scale | shift_x | shift_y | crop IoU mean | min |",
            "|---|---|---|---|---|---|---|"]
    for name in names:
        det = make_detector(name, yunet_model)
        boxes, gts = [], []
        for a in items:
            found, _, _ = detect_all(det, read_image(a.path), max_side)
            for p in a.faces68:
                m = match_detection(found, p)
                if m is not None:
                    boxes.append(m.box)
                    gts.append(p)
        mapping = fit_box_to_crop(np.array(boxes), gts)
        ious = [box_iou(mapping(b), roi_box_from_landmarks(p)) for b, p in zip(boxes, gts)]
        print(f"{name}: {mapping} from {len(boxes)}/{n_faces} faces, crop IoU {np.mean(ious):.3f}")
        rows.append(f"| {name} | {len(boxes)}/{n_faces} | {mapping.scale} | {mapping.shift_x} | "
                    f"{mapping.shift_y} | {np.mean(ious):.3f} | {np.min(ious):.3f} |")
    return (f"Calibration set: {len(items)} images, {n_faces} faces with 68-point ground truth "
            "(face_landmark_samples + 300wlp_samples; no AFLW2000-3D).\n\n" + "\n".join(rows) + "\n")


# ---------------------------------------------------------------------------------- AFLW2000
def load_aflw2000(shared: Path, limit: int):
    from denseface.mesh.readers import read_mat

    folder = shared / "data" / "aflw2000_3d"
    images = sorted(folder.glob("image*.jpg"))
    if limit:
        images = images[:: max(1, len(images) // limit)][:limit]
    out = []
    for p in images:
        rec = read_mat(p.with_suffix(".mat"))
        out.append((p, rec.pt3d_68, float(np.degrees(rec.pose_para[1]))))
    return out


def evaluate(name: str, data, yunet_model, max_side: int, model_path: str | None,
             save=None, every: int = 100) -> dict:
    """Per-image results of one detector on ``data`` (and the downstream NME with a model);
    ``save(partial_results)`` is called every ``every`` images so a long run can be stopped."""
    from denseface.infer.detectors import crop_mapping_of

    dense = None
    if model_path:
        from denseface.infer.api import DenseFace, PredictConfig

        dense = DenseFace(model_path, config=PredictConfig(passes=1, detect_max_side=max_side), threads=1)
    det = make_detector(name, yunet_model)
    mapping = crop_mapping_of(det)
    n = len(data)
    hit, ms, cpu_ms, ious = np.zeros(n, bool), np.zeros(n), np.zeros(n), np.full(n, np.nan)
    nme = {k: np.full(n, np.nan) for k in ("pass1", "pass2", "gt_crop")}
    load_before = os.getloadavg()[0]
    t_start = time.time()
    for i, (path, gt, _) in enumerate(data):
        image = read_image(path)
        found, sec, cpu = detect_all(det, image, max_side)
        ms[i], cpu_ms[i] = 1000 * sec, 1000 * cpu
        m = match_detection(found, gt, mapping, min_iou=MATCH_IOU)
        if m is not None:
            hit[i] = True
            ious[i] = box_iou(mapping(m.box), roi_box_from_landmarks(gt))
            if dense is not None:
                for key, pred in _downstream(dense, image, mapping(m.box), gt).items():
                    nme[key][i] = nme68(pred, gt)
        if (i + 1) % every == 0 or i + 1 == n:
            print(f"{name}: {i + 1}/{n} ({time.time() - t_start:.0f} s)", file=sys.stderr, flush=True)
            if save is not None:
                save(_record(name, model_path, data[: i + 1], hit, ms, cpu_ms, ious, nme, max_side, load_before))
    return _record(name, model_path, data, hit, ms, cpu_ms, ious, nme, max_side, load_before)


def _record(name, model_path, data, hit, ms, cpu_ms, ious, nme, max_side, load_before) -> dict:
    k = len(data)

    def floats(a):
        return [None if not np.isfinite(v) else round(float(v), 4) for v in a[:k]]

    return {"detector": name, "model": Path(model_path).name if model_path else None,
            "images": [p.name for p, _, _ in data], "yaw": [float(y) for _, _, y in data],
            "hit": hit[:k].tolist(), "ms": ms[:k].round(2).tolist(), "cpu_ms": cpu_ms[:k].round(2).tolist(),
            "iou": floats(ious),
            "nme": {key: floats(a) for key, a in nme.items()},
            "detect_max_side": max_side, "date": time.strftime("%Y-%m-%d %H:%M"),
            "load_average": [round(load_before, 1), round(os.getloadavg()[0], 1)]}


def _downstream(dense, image, crop_box, gt) -> dict[str, np.ndarray]:
    """68-point predictions: detector crop (pass 1), re-cropped (pass 2), ground-truth crop."""
    from denseface.infer.api import Timings

    t = Timings()
    (p1,), _ = dense.landmarks_in_crops(image, [crop_box], t)
    (p2,), _ = dense.landmarks_in_crops(image, [dense.crop_box_from_landmarks(p1)], t)
    (pg,), _ = dense.landmarks_in_crops(image, [roi_box_from_landmarks(gt)], t)
    idx = dense.landmark_set.idx68
    return {"pass1": p1[idx], "pass2": p2[idx], "gt_crop": pg[idx]}


def _arr(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], np.float64)


def _pct(v: float) -> str:
    return f"{v:.1f}%" if np.isfinite(v) else "-"


def markdown(results: list[dict], with_nme: bool) -> str:
    """Tables from saved per-detector results (each may cover a different image count)."""
    lines = [f"Detected = calibrated crop IoU >= {MATCH_IOU} with the ground-truth crop. "
             "Bins by |yaw|; balanced = mean of the three bins. ms = detection only (wall), on the "
             "shared 2-core machine with the given 1-minute load average (other jobs running); "
             "CPU ms = process CPU time per image, all threads (less sensitive to the load).", "",
             "| detector | images (0-30/30-60/60-90) | 0-30 | 30-60 | 60-90 | all | balanced | "
             "crop IoU | ms/image mean | median | CPU ms/image | load avg | date |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        bins = np.array([yaw_bin(y) for y in r["yaw"]])
        hit = np.array(r["hit"], bool)
        ms = np.array(r["ms"])
        counts = np.bincount(bins, minlength=3)
        rates = [100 * hit[bins == b].mean() if counts[b] else float("nan") for b in range(3)]
        cpu = f"{np.mean(r['cpu_ms']):.1f}" if "cpu_ms" in r else "-"
        lines.append(f"| {r['detector']} | {len(hit)} ({counts[0]}/{counts[1]}/{counts[2]}) | "
                     f"{_pct(rates[0])} | {_pct(rates[1])} | {_pct(rates[2])} | {100 * hit.mean():.1f}% | "
                     f"{np.nanmean(rates):.1f}% | {np.nanmean(_arr(r['iou'])):.3f} | {ms.mean():.1f} | "
                     f"{np.median(ms):.1f} | {cpu} | {r['load_average'][0]}-{r['load_average'][1]} | "
                     f"{r['date']} |")
    lines.append("")
    if not with_nme:
        return "\n".join(lines) + "\n"
    lines = ["Downstream 68-point 2D NME (%) over each detector's detected faces (mean per bin; "
             "balanced = mean of bins; faces = detected images of the run, which may be an even "
             "subset of the 2000, see --limit):", "",
              "| model | detector | crop | 0-30 | 30-60 | 60-90 | balanced | faces |",
              "|---|---|---|---|---|---|---|---|"]
    for r in results:
        bins = np.array([yaw_bin(y) for y in r["yaw"]])
        for key, label in (("pass1", "detector box (1 pass)"), ("pass2", "re-cropped (2 passes)"),
                           ("gt_crop", "ground-truth crop")):
            v = _arr(r["nme"][key])
            per = [np.nanmean(v[bins == b]) if np.isfinite(v[bins == b]).any() else float("nan")
                   for b in range(3)]
            lines.append(f"| {r['model']} | {r['detector']} | {label} | {per[0]:.3f} | {per[1]:.3f} | "
                         f"{per[2]:.3f} | {np.nanmean(per):.3f} | {int(np.isfinite(v).sum())} |")
    return "\n".join(lines) + "\n"


def update_section(doc: Path, name: str, text: str) -> None:
    """Replace the text between <!-- name:start --> and <!-- name:end --> in doc (append the
    section when the markers are missing)."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    body = doc.read_text() if doc.exists() else ""
    block = f"{start}\n{text.rstrip()}\n{end}"
    if start in body and end in body:
        body = body[: body.index(start)] + block + body[body.index(end) + len(end):]
    else:
        body = body.rstrip() + "\n\n" + block + "\n"
    doc.write_text(body)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=shared_root())
    ap.add_argument("--detectors", nargs="+", default=["haar", "yunet"])
    ap.add_argument("--yunet-model", type=Path, default=None,
                    help="default: <shared>/models/yunet/face_detection_yunet.onnx")
    ap.add_argument("--detect-max-side", type=int, default=640)
    ap.add_argument("--calibrate", action="store_true", help="fit the box -> crop mappings instead")
    ap.add_argument("--model", default=None, help="also measure the downstream NME with this model")
    ap.add_argument("--section", default=None,
                    help="name of the marked section of --doc to write (default: aflw2000 / aflw2000-nme)")
    ap.add_argument("--report-only", action="store_true",
                    help="only rebuild the tables from the saved results (with --model: the NME ones)")
    ap.add_argument("--limit", type=int, default=0, help="evaluate an even subset of this many images")
    ap.add_argument("--doc", type=Path, default=ROOT / "docs" / "detectors.md")
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results",
                    help="per-detector raw results (JSON); the tables are built from all of them")
    args = ap.parse_args(argv)
    if args.shared is None:
        ap.error("no shared data folder: pass --shared")
    yunet = args.yunet_model or args.shared / "models" / "yunet" / "face_detection_yunet.onnx"
    if args.calibrate:
        text = calibrate(args.detectors, args.shared, yunet, args.detect_max_side)
        update_section(args.doc, "calibration", text)
    else:
        tag = "nme" if args.model else "det"
        args.results.mkdir(parents=True, exist_ok=True)
        data = [] if args.report_only else load_aflw2000(args.shared, args.limit)
        for name in [] if args.report_only else args.detectors:
            out = args.results / f"aflw2000_{tag}_{name}.json"
            evaluate(name, data, yunet, args.detect_max_side, args.model,
                     save=lambda r, out=out: out.write_text(json.dumps(r)))
        results = [json.loads(p.read_text()) for p in sorted(args.results.glob(f"aflw2000_{tag}_*.json"))]
        text = markdown(results, tag == "nme")
        update_section(args.doc, args.section or ("aflw2000-nme" if tag == "nme" else "aflw2000"), text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
