"""Dense alignment on AFLW2000-3D: the 520 points and the full face region, by yaw bin.

Ground truth (a fit, not a scan; :mod:`denseface.eval.datasets`). Each image's .mat holds the
3DMM fit AFLW2000-3D was made from. Its Pose_Para with Shape_Para[:40] and Exp_Para[:10]
through our BFM (bfm_3ddfa_53215) gives a 53215-vertex mesh in 3DDFA's 1-based pixel frame
(``mesh.fit.fit_from_pose_para`` follows the datasets' convention, ``y = height + 1 - y``);
``datasets.gt_cameras`` shifts it by :data:`~denseface.eval.datasets.MATLAB_TO_OPENCV` into the
OpenCV 0-based frame of :class:`~denseface.eval.datasets.Aflw2000`. How close this pseudo ground
truth is to the annotation is part of every report (:func:`gt_quality`: its 68 keypoint
vertices against pt3d_68).

Point sets. *520*: the dense520 landmark set's vertices (``LandmarkSet.vertex_ids``). *Face
region*: every BFM vertex whose UV pixel (face3d/PRNet layout, ``mesh.posmap.uv_pixel_coords``)
lies inside PRNet's face mask ``uv_face_mask.png`` (= the pixels of ``face_ind.txt``): 38,191
vertices, forehead to chin, cheek to cheek, no ears or neck (``datasets.face_region_vertices``).

Metrics (as the 68-point protocol, :mod:`denseface.eval.aflw2000`): per image the mean point
distance over the set / sqrt(w*h) of the ground truth's 68-point box (pt3d_68), in %; 2D over
x, y; 3D after shifting the prediction's z so its mean over the set equals the ground truth's
(``metrics.nme_3d``). Bins by |yaw| of Pose_Para; *balanced* = mean of the 3 bin means, *all* =
mean over images. Also a literature-style 3D face-region NME (``face_3d_lit``): normalised by
sqrt(w*h) of the 2D box of the ground-truth face-region points themselves, as SADRNet's and
DSFNet's evaluation code does (see docs/evaluation.md for what else differs).

Methods scored side by side: any denseface model (its 520 points mapped back to image pixels
through the crop of 3DDFA's ground-truth box, and the full mesh fitted to them by
:mod:`denseface.mesh.point_fit`), and the teacher 3DDFA-V2 mb05 (its own 62 parameters: full
mesh and 520 points; and, as a control of the fitter, the mesh fitted to its own 520 points).
Every method is predicted by the benchmarks' one prediction path
(:func:`denseface.eval.predictions.predict_images`); the report's Markdown is
``denseface.eval.report.dense_markdown``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..errors import DenseFaceError
from ..metrics import YAW_BIN_NAMES, balanced_mean, bbox_size, bin_means, finite_mean, nme_2d, nme_3d
from .predictions import Predictions, RunConfig, predict_images
from .datasets import (Aflw2000, MeshPoints, aflw2000_paths, face_region_vertices, gt_cameras,
                       load_aflw2000, read_fit_params)
from .predictors import RunnerPredictor, TeacherPredictor, model_name
from .published import PUBLISHED_DENSE
from .protocol import Benchmark, add_models_args, models_config, register_benchmark
from .report import TEACHER, BenchmarkResult, dense_markdown

#: The teacher's input side (3DDFA-V2 mb05).
TEACHER_CROP = 120
#: Measures per method: 520 points 2D/3D, the 68 subset 2D (vs pt3d_68), face region 2D/3D and
#: the face region 3D with the literature's normaliser (titles: denseface.eval.report).
MEASURES = ("p520_2d", "p520_3d", "p68_2d", "face_2d", "face_3d", "face_3d_lit")


@dataclass
class DenseConfig:
    """data_dir / configs_dir: AFLW2000-3D and 3DDFA's arrays ("" = shared copies); bfm_dir: the
    BFM folder ("" = shared); face_mask: PRNet's uv_face_mask.png or face_ind.txt ("" = shared
    data/paper_520/uv_face_mask.png); teacher_dir: 3DDFA-V2 mb05 ("" = shared; None = no
    teacher); limit: that many evenly spaced images (0 = all); batch: images per model call;
    workers: decoding threads; threads: ONNX Runtime / torch threads; fit: the point fitter's
    settings (denseface.mesh.point_fit.PointFitConfig, None = its defaults); tta: the models'
    test-time augmentation ("flip" / "none", None = predict's default)."""

    data_dir: str = ""
    configs_dir: str = ""
    bfm_dir: str = ""
    face_mask: str = ""
    teacher_dir: str | None = ""
    limit: int = 0
    batch: int = 64
    workers: int = 2
    threads: int = 1
    progress: bool = True
    fit: object = None
    tta: str | None = None


def gt_quality(gt68: np.ndarray, pts68: np.ndarray, bins: np.ndarray) -> dict:
    """How close the fitted meshes' 68 keypoint vertices are to the annotated pt3d_68 (both in
    the OpenCV frame): NME (%) by bin, balanced / all, point distances (px), mean signed offset."""
    nme = nme_2d(gt68, pts68)
    d = np.linalg.norm(gt68[..., :2] - pts68[..., :2], axis=-1)
    b = bin_means(nme, bins)
    off = (gt68[..., :2] - pts68[..., :2]).reshape(-1, 2)
    return {"nme_2d_bins": b, "nme_2d_balanced": balanced_mean(b), "nme_2d_all": finite_mean(nme),
            "nme_3d_all": finite_mean(nme_3d(gt68, pts68)),
            "median_px": float(np.median(d)), "mean_px": float(d.mean()),
            "median_per_image_mean_px": float(np.median(d.mean(1))),
            "mean_offset_px": off.mean(0), "median_z_offset_px": float(np.median(gt68[..., 2] - pts68[..., 2]))}


# ------------------------------------------------------------------ predictions
def predict_all(data: Aflw2000, models: list, teacher_dir: str | None = "", batch: int = 64,
                workers: int = 2, threads: int = 1, progress: bool = True,
                tta: str | None = None) -> dict[str, Predictions]:
    """Run every model (registry names / ONNX or .pt paths / runners) and the teacher on the
    protocol crops, through the benchmarks' one prediction path
    (:func:`~denseface.eval.predictions.predict_images`) -> {name: Predictions}. Models:
    ``crop_image`` of 3DDFA's ground-truth box (exactly as eval.aflw2000, through
    ``infer.api.run_crops`` with ``tta``), all 520 points. Teacher (key TEACHER, unless
    ``teacher_dir`` is None): its adapter's 62 parameters (:func:`teacher_fit` maps them to
    image pixels)."""
    from ..models.runners import open_runner

    predictors = []
    for m in models:
        name = model_name(m)
        if name in (p.name for p in predictors) or name == TEACHER:
            raise DenseFaceError(f"two models are called '{name}'; rename one file")
        p = RunnerPredictor(open_runner(m, threads=threads), name, tta)
        if predictors and not np.array_equal(predictors[0].idx68, p.idx68):
            raise DenseFaceError("the models use different landmark sets; score them in separate runs")
        predictors.append(p)
    if teacher_dir is not None:
        predictors.append(TeacherPredictor(teacher_dir, threads))
    run = RunConfig(batch=batch, workers=workers, progress=progress)
    return {p.name: predict_images(data.image_paths, p, run, boxes=data.boxes,
                                   desc=f"AFLW2000-3D dense ({p.name})") for p in predictors}


def model_predictions(preds: dict[str, Predictions]) -> dict[str, np.ndarray]:
    """{model name: (N, 520, 3) image pixels} of :func:`predict_all`'s models (the teacher
    left out)."""
    return {k: p.outputs for k, p in preds.items() if k != TEACHER}


def idx68_of(preds: dict[str, Predictions]) -> np.ndarray:
    """The 68 iBUG points among the 520 (the models', else the default landmark set's)."""
    idx = next((p.idx68 for k, p in preds.items() if k != TEACHER), None)
    if idx is None:
        from ..landmarks import load_landmark_set

        idx = load_landmark_set().idx68
    return idx


def teacher_fit(preds: dict[str, Predictions], boxes: np.ndarray) -> tuple | None:
    """The teacher's mesh on the protocol images (OpenCV frame): (cameras (N, 3, 4) model ->
    image pixels, shape (N, 40), expression (N, 10)) from its 62 parameters and the crop
    ``boxes``; None without the teacher."""
    if TEACHER not in preds:
        return None
    from ..refine.teacher import cameras_from_params

    params = preds[TEACHER].outputs
    cam = _teacher_camera_to_image(cameras_from_params(params, convention="3ddfa_v2"), boxes)
    return cam, params[:, 12:52], params[:, 52:62]


def _teacher_camera_to_image(cam_crop: np.ndarray, boxes: np.ndarray, size: int = TEACHER_CROP) -> np.ndarray:
    """Teacher cameras to its 120-px crop -> cameras to image pixels through the protocol boxes
    (OpenCV frame), the mapping of eval.label_quality (points_from_crop); z scaled by the crop's
    mean linear scale sqrt(sx * sy)."""
    b = np.asarray(boxes, np.float64)
    sx, sy = (b[:, 2] - b[:, 0]) / size, (b[:, 3] - b[:, 1]) / size
    S = np.zeros((len(b), 3, 3))
    S[:, 0, 0], S[:, 1, 1], S[:, 2, 2] = sx, sy, np.sqrt(sx * sy)
    cam = np.einsum("nij,njk->nik", S, cam_crop)
    cam[:, 0, 3] += b[:, 0]
    cam[:, 1, 3] += b[:, 1]
    return cam


# ------------------------------------------------------------------ fitting and scoring
def fit_all(points: np.ndarray, fitter) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Point-fit every face: cameras (N, 3, 4), shape (N, ks), exp (N, ke), rms (N,) px; NaN rows
    for faces with non-finite points."""
    n = len(points)
    cams = np.full((n, 3, 4), np.nan)
    shape = np.full((n, fitter.n_shape), np.nan)
    exp = np.full((n, fitter.n_exp), np.nan)
    rms = np.full(n, np.nan)
    for i, p in enumerate(points):
        if not np.isfinite(p).all():
            continue
        r = fitter.fit(p)
        cams[i], shape[i], exp[i], rms[i] = r.fit.camera, r.fit.shape, r.fit.expression, r.rms_px
    return cams, shape, exp, rms


def _summary(values: np.ndarray, bins: np.ndarray) -> dict:
    b = bin_means(values, bins)
    return {"bins": b, "balanced": balanced_mean(b), "all": finite_mean(values)}


def score_dense(data: Aflw2000, bfm, preds: dict[str, Predictions], vertex_ids: np.ndarray,
                face_ids: np.ndarray, fit_config=None, chunk: int = 64,
                progress: bool = True) -> tuple[dict, dict, dict, dict]:
    """Per-image metrics of every method of :func:`predict_all` and the ground truth's quality.

    Returns (methods {label: {measure: (N,) NME %}}, gt {quality dict}, extra {per-image arrays:
    fit rms, fit seconds}, fits {model name: (cameras, shape, exp) of its point fit})."""
    from tqdm import tqdm

    from ..mesh.point_fit import PointFitConfig, PointFitter

    pose, shape, exp = read_fit_params(data)
    cams = gt_cameras(pose)
    gt68 = MeshPoints(bfm, bfm.keypoints68).points(cams, shape, exp)
    quality = gt_quality(gt68, data.pts68, data.bins)
    fitter = PointFitter(bfm, vertex_ids, fit_config or PointFitConfig())
    at520, face = MeshPoints(bfm, vertex_ids), MeshPoints(bfm, face_ids)
    n, idx68 = len(data), idx68_of(preds)
    norm = bbox_size(data.pts68)
    sources, extra, fits = _sources(preds, data, fitter, at520, chunk)
    methods = {label: {m: np.full(n, np.nan) for m in MEASURES} for label, _, _ in sources}
    for i in tqdm(range(0, n, chunk), desc="dense scoring", unit="chunk", disable=not progress):
        sl = slice(i, min(i + chunk, n))
        g520 = at520.points(cams[sl], shape[sl], exp[sl])
        gface = face.points(cams[sl], shape[sl], exp[sl])
        lit = bbox_size(gface)
        for label, pts, mesh in sources:
            r = methods[label]
            if pts is not None:
                p = pts[sl]
                r["p520_2d"][sl] = nme_2d(p, g520, norm[sl])
                r["p520_3d"][sl] = nme_3d(p, g520, norm[sl])
                r["p68_2d"][sl] = nme_2d(p[:, idx68], data.pts68[sl])
            c, s, e = (a[sl] for a in mesh)
            ok = np.isfinite(c).all((1, 2))
            if ok.any():
                pf = face.points(np.where(ok[:, None, None], c, 0.0), np.nan_to_num(s), np.nan_to_num(e))
                pf[~ok] = np.nan
                r["face_2d"][sl] = nme_2d(pf, gface, norm[sl])
                r["face_3d"][sl] = nme_3d(pf, gface, norm[sl])
                r["face_3d_lit"][sl] = nme_3d(pf, gface, lit)
    return methods, quality, extra, fits


def _sources(preds: dict[str, Predictions], data: Aflw2000, fitter, at520: MeshPoints, chunk: int):
    """The meshes each method is scored with: [(label, 520 points or None, (cams, shape, exp))],
    every model's point fit and its rms / time (extra), and the fits by model name."""
    n = len(data)
    sources, extra, fits = [], {}, {}
    for name, pts in model_predictions(preds).items():
        t0 = time.perf_counter()
        fc, fs, fe, rms = fit_all(pts, fitter)
        extra[f"{name}_fit_rms_px"] = rms
        extra[f"{name}_fit_ms"] = 1000.0 * (time.perf_counter() - t0) / max(n, 1)
        fits[name] = (fc, fs, fe)
        sources.append((name, pts, (fc, fs, fe)))
    teacher = teacher_fit(preds, data.boxes)
    if teacher is not None:
        tc, ts, te = teacher
        t520 = np.concatenate([at520.points(tc[i:i + chunk], ts[i:i + chunk], te[i:i + chunk])
                               for i in range(0, n, chunk)]) if n else np.zeros((0, len(at520.ids), 3))
        fc, fs, fe, rms = fit_all(t520, fitter)
        extra[f"{TEACHER}_fit_rms_px"] = rms
        sources.append((TEACHER, t520, (tc, ts, te)))
        sources.append((f"{TEACHER}_refit", None, (fc, fs, fe)))
    return sources, extra, fits


def evaluate_dense(models: list, cfg: DenseConfig | None = None,
                   preds: dict[str, Predictions] | None = None,
                   data: Aflw2000 | None = None) -> BenchmarkResult:
    """The whole dense benchmark for ``models`` (+ the teacher unless ``cfg.teacher_dir`` is
    None); ``preds`` / ``data`` reuse an earlier :func:`predict_all` run."""
    from ..landmarks import load_landmark_set
    from ..mesh import load_bfm

    t0 = time.perf_counter()
    cfg = cfg or DenseConfig()
    if data is None:
        data = load_protocol(cfg)
    bfm = load_bfm(cfg.bfm_dir or None)
    if preds is None:
        preds = predict_all(data, models, cfg.teacher_dir, cfg.batch, cfg.workers, cfg.threads, cfg.progress,
                            cfg.tta)
    lset = load_landmark_set()
    face_ids = face_region_vertices(bfm, cfg.face_mask or None)
    methods, quality, extra, fits = score_dense(data, bfm, preds, lset.vertex_ids, face_ids, cfg.fit,
                                                progress=cfg.progress)
    report = _dense_report(data, preds, methods, quality, extra, len(lset.vertex_ids), len(face_ids), cfg.fit)
    report["protocol"] += tta_note(cfg.tta)
    report["seconds"] = time.perf_counter() - t0
    report["predict_seconds"] = {k: p.seconds for k, p in preds.items()}
    report["per_image"] = "per_image.csv"
    columns = {"index": data.indices, "name": data.names, "yaw": data.yaw, "yaw_bin": data.bins,
               "norm_px": bbox_size(data.pts68)}
    for label, r in methods.items():
        for m, v in r.items():
            if np.isfinite(v).any():
                columns[f"{label}_{m}"] = v
    for k, v in extra.items():
        if isinstance(v, np.ndarray):
            columns[k] = v
    arrays = {"names": data.names, "idx68": idx68_of(preds)}
    for name, pts in model_predictions(preds).items():
        arrays[f"{name}_points520"] = pts.astype(np.float32)
    teacher = teacher_fit(preds, data.boxes)
    if teacher is not None:
        arrays["teacher_camera"], arrays["teacher_shape"], arrays["teacher_exp"] = (
            a.astype(np.float32) for a in teacher)
    summary = [f"{label}: balanced NME " + ", ".join(f"{m} {r[m]['balanced']:.3f}" for m in
                                                     ("p520_2d", "p520_3d", "face_2d", "face_3d") if m in r)
               for label, r in report["methods"].items()]
    return BenchmarkResult(report, columns, dense_markdown(report), arrays, summary=summary,
                           extras={"fits": fits})


def tta_note(tta: str | None) -> str:
    """The protocol's note on the models' test-time augmentation (the teacher never has any)."""
    from ..infer.config import check_tta

    return ("; our models flip-averaged, as denseface predict by default" if check_tta(tta) == "flip"
            else "; our models on the crop alone (no flip averaging)")


def _dense_report(data: Aflw2000, preds: dict[str, Predictions], methods: dict, quality: dict,
                  extra: dict, n520: int, n_face: int, fit_cfg) -> dict:
    """report.json of the dense benchmark, up to its timings."""
    if fit_cfg is None:
        from ..mesh.point_fit import PointFitConfig
        fit_cfg = PointFitConfig()
    bins = data.bins
    return {
        "protocol": "AFLW2000-3D dense alignment: 3DDFA's ground-truth crop boxes; pseudo ground truth = "
                    "each image's fitted 3DMM (Pose_Para, Shape_Para[:40], Exp_Para[:10], BFM "
                    "bfm_3ddfa_53215) in the OpenCV frame; NME % / sqrt(w*h) of the pt3d_68 box; 3D with "
                    "z mean-aligned over the set" + (f"; subset of {len(data)} images" if len(data) != 2000 else ""),
        "n": len(data), "bin_names": list(YAW_BIN_NAMES),
        "bin_counts": [int((bins == b).sum()) for b in range(3)],
        "point_sets": {"p520": f"dense520 landmark vertices ({n520})",
                       "face": f"BFM vertices inside PRNet's UV face mask ({n_face})"},
        "gt_quality": quality,
        "methods": {label: {m: _summary(v, bins) for m, v in r.items() if np.isfinite(v).any()}
                    for label, r in methods.items()},
        "models": list(model_predictions(preds)),
        "teacher": TEACHER in preds,
        "point_fit": {"prior": fit_cfg.prior, "iterations": fit_cfg.iterations, "z_weight": fit_cfg.z_weight,
                      "fit_ms_per_face": {k[:-7]: v for k, v in extra.items() if k.endswith("_fit_ms")}},
        "published": [{"method": m, "type": t, "nme": v, "source": s} for m, t, v, s in DenseBenchmark.published],
    }


def load_protocol(cfg) -> Aflw2000:
    """AFLW2000-3D with 3DDFA's arrays (``cfg.data_dir`` / ``configs_dir``, "" = the shared
    copies), ``cfg.limit`` evenly spaced images."""
    return load_aflw2000(*aflw2000_paths(cfg.data_dir, cfg.configs_dir), cfg.limit)


@register_benchmark
class DenseBenchmark(Benchmark):
    """AFLW2000-3D dense alignment, models beside the teacher."""

    name = "dense"
    help = ("AFLW2000-3D dense alignment: 520 points and the full face region (vs the fitted 3DMM), "
            "models beside the teacher")
    published = PUBLISHED_DENSE

    def add_arguments(self, f) -> None:
        add_models_args(f)
        f.add_argument("--face-mask", default="", help="PRNet's uv_face_mask.png or face_ind.txt "
                                                       "(default: shared data/paper_520/uv_face_mask.png)")

    def run(self, args) -> BenchmarkResult:
        return evaluate_dense(args.models, models_config(args, DenseConfig))
