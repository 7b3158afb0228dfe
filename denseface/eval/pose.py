"""Head pose on AFLW2000-3D: the protocol of HopeNet, FSA-Net, SynergyNet and 6DRepNet.

Ground truth: yaw, pitch, roll in degrees from each .mat's Pose_Para = [pitch, yaw, roll, tx,
ty, tz, s] (radians); images with any of the three angles outside +-99 degrees are left out
(FSA-Net's filter, used by SynergyNet and 6DRepNet: 1969 of 2000 images remain). Per angle the
mean absolute error (MAE) over the remaining images, and the mean of the three.

Convention (the same on both sides): 3DDFA's ``R = Rx(pitch) @ Ry(yaw) @ Rz(roll)`` of
``denseface.geometry.rotations`` (``rotation_3ddfa`` / ``euler_3ddfa``), in the y-up model
frame: yaw > 0 turns the face towards the image's left (the subject's right), pitch > 0 looks
up, roll > 0 turns it clockwise in the image. Pose_Para is defined in it; predictions are
decoded into it by ``mesh.fit.pose_from_camera`` (from an affine camera) and
``infer.pose.estimate_pose`` (from 3D points: the similarity taking the landmark set's mean
shape onto them). Decoding the ground truth's own camera with ``pose_from_camera`` returns
Pose_Para's angles (tests/test_dense_pose.py), so no sign or order is flipped anywhere.

Errors are plain ``|pred - gt|`` in degrees (HopeNet, FSA-Net, SynergyNet). 6DRepNet's test code
takes the minimum over offsets of 0, +-180 and +-360 degrees; that variant is reported too
(``wrapped``).

Methods: every denseface model through its 520 points (``estimate_pose``) and through the camera
of the BFM fitted to them (``mesh.point_fit``), the teacher 3DDFA-V2 mb05 through its camera, and
an oracle: ``estimate_pose`` of the ground-truth mesh's own 520 vertices (the error floor of the
mean-shape similarity).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..errors import DenseFaceError
from ..metrics import YAW_BIN_NAMES, bin_means, yaw_bin
from .predictions import Predictions
from .datasets import MeshPoints, gt_cameras, read_fit_params
from .dense import DenseConfig, fit_all, tta_note, load_protocol, model_predictions, predict_all, teacher_fit
from .published import PUBLISHED_POSE
from .protocol import Benchmark, add_models_args, models_config, register_benchmark
from .report import TEACHER, BenchmarkResult

#: FSA-Net's filter: images with any |angle| above this (degrees) are left out.
POSE_LIMIT_DEG = 99.0
ANGLES = ("yaw", "pitch", "roll")

@dataclass
class PoseConfig(DenseConfig):
    """DenseConfig plus: fit_pose: also score the camera of the BFM fitted to each model's 520
    points (needs the BFM); limit_deg: the angle filter."""

    fit_pose: bool = True
    limit_deg: float = POSE_LIMIT_DEG


def angles_from_pose_para(pose_para: np.ndarray) -> np.ndarray:
    """(N, 3) yaw, pitch, roll in degrees from (N, 7) Pose_Para [pitch, yaw, roll, ...] radians."""
    p = np.asarray(pose_para, np.float64).reshape(-1, 7)
    return np.degrees(np.stack([p[:, 1], p[:, 0], p[:, 2]], 1))


def angles_from_cameras(cameras: np.ndarray) -> np.ndarray:
    """(N, 3) yaw, pitch, roll (degrees) of (N, 3, 4) affine cameras (``pose_from_camera``);
    NaN rows for non-finite cameras."""
    from ..mesh.fit import pose_from_camera

    out = np.full((len(cameras), 3), np.nan)
    for i, c in enumerate(np.asarray(cameras, np.float64)):
        if np.isfinite(c).all():
            out[i] = pose_from_camera(c)
    return out


def angles_from_points(points: np.ndarray, mean_shape: np.ndarray) -> np.ndarray:
    """(N, 3) yaw, pitch, roll (degrees) of (N, K, 3) image-pixel points (``estimate_pose``)."""
    from ..infer.pose import estimate_pose

    out = np.full((len(points), 3), np.nan)
    for i, p in enumerate(points):
        q = estimate_pose(p, mean_shape)
        out[i] = (q.yaw, q.pitch, q.roll)
    return out


def pose_kept(gt_angles: np.ndarray, limit_deg: float = POSE_LIMIT_DEG) -> np.ndarray:
    """(N,) bool: all three ground-truth angles within +-limit_deg."""
    return (np.abs(np.asarray(gt_angles, np.float64)) <= limit_deg).all(1)


def angle_errors(pred: np.ndarray, gt: np.ndarray, wrapped: bool = False) -> np.ndarray:
    """(N, 3) absolute errors in degrees; ``wrapped``: the minimum over offsets of 0, +-180 and
    +-360 degrees (6DRepNet's test code)."""
    d = np.asarray(pred, np.float64) - np.asarray(gt, np.float64)
    if not wrapped:
        return np.abs(d)
    return np.min(np.abs(d[..., None] + np.array([0.0, 180.0, -180.0, 360.0, -360.0])), -1)


def summarise_errors(err: np.ndarray, kept: np.ndarray, bins: np.ndarray) -> dict:
    """MAE per angle and their mean over the kept images, and the mean MAE per yaw bin."""
    e = err[kept]
    mae = {a: float(np.nanmean(e[:, k])) for k, a in enumerate(ANGLES)}
    mae["mean"] = float(np.mean([mae[a] for a in ANGLES]))
    per_image = err.mean(1)
    mae["bins"] = dict(zip(YAW_BIN_NAMES, bin_means(np.where(kept, per_image, np.nan), bins)))
    mae["n"] = int(np.isfinite(per_image[kept]).sum())
    return mae


def pose_estimates(data, preds: dict[str, Predictions], cfg: PoseConfig, fits: dict | None,
                   fit_params: tuple[np.ndarray, np.ndarray, np.ndarray]) -> dict[str, tuple[str, np.ndarray]]:
    """{key: (title, (N, 3) yaw, pitch, roll degrees)} of every method: each model through its
    520 points and (``cfg.fit_pose``) through its point fit's camera, the teacher through its
    camera, and the oracle (the ground-truth mesh's own 520 vertices) when the BFM is here.
    ``fit_params``: the images' ground-truth fits, :func:`read_fit_params` of ``data``."""
    from ..landmarks import load_landmark_set
    from ..mesh import load_bfm

    lset = load_landmark_set()
    points = model_predictions(preds)
    estimates: dict[str, tuple[str, np.ndarray]] = {}
    for name, pts in points.items():
        estimates[f"{name}_points"] = (f"{name}: pose of its 520 points (estimate_pose)",
                                       angles_from_points(pts, lset.mean_shape))
    bfm = None
    if cfg.fit_pose and points:
        from ..mesh.point_fit import PointFitConfig, PointFitter

        bfm = load_bfm(cfg.bfm_dir or None)
        fitter = PointFitter(bfm, lset.vertex_ids, cfg.fit or PointFitConfig())
        for name, pts in points.items():
            cams = (fits or {}).get(name, (None,))[0]
            if cams is None:
                cams = fit_all(pts, fitter)[0]
            estimates[f"{name}_fit"] = (f"{name}: camera of the BFM fitted to its 520 points (point_fit)",
                                        angles_from_cameras(cams))
    teacher = teacher_fit(preds, data.boxes)
    if teacher is not None:
        estimates[TEACHER] = ("teacher 3DDFA-V2 mb05: its camera (62 parameters)",
                              angles_from_cameras(teacher[0]))
    if bfm is None:
        try:
            bfm = load_bfm(cfg.bfm_dir or None)
        except DenseFaceError:  # the oracle row needs the BFM; everything else does not
            bfm = None
    if bfm is not None:
        pose_para, shape, exp = fit_params
        g520 = MeshPoints(bfm, lset.vertex_ids).points(gt_cameras(pose_para), shape, exp)
        estimates["oracle_gt520"] = ("oracle: estimate_pose of the ground-truth mesh's 520 vertices",
                                     angles_from_points(g520, lset.mean_shape))
    return estimates


def evaluate_pose(models: list, cfg: PoseConfig | None = None, preds: dict[str, Predictions] | None = None,
                  data=None, fits: dict | None = None) -> BenchmarkResult:
    """The head-pose benchmark for ``models`` (+ the teacher unless cfg.teacher_dir is None).
    ``preds`` / ``data`` reuse a :func:`denseface.eval.dense.predict_all` run; ``fits``
    {model name: (cameras, shape, exp)} reuses point fits."""
    t0 = time.perf_counter()
    cfg = cfg or PoseConfig()
    if data is None:
        data = load_protocol(cfg)
    if preds is None:
        preds = predict_all(data, models, cfg.teacher_dir, cfg.batch, cfg.workers, cfg.threads, cfg.progress,
                            cfg.tta)
    fit_params = read_fit_params(data)
    gt = angles_from_pose_para(fit_params[0])
    kept = pose_kept(gt, cfg.limit_deg)
    bins = yaw_bin(gt[:, 0])
    estimates = pose_estimates(data, preds, cfg, fits, fit_params)
    methods, columns = {}, {"index": data.indices, "name": data.names, "kept": kept, "yaw_bin": bins,
                            "gt_yaw": gt[:, 0], "gt_pitch": gt[:, 1], "gt_roll": gt[:, 2]}
    for key, (title, ang) in estimates.items():
        err = angle_errors(ang, gt)
        methods[key] = {"title": title, **summarise_errors(err, kept, bins),
                        "wrapped": {k: v for k, v in summarise_errors(angle_errors(ang, gt, True), kept, bins).items()
                                    if k in ANGLES + ("mean",)}}
        for k, a in enumerate(ANGLES):
            columns[f"{key}_{a}"] = ang[:, k]
    report = {
        "protocol": f"AFLW2000-3D head pose: Euler angles of Pose_Para (3DDFA's R = Rx(pitch) Ry(yaw) Rz(roll)); "
                    f"images with any |angle| > {cfg.limit_deg:g} degrees left out; MAE in degrees; 3DDFA's "
                    "ground-truth crop boxes" + (f"; subset of {len(data)} images" if len(data) != 2000 else "")
                    + tta_note(cfg.tta),
        "n": int(kept.sum()), "n_images": len(data), "n_excluded": int((~kept).sum()),
        "excluded": [str(x) for x in data.names[~kept]],
        "convention": "yaw > 0: face turns to the image's left (subject's right); pitch > 0: looks up; "
                      "roll > 0: clockwise in the image; R = Rx(pitch) Ry(yaw) Rz(roll) in the y-up model frame",
        "methods": methods,
        "published": [{"method": m, "yaw": y, "pitch": p, "roll": r, "mean": mm, "protocol": s}
                      for m, y, p, r, mm, s in PoseBenchmark.published],
        "seconds": time.perf_counter() - t0,
        "per_image": "per_image.csv",
    }
    summary = [f"{m['title']}: MAE yaw {m['yaw']:.2f} pitch {m['pitch']:.2f} roll {m['roll']:.2f} "
               f"mean {m['mean']:.2f} over {m['n']} images" for m in methods.values()]
    return BenchmarkResult(report, columns, pose_markdown(report), summary=summary)


def pose_markdown(report: dict) -> str:
    from .report import fmt

    def row(name, m, bold=True):
        b = (lambda s: f"**{s}**") if bold else (lambda s: s)
        return (f"| {name} | {fmt(m['yaw'])} | {fmt(m['pitch'])} | {fmt(m['roll'])} | {b(fmt(m['mean']))} |")

    lines = [
        "# AFLW2000-3D head pose", "",
        f"Protocol: {report['protocol']}.", "",
        f"Images scored: {report['n']} of {report['n_images']} ({report['n_excluded']} left out by the "
        "angle filter). Convention: " + report["convention"] + ".", "",
        "| method | yaw | pitch | roll | mean MAE |", "|---|---|---|---|---|",
        *[row(m["title"], m) for m in report["methods"].values()],
        "", "Published (each with its own crop protocol, see below):", "",
        "| method | yaw | pitch | roll | mean MAE |", "|---|---|---|---|---|",
        *[row(p["method"], p, bold=False) for p in report["published"]],
        "", "## Mean MAE by |yaw| bin (degrees)", "",
        "| method | 0–30 | 30–60 | 60–90 | images |", "|---|---|---|---|---|",
        *[f"| {m['title']} | " + " | ".join(fmt(m["bins"][b]) for b in YAW_BIN_NAMES) + f" | {m['n']} |"
          for m in report["methods"].values()],
        "", "## With 6DRepNet's wrapped errors (min over 0, ±180, ±360° offsets)", "",
        "| method | yaw | pitch | roll | mean MAE |", "|---|---|---|---|---|",
        *[row(m["title"], m["wrapped"], bold=False) for m in report["methods"].values()],
        "", "## Crop protocols of the published figures", "",
        *[f"- **{p['method']}**: {p['protocol']}." for p in report["published"]],
        "", "Ours and the teacher's use 3DDFA's ground-truth crop boxes (√2 x the 68-point box), the "
        "crops SynergyNet and the 3DDFA-V2 figure used; HopeNet, FSA-Net and 6DRepNet crop around the 21 "
        "AFLW points instead, img2pose sees the whole photo. The numbers are therefore close but not "
        "strictly comparable.", "",
        f"Scoring time {report['seconds']:.0f} s (plus the predictions, when not reused). Per-image angles: "
        f"`{report['per_image']}`.", "",
    ]
    return "\n".join(lines)


@register_benchmark
class PoseBenchmark(Benchmark):
    """AFLW2000-3D head pose, models beside the teacher."""

    name = "pose"
    help = ("AFLW2000-3D head pose (yaw/pitch/roll MAE, +-99 degree filter), models beside the teacher")
    published = PUBLISHED_POSE

    def add_arguments(self, g) -> None:
        add_models_args(g)

    def run(self, args) -> BenchmarkResult:
        return evaluate_pose(args.models, models_config(args, PoseConfig))
