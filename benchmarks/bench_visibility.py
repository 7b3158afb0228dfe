"""Visibility of the 520 points (``Face.visibility``) against fits rendered with a z-buffer.

Protocol and ground truth: denseface.eval.visibility. Two data sets:

- aflw_pl val (1,000 held-out AFLW crops, the teacher's fits): where the rule was chosen. The
  model predicts each 120 px crop (its whole image is the crop box); the sweep scores every
  single pair of normal threshold and z-buffer tolerance, the normals or the z-buffer alone,
  and per-point thresholds (eval.visibility.fit_point_thresholds), cross-validated over the
  faces (fitted on one half, scored on the other). ``--write-thresholds`` fits them on all of
  val and writes the package's file (denseface.landmarks.visibility).
- AFLW2000-3D (the test set: reported, never tuned on): the model predicts in 3DDFA's
  ground-truth crop boxes as predict runs it (flip averaging, the eye stage); ``Face.visibility``
  as shipped (the package's per-point thresholds). Beside it: the same on the fits' own 520
  points (what remains with perfect points), all points called visible, the single pair, and
  the normals or the z-buffer alone.

Cost: ``face_visibility`` per face beside the pose estimate and one network pass on a face,
timed in turn in this run (ms per face and ratios).

    python benchmarks/bench_visibility.py [--limit N] [--val-limit N] [--model M] [--write-thresholds]

Writes benchmarks/results/visibility.json and the visibility section of docs/predict.md. Needs
the shared data (AFLW2000-3D, aflw_pl, the BFM).
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
from denseface.eval.predictions import RunConfig, predict_images  # noqa: E402
from denseface.eval.dense import DenseConfig, load_protocol, predict_all  # noqa: E402
from denseface.eval.predictors import RunnerPredictor, model_name  # noqa: E402
from denseface.eval.report import clean, write_doc_section  # noqa: E402
from denseface.eval.visibility import (GT_TOLERANCE, agreement, aflw2000_fits, aflw_pl_fits,  # noqa: E402
                                       cross_validated, fit_point_thresholds, fit_points,
                                       gt_visibility, landmark_triangles, predicted_visibility,
                                       visibility_features)
from denseface.geometry.visibility import FACE_TOLERANCE, FACING_MIN_NZ, face_visibility  # noqa: E402
from denseface.infer.pose import estimate_pose  # noqa: E402
from denseface.landmarks import load_landmark_set  # noqa: E402
from denseface.landmarks.visibility import save_visibility_thresholds, visibility_thresholds  # noqa: E402
from denseface.mesh import load_bfm  # noqa: E402
from denseface.models.runners import open_runner  # noqa: E402
from denseface.paths import shared_path  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "visibility.json"
DOC = ROOT / "docs" / "predict.md"
TOLERANCES = (0.0, 0.005, 0.01, 0.02, 0.05)
FACING = (-0.1, 0.0, 0.1)


def rules(nz: np.ndarray, margin: np.ndarray) -> dict[str, np.ndarray]:
    """Candidate rules by name, from the features of eval.visibility.visibility_features."""
    out = {"all visible": np.ones(nz.shape, bool),
           f"normals alone (nz > {FACING_MIN_NZ:g})": nz > FACING_MIN_NZ,
           f"z-buffer alone (tolerance {FACE_TOLERANCE:g})": margin >= -FACE_TOLERANCE}
    for tau in FACING:
        for tol in TOLERANCES:
            out[f"nz > {tau:g} and z-buffer {tol:g}"] = (nz > tau) & (margin >= -tol)
    return out


def single_rule() -> str:
    return f"nz > {FACING_MIN_NZ:g} and z-buffer {FACE_TOLERANCE:g}"


PER_POINT = "per-point thresholds (cross-validated: fitted on half the faces, scored on the other)"


def val_sweep(bfm, lset, model, limit: int, write: bool) -> dict:
    """The rule's choice on aflw_pl val: every candidate scored against the fits' z-buffer;
    with ``write``, the per-point thresholds fitted on all of val become the package's."""
    fits, paths = aflw_pl_fits(shared_path("data", "aflw_pl", "val"), limit)
    truth = gt_visibility(bfm, fits, lset.vertex_ids)
    predictor = RunnerPredictor(open_runner(model, threads=1), model_name(model))
    boxes = np.tile([0.0, 0.0, 120.0, 120.0], (len(paths), 1))
    preds = predict_images(paths, predictor, RunConfig(batch=32, workers=1, progress=False), boxes=boxes)
    tri = landmark_triangles(lset)
    nz, margin = visibility_features(preds.outputs, tri)
    scored = {name: agreement(v, truth, fits.yaw) for name, v in rules(nz, margin).items()}
    scored[PER_POINT] = agreement(cross_validated(nz, margin, truth), truth, fits.yaw)
    # the sweep's row of the single pair is exactly what face_visibility computes with it
    assert np.array_equal(rules(nz, margin)[single_rule()], predicted_visibility(preds.outputs, tri))
    if write:
        min_nz, tol = fit_point_thresholds(nz, margin, truth)
        save_visibility_thresholds(lset, min_nz, tol, f"fitted on aflw_pl val ({len(fits)} faces, model "
                                   f"{model_name(model)}) by benchmarks/bench_visibility.py")
    return {"faces": len(fits), "rules": scored}


def test_set(bfm, lset, model, limit: int) -> dict:
    """AFLW2000-3D: the chosen rule on predicted points and on the fits' own 520 points."""
    data = load_protocol(DenseConfig(limit=limit))
    fits = aflw2000_fits(data)
    truth = gt_visibility(bfm, fits, lset.vertex_ids)
    points = predict_all(data, [model], None, batch=32, workers=1, threads=1, progress=False)
    pred = points[model_name(model)].outputs
    tri = landmark_triangles(lset)
    ok = np.isfinite(pred).all((1, 2))
    nz, margin = visibility_features(pred, tri)
    gt_points = np.stack(fit_points(bfm, fits, lset.vertex_ids))
    candidates = rules(nz, margin)
    shipped = visibility_thresholds(lset)
    visible = predicted_visibility(pred, tri, shipped)
    idx68 = lset.idx68
    baselines = [*list(candidates)[:3], single_rule()]
    return {
        "faces": len(data), "predicted_faces": int(ok.sum()),
        "predicted": agreement(visible, truth, fits.yaw, ok),
        "predicted_68": agreement(visible[:, idx68], truth[:, idx68], fits.yaw, ok),
        "gt_points": agreement(predicted_visibility(gt_points, tri, shipped), truth, fits.yaw),
        "baselines": {k: agreement(candidates[k], truth, fits.yaw, ok) for k in baselines}}


def cost(model: DenseFace, repeats: int = 200) -> dict:
    """ms per face of face_visibility, of estimate_pose and of one network pass on one face (an
    AFLW2000-3D photo in its crop box), timed in turn in this run."""
    from denseface.io.images import read_image

    data = load_protocol(DenseConfig(limit=20))
    tri, (min_nz, tol) = model.mesh_triangles, visibility_thresholds(model.landmark_set)
    images = [read_image(p) for p in data.image_paths]
    points = [model.landmarks_in_crops(img, [b])[0][0] for img, b in zip(images, data.boxes)]
    spent = {"visibility": 0.0, "pose": 0.0, "network": 0.0}
    n = 0
    for _ in range(max(1, repeats // len(points))):
        for img, box, p in zip(images, data.boxes, points):
            t0 = time.perf_counter()
            face_visibility(p, tri, min_nz, tol)
            t1 = time.perf_counter()
            estimate_pose(p, model.mean_shape)
            t2 = time.perf_counter()
            model.landmarks_in_crops(img, [box])
            t3 = time.perf_counter()
            spent["visibility"] += t1 - t0
            spent["pose"] += t2 - t1
            spent["network"] += t3 - t2
            n += 1
    ms = {k: 1000.0 * v / n for k, v in spent.items()}
    return {"faces_timed": n, "ms_per_face": ms,
            "visibility_over_pose": ms["visibility"] / ms["pose"],
            "visibility_over_network": ms["visibility"] / ms["network"]}


def pct(x) -> str:
    return "-" if x is None else f"{x:.1f} %"


def markdown(r: dict) -> str:
    t, v = r["test"], r["val"]["rules"]
    best = max(v, key=lambda k: v[k]["all"]["agreement"])
    head = ["| points scored | all | 0-30° | 30-60° | 60-90° | hidden (truth / predicted) |",
            "|---|---|---|---|---|---|"]

    def row(label: str, a: dict) -> str:
        b = a["bins"]
        return (f"| {label} | **{pct(a['all']['agreement'])}** | {pct(b['0-30']['agreement'])} | "
                f"{pct(b['30-60']['agreement'])} | {pct(b['60-90']['agreement'])} | "
                f"{pct(a['all']['hidden_true'])} / {pct(a['all']['hidden_predicted'])} |")

    rows = [row(f"`Face.visibility` (per-point thresholds), {t['predicted_faces']} faces x 520 points", t["predicted"]),
            row("the same, the 68 (`visibility68`)", t["predicted_68"]),
            row("the same rule on the fits' own 520 points (perfect points)", t["gt_points"])]
    rows += [row(f"baseline: {k}" if k != r["single_rule"] else f"single pair for every point: {k}", a)
             for k, a in t["baselines"].items()]
    c = r["cost"]
    ms = c["ms_per_face"]
    return "\n".join([
        f"AFLW2000-3D, {t['faces']} images, model {r['model']} in 3DDFA's ground-truth crop boxes; "
        f"generated by `benchmarks/bench_visibility.py` on {r['date']} "
        "(benchmarks/results/visibility.json). Agreement: the share of points whose visibility "
        "equals the ground truth's (each fit's full BFM mesh z-buffered at its own pose); bins by "
        "the fit's |yaw|.", "", *head, *rows, "",
        f"Chosen on aflw_pl val ({r['val']['faces']} faces; AFLW2000-3D was not used): per-point "
        f"thresholds score {pct(v[PER_POINT]['all']['agreement'])} there on faces they were not "
        f"fitted on (60-90°: {pct(v[PER_POINT]['bins']['60-90']['agreement'])}); the best single "
        f"pair for every point, `{r['single_rule']}`, {pct(v[r['single_rule']]['all']['agreement'])}; "
        f"normals alone {pct(v[list(v)[1]]['all']['agreement'])}, the z-buffer alone "
        f"{pct(v[list(v)[2]]['all']['agreement'])}; the best of all {len(v)} candidates: `{best}`.",
        "",
        f"Cost (same run, one core, in turn): {ms['visibility']:.2f} ms a face, "
        f"{c['visibility_over_pose']:.1f}x the pose estimate ({ms['pose']:.2f} ms) and "
        f"{100 * c['visibility_over_network']:.0f} % of one network pass on the face "
        f"({ms['network']:.1f} ms)."])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=0, help="AFLW2000-3D images, evenly spaced (0: all 2000)")
    ap.add_argument("--val-limit", type=int, default=0, help="aflw_pl val faces (0: all 1000)")
    ap.add_argument("--model", default=None, help="model (default: the package default)")
    ap.add_argument("--no-doc", action="store_true", help="do not rewrite docs/predict.md")
    ap.add_argument("--write-thresholds", action="store_true",
                    help="fit the per-point thresholds on aflw_pl val and write the package's file")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    bfm, lset = load_bfm(), load_landmark_set()
    report = {"model": model_name(args.model), "date": datetime.date.today().isoformat(),
              "gt_tolerance": GT_TOLERANCE, "single_rule": single_rule(),
              "constants": {"FACE_TOLERANCE": FACE_TOLERANCE, "FACING_MIN_NZ": FACING_MIN_NZ},
              "val": val_sweep(bfm, lset, args.model, args.val_limit, args.write_thresholds),
              "test": test_set(bfm, lset, args.model, args.limit),
              "cost": cost(DenseFace(args.model))}
    report["seconds"] = time.perf_counter() - t0
    RESULTS.write_text(json.dumps(clean(report), indent=2) + "\n")
    text = markdown(json.loads(RESULTS.read_text()))
    print(text)
    if not args.no_doc:
        write_doc_section(DOC, "visibility", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
