"""The 300-W benchmark (``denseface eval w300``): the 68 points as people annotate them, both of
a model's 68-point conventions on the held-out photos of a human-68 folder (the 300-W faces'
folder format, denseface.data.human68), inter-ocular NME in %.

Each face is predicted by ``DenseFace`` (the code ``denseface predict`` runs) given the box of its
human 68 points, read as a landmark box (3DDFA's crop policy); ``landmarks68`` (the 3D
convention: mesh vertices, AFLW2000-3D's) and ``landmarks68_300w`` (the human convention, from
models with the second head) are scored against the human points, normalised by the distance
of the outer eye corners (300-W's normaliser), overall, by part and by subset (AFW / HELEN).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.human68 import SPLIT_SEED, VAL_FRACTION, held_out_photos, read_labels
from ..errors import ConfigError
from ..geometry.boxes import landmark_bbox
from ..io.images import read_image, to_rgb
from ..landmarks.ibug68 import GROUPS_68
from ..metrics import interocular, nme_2d, point_errors
from .protocol import Benchmark, add_tta_arg, register_benchmark
from .report import BenchmarkResult

#: The two 68-point outputs of a model (Face attributes).
CONVENTIONS = ("landmarks68", "landmarks68_300w")


@dataclass
class W300Config:
    """data_dir: a human-68 folder ("" = the shared data/w300_afw_helen); part: "val" (the
    held-out photos) or "train"; threads: ONNX Runtime threads; tta: "flip" / "none" (None =
    predict's default); limit: score this many evenly spaced faces (0 = all)."""

    data_dir: str = ""
    part: str = "val"
    threads: int | None = None
    tta: str | None = None
    limit: int = 0

    def __post_init__(self) -> None:
        if self.part not in ("val", "train"):
            raise ConfigError(f"part must be 'val' or 'train', got {self.part!r}")


def scores(pred: np.ndarray, truth: np.ndarray, subsets: dict[str, np.ndarray]) -> dict:
    """Inter-ocular NME (%) of (M, 68, >=2) predictions: mean, by part of the face (the iBUG
    groups) and by subset (boolean masks); NaN rows (no prediction) are left out and counted."""
    ok = np.isfinite(pred[..., :2]).all((1, 2))
    err = point_errors(pred, truth, interocular(truth))
    per_face = err.mean(1)
    return {"nme": float(per_face[ok].mean()), "n": int(ok.sum()),
            "parts": {k: float(err[ok][:, list(r)].mean()) for k, r in GROUPS_68.items()},
            "subsets": {k: float(np.nanmean(np.where(ok, per_face, np.nan)[m])) for k, m in subsets.items()}}


def evaluate_w300(model=None, cfg: W300Config | None = None, name: str | None = None) -> BenchmarkResult:
    """Predict the held-out faces with ``model`` (anything ``DenseFace`` takes) -> the result:
    report (model: ``name`` or the model's, split, n, :func:`scores` of each convention the
    model has), per-image NME of each, and ``arrays``: convention -> (M, 68, 2) image pixels
    (NaN where the model lacks the convention)."""
    from ..infer.api import DenseFace, PredictConfig, check_tta
    from .predictors import model_name
    from ..paths import shared_path

    cfg = cfg or W300Config()
    folder = Path(cfg.data_dir) if cfg.data_dir else shared_path("data", "w300_afw_helen")
    labels = read_labels(folder)
    held = held_out_photos(labels["source"])
    idx = np.flatnonzero(held if cfg.part == "val" else ~held)
    if cfg.limit:
        idx = idx[np.linspace(0, len(idx) - 1, min(cfg.limit, len(idx))).round().astype(int)]
    truth = labels["pts68"][idx].astype(np.float64)
    names = labels["names"][idx]
    tta = check_tta(cfg.tta)
    df = DenseFace(model, config=PredictConfig(tta=tta), threads=cfg.threads)
    pred = {c: np.full((len(idx), 68, 2), np.nan) for c in CONVENTIONS}
    for k, (face_name, pts) in enumerate(zip(names, truth)):
        image = to_rgb(read_image(folder / "images" / str(face_name)))
        face = df.predict_array(image, boxes=[landmark_bbox(pts)])[0]
        for c in CONVENTIONS:
            value = getattr(face, c)
            if value is not None:
                pred[c][k] = np.asarray(value)[:, :2]
    subsets = {s: np.array([str(n).startswith(f"{s}_") for n in names]) for s in ("afw", "helen")}
    report = {"model": name or model_name(model), "data": str(folder), "part": cfg.part,
              "split": f"held-out photos: {VAL_FRACTION:.0%} of the distinct photos, seed {SPLIT_SEED} "
                       "(denseface.data.human68.held_out_photos)",
              "tta": tta, "n": len(idx), "conventions": {}}
    columns: dict = {"face": [str(n) for n in names]}
    for c in CONVENTIONS:
        if np.isfinite(pred[c]).any():
            report["conventions"][c] = scores(pred[c], truth, subsets)
            columns[f"nme_{c}"] = nme_2d(pred[c], truth, interocular(truth)).tolist()
    summary = [f"{report['model']} {c}: inter-ocular NME {s['nme']:.3f}% over {s['n']} faces"
               for c, s in report["conventions"].items()]
    arrays = {c: v for c, v in pred.items() if np.isfinite(v).any()}
    return BenchmarkResult(report, columns, w300_markdown(report), arrays, summary=summary)


def w300_markdown(report: dict) -> str:
    """report.md of :func:`evaluate_w300`."""
    lines = [f"# {report['model']}: the 68 points on {report['n']} held-out faces of 300-W", "",
             f"Data: `{report['data']}`, {report['part']} part ({report['split']}); flip averaging: "
             f"{report['tta']}. Inter-ocular NME (%), the faces' human-68 boxes as user boxes.", "",
             "| convention | NME | " + " | ".join(GROUPS_68) + " | AFW | HELEN |",
             "|---|---|" + "---|" * (len(GROUPS_68) + 2)]
    for c, s in report["conventions"].items():
        lines.append(f"| `{c}` | **{s['nme']:.2f}** | " + " | ".join(f"{s['parts'][k]:.2f}" for k in GROUPS_68)
                     + " | " + " | ".join(f"{s['subsets'][k]:.2f}" for k in ("afw", "helen")) + " |")
    return "\n".join(lines) + "\n"


@register_benchmark
class W300Benchmark(Benchmark):
    """300-W's held-out faces, both 68-point conventions, inter-ocular NME."""

    name = "w300"
    help = ("the 68 points as people annotate them (300-W): both conventions on the held-out photos "
            "of a human-68 folder, inter-ocular NME")

    def add_arguments(self, w) -> None:
        w.add_argument("--model", default=None, help="registry name, .onnx or .pt (default: the package default)")
        w.add_argument("--out", required=True, help="output folder (report.json, report.md, per_image.csv)")
        w.add_argument("--data", default="", help="human-68 folder (default: shared data/w300_afw_helen)")
        w.add_argument("--part", choices=("val", "train"), default="val",
                       help="val: the held-out photos (default); train: the rest")
        w.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads")
        w.add_argument("--limit", type=int, default=0, help="score this many evenly spaced faces (0 = all)")
        add_tta_arg(w)

    def run(self, args) -> BenchmarkResult:
        return evaluate_w300(args.model, W300Config(args.data, args.part, args.threads, args.tta, args.limit))
