"""Expression coefficients (``Face.expression``) against AFLW2000-3D's own fits, and their cost.

Protocol and measures: denseface.eval.expression (per-coefficient Pearson r with the fits'
``Exp_Para[:10]``, the expression displacement error on the face region, its R^2), for
denseface's expression fit (denseface.mesh.point_fit.EXPRESSION_FIT) and, for reference, the
full mesh's fit, 3DDFA-V2 mb05's own parameters, the expression fit of the ground truth's own 520
points (the fitter's control) and the neutral face. Cost: ``DenseFace.predict`` on the same
photos, and the expression fit on its faces, in turn in this run (ms per face and the ratio).

The expression fit's shape prior was chosen on aflw_pl val (1,000 held-out crops whose fits are
3DDFA-V2 mb05's), by the displacement error: the sweep (``--sweep``, the default) is in the
result file and the docs.

    python benchmarks/bench_expression.py [--limit N] [--model M]

Writes benchmarks/results/expression.json and the expression section of docs/predict.md. Needs
the shared data (AFLW2000-3D, the BFM, 3DDFA-V2 mb05).
"""
from __future__ import annotations

import argparse
import datetime
import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from denseface import DenseFace  # noqa: E402
from denseface.eval.datasets import MeshPoints, face_region_vertices, gt_cameras, read_fit_params  # noqa: E402
from denseface.eval.dense import DenseConfig, fit_all, load_protocol, predict_all, teacher_fit  # noqa: E402
from denseface.eval.expression import eye_corner_distance, expression_gram, score_expressions  # noqa: E402
from denseface.eval.predictors import model_name  # noqa: E402
from denseface.eval.report import clean, write_doc_section  # noqa: E402
from denseface.landmarks import load_landmark_set  # noqa: E402
from denseface.mesh import load_bfm  # noqa: E402
from denseface.mesh.point_fit import EXPRESSION_FIT, PointFitConfig, point_fitter  # noqa: E402
from denseface.mesh.readers import read_fit_table  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "expression.json"
DOC = ROOT / "docs" / "predict.md"
#: The expression fit's priors tried on aflw_pl val, (expression, shape) (the default fit's: 0.1, 0.1).
SWEEP_PRIORS, SWEEP_SHAPE_PRIORS = (0.1, 1.0, 3.0, 10.0, 30.0, 100.0), (0.1, 10.0, 30.0, 100.0, 300.0)
LABELS = {"denseface": "denseface `Face.expression` (the expression fit to the 520 points)",
          "denseface_mesh_fit": "denseface, the full mesh's fit (free identity), for reference",
          "teacher": "3DDFA-V2 mb05, its own 10 parameters",
          "gt_points_fit": "control: the expression fit on the ground truth's own 520 points",
          "neutral": "neutral face (all 0)"}


def cost(paths: list[Path], repeats: int = 3) -> dict:
    """ms per face of ``DenseFace.predict`` (default settings) and of the expression fit it adds
    with ``config.expression`` (``DenseFace.with_fits`` on the same faces), timed in turn on the
    same photos in this run."""
    from denseface.io.images import read_image

    images = [read_image(p) for p in paths]
    model = DenseFace(config={"expression": True})
    plain = DenseFace()
    model.with_fits(plain.predict_array(images[0]))     # warm up (sessions, BFM, the fitter's moments)
    spent, fit_spent, n = 0.0, 0.0, 0
    for _ in range(repeats):
        for img in images:
            t0 = time.perf_counter()
            faces = plain.predict_array(img)
            t1 = time.perf_counter()
            model.with_fits(faces)
            spent, fit_spent, n = spent + t1 - t0, fit_spent + time.perf_counter() - t1, n + len(faces)
    predict_ms, fit_ms = 1000.0 * spent / max(n, 1), 1000.0 * fit_spent / max(n, 1)
    return {"photos": len(images), "repeats": repeats, "faces": n, "predict_ms_per_face": predict_ms,
            "fit_ms_per_face": fit_ms, "ratio": fit_ms / predict_ms}


def sweep(model, gram: np.ndarray, n_vertices: int, norm: float, bfm, lset) -> dict:
    """The expression fit's priors on aflw_pl val: each pair's scores against the val fits
    (3DDFA-V2 mb05's), the model's 520 points predicted on the 120-px crops (the crop is the
    training crop)."""
    from denseface.eval.predictors import open_predictor
    from denseface.io.images import read_image, to_rgb
    from denseface.paths import shared_path

    folder = shared_path("data", "aflw_pl", "val")
    table = read_fit_table(folder)
    predictor = open_predictor(model, threads=1)
    points = []
    for i in range(0, len(table), 50):
        images = [to_rgb(read_image(folder / "images" / n)) for n in table.names[i:i + 50]]
        points.append(predictor.predict(images, np.array([[0.0, 0.0, *im.shape[1::-1]] for im in images])))
    points = np.concatenate(points)
    fits = {f"{p:g},{sp:g}": fit_all(points, point_fitter(bfm, lset, PointFitConfig(prior=p, shape_prior=sp)))[2]
            for p in SWEEP_PRIORS for sp in SWEEP_SHAPE_PRIORS}
    return {"n": len(table), "labels": "aflw_pl val fits (3DDFA-V2 mb05's)",
            "priors": score_expressions(fits, table.expression, gram, n_vertices, norm)}


def markdown(report: dict) -> str:
    rows = ["| method | mean r (10 coefficients) | r of the first 4 | displacement error, mean (median) "
            "| R² of the displacement |",
            "|---|---|---|---|---|"]
    for key, s in report["methods"].items():
        r = s["r"]
        first = ", ".join("-" if v is None else f"{v:.2f}" for v in r[:4])
        rmean = "-" if s["r_mean"] is None else f"{s['r_mean']:.2f}"
        rows.append(f"| {LABELS[key]} | {rmean} | {first} | {s['disp_rms_mean']:.2f} % "
                    f"({s['disp_rms_median']:.2f} %) | {s['r2']:.2f} |")
    c = report["cost"]
    return "\n".join([
        f"AFLW2000-3D, {report['n']} images ({report['protocol']}). Generated by "
        f"`benchmarks/bench_expression.py` on {report['date']} (benchmarks/results/expression.json).",
        "", *rows, "",
        "Displacement error: the RMS over the face region's vertices of the expression displacement "
        "error, in % of the mean face's outer-eye-corner distance. "
        f"Cost (same run, {c['photos']} photos x {c['repeats']}, in turn, one core): the fit adds "
        f"{c['fit_ms_per_face']:.1f} ms a face to predict's {c['predict_ms_per_face']:.1f} ms "
        f"({100 * c['ratio']:.0f} %).", "", sweep_markdown(report)])


def sweep_markdown(report: dict) -> str:
    sw = report["sweep"]["priors"]
    chosen = f"{EXPRESSION_FIT.prior:g},{EXPRESSION_FIT.shape_prior:g}"
    head = " | ".join(f"{sp:g}" for sp in SWEEP_SHAPE_PRIORS)
    rows = [f"| expression prior \\ shape prior | {head} |", "|---" * (len(SWEEP_SHAPE_PRIORS) + 1) + "|"]
    for p in SWEEP_PRIORS:
        cells = []
        for sp in SWEEP_SHAPE_PRIORS:
            key = f"{p:g},{sp:g}"
            cell = f"{sw[key]['disp_rms_mean']:.3f} %"
            cells.append(f"**{cell}** (chosen)" if key == chosen else cell)
        rows.append(f"| {p:g} | " + " | ".join(cells) + " |")
    return "\n".join([f"The expression fit's priors, chosen on {report['sweep']['labels']}, {report['sweep']['n']} "
                      "crops, by the displacement error (the full mesh's fit: 0.1 and 0.1):", "", *rows])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=0, help="evenly spaced images (0: all 2000)")
    ap.add_argument("--model", default=None, help="model (default: the package default)")
    ap.add_argument("--cost-photos", type=int, default=40)
    ap.add_argument("--no-doc", action="store_true", help="do not rewrite docs/predict.md")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    data = load_protocol(DenseConfig(limit=args.limit))
    preds = predict_all(data, [args.model], "", batch=32, workers=1, threads=1, progress=False)
    bfm, lset = load_bfm(), load_landmark_set()
    fitter = point_fitter(bfm, lset, EXPRESSION_FIT)
    pose, shape, truth = read_fit_params(data)
    points = preds[model_name(args.model)].outputs
    gt520 = MeshPoints(bfm, lset.vertex_ids).points(gt_cameras(pose), shape, truth)
    face = face_region_vertices(bfm)
    gram, norm = expression_gram(bfm, face), eye_corner_distance(bfm)
    methods = {"denseface": fit_all(points, fitter)[2],
               "denseface_mesh_fit": fit_all(points, point_fitter(bfm, lset))[2],
               "teacher": teacher_fit(preds, data.boxes)[2], "gt_points_fit": fit_all(gt520, fitter)[2],
               "neutral": np.zeros_like(truth)}
    scores = score_expressions(methods, truth, gram, len(face), norm)
    step = max(1, len(data) // args.cost_photos)
    report = {
        "protocol": "3DDFA's ground-truth crop boxes, our models flip-averaged with the eye stage as "
                    "predict runs them; ground truth Exp_Para[:10] of each image's fit",
        "n": len(data), "model": model_name(args.model), "date": datetime.date.today().isoformat(),
        "basis": "bfm_3ddfa_53215 w_exp_sim: 3DDFA's 10 expression components (first 10 of Exp_Para)",
        "normaliser": "outer-eye-corner distance of the BFM mean face (model units)",
        "eye_corner_distance": eye_corner_distance(bfm), "face_region_vertices": len(face),
        "expression_fit": {"prior": EXPRESSION_FIT.prior, "shape_prior": EXPRESSION_FIT.shape_prior},
        "methods": scores, "sweep": sweep(args.model, gram, len(face), norm, bfm, lset),
        "cost": cost([data.image_paths[i] for i in range(0, len(data), step)][:args.cost_photos]),
        "seconds": time.perf_counter() - t0}
    RESULTS.write_text(json.dumps(clean(report), indent=2) + "\n")
    text = markdown(json.loads(RESULTS.read_text()))
    print(text)
    if not args.no_doc:
        write_doc_section(DOC, "expression", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
