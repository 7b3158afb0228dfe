"""The shipped model family: ship a trained checkpoint, measure every model, render the tables.

    python benchmarks/model_family.py head-ranks runs/dense520_mbv1_050/best.pt   # choose a head rank on val
    python benchmarks/model_family.py ship dense520_mbv1_050 runs/dense520_mbv1_050/best.pt --head-rank 128 --head-300w
    python benchmarks/model_family.py ship dense520_mbv2_100 runs/dense520_mbv2_100_wing/best.pt --weights-fp16
    python benchmarks/model_family.py measure            # every registry model, plus the teacher
    python benchmarks/model_family.py render             # README / MODEL_CARD tables from the results

``measure`` writes, per model, ``denseface/weights/<name>.json`` (the figures ``denseface models``
prints) and the full reports under ``docs/eval/<name>/`` (AFLW2000-3D with ground-truth boxes),
``docs/eval/<name>_detector/`` (AFLW2000-3D through ``DenseFace`` with the default detector, the
code ``denseface predict`` runs) and ``docs/eval/<name>_aflw21/`` (AFLW 21 points, AFLW2000
subset), and the CED plot ``docs/eval/ced_aflw2000_family.png``. Accuracy on aflw_pl val (the
selection split): NME21 against the human AFLW-21 points, and NME68 against the teacher's
labels, both normalised by the labels' 68-point box (aflw_pl's own val labels.npz). AFLW2000-3D
(the test set) is reported, never used to choose anything. Speed: ONNX Runtime, 1 thread, batch 1,
each model timed interleaved with the teacher's network (3DDFA-V2 mb05, exported to ONNX here)
in the same run, so the ratio survives a noisy machine.
"""
from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

from denseface.eval.family_report import detector_table, peers_w300, ranks_table, table, w300_table
from denseface.eval.report import write_doc_section
from denseface.models.registry import MODELS, write_results

ROOT = Path(__file__).resolve().parents[1]
EVAL_DIR = ROOT / "docs" / "eval"
TEACHER_JSON = ROOT / "benchmarks" / "results" / "teacher.json"
RANKS_JSON = ROOT / "benchmarks" / "results" / "head_ranks.json"


# ------------------------------------------------------------------------------------ ship
def ship(name: str, checkpoint: Path, weights_fp16: bool, head_rank: int = 0, head_300w: bool = False) -> None:
    """Export ``checkpoint`` to the registry's ONNX file (and its fp16 torch checkpoint) through
    the one export path (denseface.export.checkpoint); ``head_rank`` > 0 factors the linear head
    first; ``head_300w`` adds the 300-W map of the (factored) model's points
    (denseface.train.points_map), its fit written to benchmarks/results/points_map_<name>.json."""
    from denseface.export.checkpoint import export_checkpoint

    entry = MODELS[name]
    points_map = None
    if head_300w:
        from denseface.train.points_map import with_points_map as points_map
    done = export_checkpoint(checkpoint, entry.onnx_path, head_rank=head_rank, points_map=points_map,
                             weights_fp16=weights_fp16, expect=(entry.backbone, entry.input_size),
                             checkpoint_out=entry.checkpoint_path)
    if done.points_map_fit is not None:
        (ROOT / "benchmarks" / "results" / f"points_map_{name}.json").write_text(
            json.dumps(done.points_map_fit, indent=1) + "\n")
        print(f"300-W map: {done.points_map_fit}", flush=True)
    print(f"shipped {name}: {entry.onnx_path.name} {entry.onnx_path.stat().st_size / 1e6:.1f} MB"
          + (f", {entry.checkpoint_path.name} {entry.checkpoint_path.stat().st_size / 1e6:.1f} MB"
             if entry.checkpoint_path is not None else "")
          + f"; torch/ONNX parity {done.parity_px:.2e} px")


# ------------------------------------------------------------------------------ head ranks
def head_ranks(checkpoint: Path, ranks: list[int]) -> None:
    """Val accuracy and network time of ``checkpoint`` with its head factored to each rank
    (0 = the full head), timed interleaved with the teacher; writes RANKS_JSON."""
    import tempfile

    from denseface.export.onnx import export_onnx
    from denseface.models.regressor import factor_head, load_model
    from denseface.models.runners import OnnxRunner

    split, lset = val_split()
    model = load_model(checkpoint)
    tmp = Path(tempfile.mkdtemp(prefix="denseface_ranks_"))
    paths = {"teacher": teacher_onnx(tmp)}
    rows = []
    for r in ranks:
        paths[r] = export_onnx(factor_head(model, r) if r else model, tmp / f"rank{r}.onnx")
        rows.append({"rank": r, **val_scores(OnnxRunner(paths[r], threads=1), split, lset),
                     "onnx_mb": paths[r].stat().st_size / 1e6})
    speed = time_side_by_side(paths)
    for row in rows:
        row |= {"network_ms": speed[row["rank"]], "ratio_to_teacher": speed[row["rank"]] / speed["teacher"]}
        print(row, flush=True)
    RANKS_JSON.write_text(json.dumps({"checkpoint": str(checkpoint), "backbone": model.config.backbone,
                                      "teacher_network_ms": speed["teacher"], "rows": rows}, indent=1) + "\n")
    shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------------- measure
def val_split():
    from denseface.data.dataset import load_split
    from denseface.landmarks import load_landmark_set
    from denseface.mesh import load_bfm
    from denseface.paths import shared_path

    lset = load_landmark_set()
    return load_split(shared_path("data", "aflw_pl", "val"), load_bfm(None), lset), lset


def val_scores(runner, split, lset, tta: str = "none") -> dict:
    """aflw_pl val scores of a runner on the stored crops; ``tta="flip"`` averages each crop with
    its mirror, mapped back with the crop's own scale (its source_scale, as the training flips)."""
    from denseface.data.dataset import split_scores
    from denseface.models.codec import unmirror_crop_points

    def run(images):
        return np.concatenate([runner.predict_crops(images[i:i + 64]) for i in range(0, len(images), 64)])

    pred = run(split.images)
    if tta == "flip":
        mirror = run(np.ascontiguousarray(split.images[:, :, ::-1]))
        pred = 0.5 * (pred + unmirror_crop_points(mirror, lset.flip, runner.config.input_size,
                                                  split.source_scale))
    return split_scores(pred[:, lset.idx68], split.points[:, lset.idx68], split.table.pts21)


def passes_on_val(model_path: Path, split, lset) -> dict:
    """The second pass, judged on aflw_pl val (not the test set): every val crop through
    ``DenseFace`` with the default detector, 1 and 2 passes; NME21 against the human points of
    the crops where a face is found (the same crops for both), and the detection rate."""
    from denseface.data.dataset import split_scores
    from denseface.infer.api import DenseFace, PredictConfig

    out = {}
    preds = {}
    for passes in (1, 2):
        df = DenseFace(model_path, config=PredictConfig(passes=passes), threads=1)
        p68 = np.full((len(split.names), 68, 3), np.nan)
        for i, img in enumerate(split.images):
            faces = df.predict_array(img)
            if faces:
                p68[i] = max(faces, key=lambda f: float(np.ptp(f.landmarks68[:, 0]))).landmarks68
        preds[passes] = p68
    found = np.isfinite(preds[1]).all((1, 2)) & np.isfinite(preds[2]).all((1, 2))
    for passes, p68 in preds.items():
        s = split_scores(p68[found], split.points[found][:, lset.idx68], split.table.pts21[found])
        out[f"val_nme21_detector_passes{passes}"] = s["nme21"]
    out["val_detector_found"] = float(found.mean())
    return out


def w300_fields(model_path: Path, name: str) -> dict:
    """Both 68-point conventions on the held-out 300-W photos (denseface eval w300, predict's
    default pipeline given the human-68 boxes); the report goes to docs/eval/<name>_w300/."""
    from denseface.eval.report import write_result
    from denseface.eval.w300 import evaluate_w300

    result = evaluate_w300(model_path, name=name)
    write_result(result, EVAL_DIR / f"{name}_w300")
    report = result.report
    return {f"w300_{c}": s for c, s in report["conventions"].items()} | {"w300_faces": report["n"]}


def teacher_onnx(folder: Path) -> Path:
    """The teacher's network (62 outputs, its own BGR input normalisation folded in) as ONNX."""
    import torch

    from denseface.paths import shared_path
    from denseface.refine.teacher import load_teacher

    net = load_teacher(shared_path("models", "3ddfa_v2_mb05")).net.eval()

    class Wrapped(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x):   # (B, 3, 120, 120) 0..255, the same contract as denseface's
            return self.net((x.flip(1) - 127.5) / 128.0)

    path = folder / "teacher_mb05.onnx"
    torch.onnx.export(Wrapped(), (torch.rand(1, 3, 120, 120) * 255,), str(path), input_names=["image"],
                      output_names=["params"], dynamic_axes={"image": {0: "batch"}}, opset_version=17,
                      dynamo=False)
    return path


def time_side_by_side(paths: dict[str, Path], rounds: int = 30, per_round: int = 40) -> dict[str, float]:
    """Median ms per call (1 thread, batch 1) of each ONNX file, interleaved round by round."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    so.log_severity_level = 3
    sess = {k: ort.InferenceSession(str(p), so, providers=["CPUExecutionProvider"]) for k, p in paths.items()}
    x = (np.random.default_rng(0).random((1, 3, 120, 120)) * 255).astype(np.float32)
    feeds = {k: {s.get_inputs()[0].name: x} for k, s in sess.items()}
    for k, s in sess.items():
        for _ in range(20):
            s.run(None, feeds[k])
    samples: dict[str, list[float]] = {k: [] for k in sess}
    for _ in range(rounds):
        for k, s in sess.items():
            t0 = time.perf_counter()
            for _ in range(per_round):
                s.run(None, feeds[k])
            samples[k].append(1e3 * (time.perf_counter() - t0) / per_round)
    return {k: float(np.median(v)) for k, v in samples.items()}


def speed_fields(speed: dict[str, float], name: str) -> dict:
    """A model's network time beside the teacher's, from one ``time_side_by_side`` run."""
    return {"network_ms": speed[name], "teacher_network_ms": speed["teacher"],
            "network_ratio_to_teacher": speed[name] / speed["teacher"]}


def measure_speed(names: list[str]) -> None:
    """Re-time every model and the teacher in one interleaved run; update their JSON files."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        speed = time_side_by_side({"teacher": teacher_onnx(Path(tmp)),
                                   **{n: MODELS[n].onnx_path for n in names}})
    for name in names:
        r = MODELS[name].results() | speed_fields(speed, name)
        write_results(MODELS[name], r)
        print(name, {k: round(v, 3) for k, v in r.items() if k.startswith(("network", "teacher"))})
    t = json.loads(TEACHER_JSON.read_text()) if TEACHER_JSON.exists() else {}
    TEACHER_JSON.write_text(json.dumps(t | {"network_ms": speed["teacher"]}, indent=1) + "\n")


def accuracy_fields(name: str, split, lset, run) -> tuple[dict, object]:
    """A model's accuracy without, then with flip averaging (suffix "_flip"): NME on aflw_pl val,
    AFLW2000-3D and AFLW 21 points (their reports written under docs/eval/) -> (the fields, the
    flip-averaged predictor)."""
    from denseface.eval.aflw import AflwConfig, evaluate_aflw
    from denseface.eval.aflw2000 import Aflw2000Config, evaluate_aflw2000
    from denseface.eval.predictors import open_predictor
    from denseface.eval.report import write_result
    from denseface.models.runners import OnnxRunner

    e = MODELS[name]
    runner = OnnxRunner(e.onnx_path, threads=2)
    out: dict = {}
    for tta, suffix in (("none", ""), ("flip", "_flip")):   # without, then with flip averaging
        val = val_scores(runner, split, lset, tta)
        pred = open_predictor(e.onnx_path, tta=tta)
        pred.name = name
        gt = evaluate_aflw2000(pred, Aflw2000Config(run=run))
        write_result(gt, EVAL_DIR / f"{name}{suffix}")
        a21 = evaluate_aflw(pred, AflwConfig(run=run))
        write_result(a21, EVAL_DIR / f"{name}_aflw21{suffix}")
        out |= {f"val_nme21{suffix}": val["nme21"], f"val_nme68_teacher_labels{suffix}": val["nme68"],
                f"aflw2000_bins{suffix}": gt.report["nme_bins"],
                f"aflw2000_balanced{suffix}": gt.report["nme_balanced"],
                f"aflw2000_all{suffix}": gt.report["nme_all"],
                f"aflw2000_reannotated_balanced{suffix}": gt.report["nme_reannotated_balanced"],
                f"aflw2000_3d_balanced{suffix}": gt.report["nme_3d_balanced"],
                f"aflw21_bins{suffix}": a21.report["nme_bins"],
                f"aflw21_balanced{suffix}": a21.report["nme_balanced"]}
    return out, pred


def detector_fields(pred, name: str, run) -> dict:
    """AFLW2000-3D through the default detector (its report under docs/eval/<name>_detector)."""
    from denseface.eval.aflw2000 import Aflw2000Config, evaluate_aflw2000
    from denseface.eval.report import write_result
    from denseface.infer.detectors import create_detector

    det = create_detector("default")
    dres = evaluate_aflw2000(pred, Aflw2000Config(run=run), detector=det, detector_name=det.name)
    write_result(dres, EVAL_DIR / f"{name}_detector")
    d = dres.details
    return {"detector": det.name, "detector_bins": dres.report["nme_bins"],
            "detector_balanced": dres.report["nme_balanced"],
            "detector_found": d["n_evaluated"], "detector_images": d["n_images"],
            "detector_found_bins": [c / t for c, t in zip(d["bin_counts"], d["bin_counts_all_images"])]}


def measure(names: list[str], skip_detector: bool) -> None:
    import tempfile

    from denseface.eval.ced import ced_from_reports
    from denseface.eval.predictions import RunConfig

    split, lset = val_split()
    from denseface.data.dataset import split_scores

    labels = split_scores(split.points[:, lset.idx68], split.points[:, lset.idx68], split.table.pts21)
    tmp = Path(tempfile.mkdtemp(prefix="denseface_family_"))
    speed = time_side_by_side({"teacher": teacher_onnx(tmp), **{n: MODELS[n].onnx_path for n in names}})
    TEACHER_JSON.parent.mkdir(parents=True, exist_ok=True)
    TEACHER_JSON.write_text(json.dumps({"val_nme21_labels": labels["nme21"], "network_ms": speed["teacher"],
                                        "note": "aflw_pl's val labels are the teacher's fits"}, indent=1) + "\n")
    run = RunConfig(workers=1, progress=False)
    for name in names:
        e = MODELS[name]
        out = {"name": name}
        accuracy, pred = accuracy_fields(name, split, lset, run)
        out |= accuracy
        out |= w300_fields(e.onnx_path, name)
        out |= {**speed_fields(speed, name),
               "onnx_mb": e.onnx_path.stat().st_size / 1e6,
               "checkpoint_mb": e.checkpoint_path.stat().st_size / 1e6 if e.checkpoint_path else 0.0,
               "speed_note": "ONNX Runtime 1 thread, batch 1, 120 px, median, interleaved with the teacher"}
        out |= passes_on_val(e.onnx_path, split, lset)
        if not skip_detector:
            out |= detector_fields(pred, name, run)
        write_results(e, out)   # the card kept
        print(json.dumps(out), flush=True)
    ced_from_reports([EVAL_DIR / n / "report.json" for n in MODELS if (EVAL_DIR / n / "report.json").exists()],
                     EVAL_DIR / "ced_aflw2000_family.png",
                     [n for n in MODELS if (EVAL_DIR / n / "report.json").exists()],
                     "AFLW2000-3D, 68 points, ground-truth boxes")
    shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------------- render
def render() -> None:
    generated = "_Generated by `python benchmarks/model_family.py render` from `denseface/weights/*.json`._"
    teacher = json.loads(TEACHER_JSON.read_text()) if TEACHER_JSON.exists() else {}
    peers = peers_w300(ROOT / "benchmarks" / "results" / "peers_w300.npz")
    body = "\n".join([generated, "", table(teacher), "", detector_table(), "", w300_table(peers)])
    write_doc_section(ROOT / "README.md", "model_family", body)
    write_doc_section(ROOT / "docs" / "MODEL_CARD.md", "model_family_card", body)
    if RANKS_JSON.exists():
        ranks = ranks_table(json.loads(RANKS_JSON.read_text()))
        write_doc_section(ROOT / "docs" / "MODEL_CARD.md", "head_ranks", ranks)
    print(body)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("ship")
    s.add_argument("name", choices=list(MODELS))
    s.add_argument("checkpoint", type=Path)
    s.add_argument("--weights-fp16", action="store_true", help="store ONNX weights in fp16 (half the file)")
    s.add_argument("--head-rank", type=int, default=0, help="factor the linear head to this rank (0 = full)")
    s.add_argument("--head-300w", action="store_true", help="add the 300-W map of the points (points_map)")
    h = sub.add_parser("head-ranks")
    h.add_argument("checkpoint", type=Path)
    h.add_argument("--ranks", type=int, nargs="+", default=[0, 32, 64, 128, 256])
    m = sub.add_parser("measure")
    m.add_argument("names", nargs="*", default=None)
    m.add_argument("--skip-detector", action="store_true")
    m.add_argument("--speed-only", action="store_true",
                   help="only re-time all the models beside the teacher in one run")
    sub.add_parser("render")
    args = ap.parse_args()
    if args.cmd == "ship":
        ship(args.name, args.checkpoint, args.weights_fp16, args.head_rank, args.head_300w)
    elif args.cmd == "head-ranks":
        head_ranks(args.checkpoint, args.ranks)
    elif args.cmd == "measure":
        names = args.names or [n for n, e in MODELS.items() if e.onnx_path.exists()]
        if args.speed_only:
            measure_speed(names)
        else:
            measure(names, args.skip_detector)
    else:
        render()


if __name__ == "__main__":
    main()
