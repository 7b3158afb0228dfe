"""Per-point uncertainty and face quality on AFLW2000-3D: are the sigmas calibrated, and does
``quality`` rank faces by their error?

Protocol: each image is cropped with 3DDFA's benchmark box (as ``denseface eval aflw2000``)
and goes through ``DenseFace``'s own pass loop (``run_passes``: predict's passes, flip averaging
on the last, the eye stage), so the sigmas are those a user gets. For the 68 points against the
ground truth pt3d_68 (x, y):

- **calibration:** the share of points whose error radius is within k sigma, k = 1, 2, 3,
  against what an isotropic 2D Gaussian says (39.3 %, 86.5 %, 98.9 %), over all points and by yaw
  bin;
- **ranking:** Spearman's correlation between each face's expected NME (from ``quality``) and
  its NME (2D, sqrt(w*h) of the ground-truth box, in percent), beside the same for the obvious
  baseline, the predicted |yaw|;
- **dropping faces:** the mean NME of the faces kept when the worst are dropped by quality, by
  |yaw| and by their true NME (the oracle), for kept shares from 50 % to 100 %.

AFLW2000-3D is the test set: this reports, nothing is chosen on it (the head is fitted on
aflw_pl train and its scale on aflw_pl val: denseface.train.uncertainty).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DenseFaceError
from ..metrics import YAW_BIN_NAMES, bbox_size, nme_2d
from .protocol import Benchmark, register_benchmark
from .report import BenchmarkResult, fmt

#: What an isotropic 2D Gaussian puts within k sigma: 1 - exp(-k^2 / 2).
GAUSSIAN_WITHIN = {k: 1.0 - float(np.exp(-k * k / 2.0)) for k in (1, 2, 3)}
#: Kept shares of the drop curve.
KEPT = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


@dataclass
class UncertaintyEvalConfig:
    data_dir: str = ""
    configs_dir: str = ""
    model: str | None = None
    limit: int = 0
    batch: int = 32
    threads: int | None = None


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two equal-length arrays (ties by average rank)."""
    from scipy.stats import spearmanr
    return float(spearmanr(a, b).statistic)


def within_shares(radius: np.ndarray, sigma: np.ndarray) -> dict[str, float]:
    """Share of errors within 1, 2 and 3 sigma (finite pairs)."""
    ok = np.isfinite(radius) & np.isfinite(sigma)
    return {f"within_{k}_sigma": float((radius[ok] <= k * sigma[ok]).mean()) for k in GAUSSIAN_WITHIN}


def drop_curve(nme: np.ndarray, badness: np.ndarray, kept=KEPT) -> list[float]:
    """Mean NME of the faces kept when the (1 - kept) share with the highest ``badness`` is
    dropped."""
    order = np.argsort(badness, kind="stable")
    return [float(nme[order[:max(1, int(round(k * len(nme))))]].mean()) for k in kept]


def expected_nme(quality: np.ndarray) -> np.ndarray:
    """Face.quality -> the expected NME it encodes (denseface.infer.face.face_quality)."""
    from ..infer.face import QUALITY_SCALE_NME
    return -QUALITY_SCALE_NME * np.log(np.asarray(quality, np.float64))


def predict_with_sigma(df, paths: list[Path], boxes: np.ndarray, batch: int):
    """(68 points (N, 68, 2), their sigmas (N, 68), quality (N,), predicted |yaw| (N,)) through
    ``df.run_passes`` from the given crop boxes."""
    from tqdm import tqdm

    from ..infer.api import UNCERTAINTY
    from ..io.images import read_image, to_rgb

    pts, sig, quality, yaw = [], [], [], []
    for i in tqdm(range(0, len(paths), batch), desc="uncertainty", unit="batch"):
        images = [to_rgb(read_image(p)) for p in paths[i:i + batch]]
        outputs, used = df.run_passes(images, list(boxes[i:i + batch]))
        if UNCERTAINTY not in outputs:
            raise DenseFaceError("the model has no uncertainty head (ModelConfig.head_uncertainty)")
        for k in range(len(images)):
            face = df.make_face(used[k], 1.0, {n: v[k] for n, v in outputs.items()}, used[k])
            pts.append(face.landmarks68[:, :2])
            sig.append(face.uncertainty68)
            quality.append(face.quality)
            yaw.append(abs(face.pose.as_dict()["yaw"]))
    return np.stack(pts), np.stack(sig), np.array(quality), np.array(yaw)


def evaluate_uncertainty(cfg: UncertaintyEvalConfig) -> BenchmarkResult:
    from ..infer.api import DenseFace
    from .datasets import aflw2000_paths, load_aflw2000
    from .predictors import model_name

    data = load_aflw2000(*aflw2000_paths(cfg.data_dir, cfg.configs_dir), limit=cfg.limit)
    df = DenseFace(cfg.model, threads=cfg.threads)
    pred, sigma, quality, yaw = predict_with_sigma(df, list(data.image_paths), data.boxes, cfg.batch)
    gt = data.pts68[..., :2]
    radius = np.linalg.norm(pred - gt, axis=-1)
    nme = nme_2d(pred, gt, bbox_size(gt))
    bins = data.bins
    report = {"model": model_name(cfg.model), "n": len(nme), "nme_all": float(nme.mean()),
              "gaussian": {f"within_{k}_sigma": v for k, v in GAUSSIAN_WITHIN.items()},
              **within_shares(radius, sigma),
              "bins": {YAW_BIN_NAMES[b]: within_shares(radius[bins == b], sigma[bins == b])
                       for b in range(len(YAW_BIN_NAMES))},
              "spearman_quality": spearman(expected_nme(quality), nme),
              "spearman_yaw": spearman(yaw, nme),
              "kept": list(KEPT),
              "nme_kept_by_quality": drop_curve(nme, expected_nme(quality)),
              "nme_kept_by_yaw": drop_curve(nme, yaw),
              "nme_kept_oracle": drop_curve(nme, nme)}
    columns = {"image": list(data.names), "yaw_gt": data.yaw, "nme": nme, "quality": quality,
               "expected_nme": expected_nme(quality), "yaw_pred_abs": yaw}
    return BenchmarkResult(report, columns, uncertainty_markdown(report),
                           summary=[f"{report['model']}: within 1 sigma {100 * report['within_1_sigma']:.1f} % "
                                    f"(Gaussian 39.3 %), Spearman(quality, NME) {report['spearman_quality']:.3f}"])


def uncertainty_markdown(r: dict) -> str:
    """The report's tables (docs/predict.md quotes them)."""
    g = r["gaussian"]
    rows = [("all", r)] + list(r["bins"].items())
    lines = [f"AFLW2000-3D, {r['n']} faces, model `{r['model']}`; 68 points against pt3d_68.", "",
             "| share of points within | 1 sigma | 2 sigma | 3 sigma |", "|---|---|---|---|",
             f"| isotropic 2D Gaussian | {100 * g['within_1_sigma']:.1f} % | {100 * g['within_2_sigma']:.1f} % "
             f"| {100 * g['within_3_sigma']:.1f} % |"]
    lines += [f"| {name} | {100 * s['within_1_sigma']:.1f} % | {100 * s['within_2_sigma']:.1f} % "
              f"| {100 * s['within_3_sigma']:.1f} % |" for name, s in rows]
    lines += ["", "| ranking faces by their NME | Spearman |", "|---|---|",
              f"| `quality` | {fmt(r['spearman_quality'])} |",
              f"| predicted \\|yaw\\| (baseline) | {fmt(r['spearman_yaw'])} |", "",
              "| faces kept | " + " | ".join(f"{100 * k:.0f} %" for k in r["kept"]) + " |",
              "|---|" + "---|" * len(r["kept"])]
    for label, key in (("by `quality`", "nme_kept_by_quality"), ("by predicted \\|yaw\\|", "nme_kept_by_yaw"),
                       ("by true NME (oracle)", "nme_kept_oracle")):
        lines.append(f"| NME, dropping {label} | " + " | ".join(fmt(v) for v in r[key]) + " |")
    return "\n".join(lines) + "\n"


@register_benchmark
class UncertaintyBenchmark(Benchmark):
    """AFLW2000-3D: calibration of each point's sigma and face ranking by quality."""

    name = "uncertainty"
    help = "AFLW2000-3D: are the per-point sigmas calibrated, does quality rank faces by error"

    def add_arguments(self, a) -> None:
        a.add_argument("--model", default=None, help="registry name or .onnx/.pt with the uncertainty head "
                                                     "(default: the package default model)")
        a.add_argument("--out", required=True, help="output folder (report.json, report.md, per_image.csv)")
        a.add_argument("--data", default="", help="AFLW2000-3D folder (default: shared data/aflw2000_3d)")
        a.add_argument("--configs", default="", help="3DDFA test.configs folder (default: shared copy)")
        a.add_argument("--limit", type=int, default=0, help="score this many evenly spaced images (0 = all)")
        a.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads (default: all cores)")

    def run(self, args) -> BenchmarkResult:
        return evaluate_uncertainty(UncertaintyEvalConfig(args.data, args.configs, args.model, args.limit,
                                                          threads=args.threads))
