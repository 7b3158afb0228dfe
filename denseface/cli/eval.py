"""`denseface eval ...`: benchmark protocols, CED plots, the cost table and the loss ablation.

    denseface eval aflw2000 --out DIR [--model M] [--data DIR] [--configs DIR] [--detector NAME]
    denseface eval aflw     --out DIR [--model M] [--images DIR] [--configs DIR]
    denseface eval ced REPORT.json ... --out CED.png
    denseface eval cost [--out docs/eval/cost_table.md]
    denseface eval ablation --out DIR [--epochs N] [--limit-train N]
    denseface eval dense    --out DIR [--models M ...] [--limit N] [--no-teacher]
    denseface eval pose     --out DIR [--models M ...] [--limit N] [--no-teacher]
    denseface eval w300     --out DIR [--model M] [--data DIR] [--part val|train]
"""
from __future__ import annotations

import argparse
import sys

from ..errors import EXIT_PARTIAL, ConfigError


HELP = "benchmarks (AFLW2000-3D, AFLW), CED plots, cost table, loss ablation"


def _add_run_args(p: argparse.ArgumentParser) -> None:
    from ..eval.batch_predict import RunConfig

    run = RunConfig()
    p.add_argument("--model", default=None,
                   help="registry name (denseface models), .onnx (ONNX Runtime) or .pt checkpoint; "
                        "default: the package default model")
    p.add_argument("--out", required=True, help="output folder (report.json, per_image.csv, report.md)")
    p.add_argument("--configs", default="", help="3DDFA test.configs folder (default: shared copy)")
    p.add_argument("--batch", type=int, default=run.batch, help=f"images per model call (default {run.batch})")
    p.add_argument("--workers", type=int, default=run.workers,
                   help=f"image decoding threads (default {run.workers})")
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads (default: all cores)")
    p.add_argument("--limit", type=int, default=0,
                   help="evaluate this many evenly spaced images only (default 0 = all)")
    _add_tta_arg(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _add_tta_arg(p: argparse.ArgumentParser) -> None:
    from ..infer.api import TTA_MODES, PredictConfig

    p.add_argument("--tta", choices=TTA_MODES, default=PredictConfig.tta,
                   help="flip: average each crop with its mirror image, as predict does by default; "
                        f"none: the crop alone (default {PredictConfig.tta})")


def _run_config(args):
    from ..eval.batch_predict import RunConfig
    from ..infer.detectors import BoxToCrop

    if args.batch < 1 or args.workers < 1:
        raise ConfigError("--batch and --workers must be >= 1")
    policy = None
    if getattr(args, "box_scale", None) is not None:
        policy = BoxToCrop(args.box_scale, args.box_shift_x, args.box_shift_y)
    return RunConfig(args.batch, args.workers, not args.no_progress, policy)


def _finish(result, out: str) -> int:
    from ..eval.report import write_result

    path = write_result(result, out)
    r, d = result.report, result.details
    bins = " / ".join("–" if v is None or v != v else f"{v:.3f}" for v in r["nme_bins"])
    print(f"{r['model']}: NME {bins} (balanced {r['nme_balanced']:.3f}, all {r['nme_all']:.3f}) "
          f"over {r['n']} images; report in {path}")
    if d.get("n_undetected"):
        print(f"{d['n_undetected']} faces not detected", file=sys.stderr)
    if d.get("n_failed"):
        for name, why in list(d["failed"].items())[:10]:
            print(f"skipped {name}: {why}", file=sys.stderr)
        print(f"{d['n_failed']} images skipped", file=sys.stderr)
        return EXIT_PARTIAL
    return 0


def cmd_aflw2000(args) -> int:
    from ..eval.aflw2000 import Aflw2000Config, evaluate_aflw2000
    from ..eval.predictors import open_predictor

    cfg = Aflw2000Config(args.data, args.configs, args.limit, args.reannotated_offset, _run_config(args))
    detector = None
    if args.detector:
        from ..infer.detectors import create_detector

        kw = {"model_path": args.detector_model} if args.detector_model else {}
        detector = create_detector(args.detector, **kw)
    predictor = open_predictor(args.model, threads=args.threads, tta=args.tta)
    return _finish(evaluate_aflw2000(predictor, cfg, detector, args.detector or ""), args.out)


def cmd_aflw(args) -> int:
    from ..eval.aflw import AflwConfig, evaluate_aflw
    from ..eval.predictors import open_predictor

    cfg = AflwConfig(args.images, args.configs, args.limit, _run_config(args))
    return _finish(evaluate_aflw(open_predictor(args.model, threads=args.threads, tta=args.tta), cfg),
                   args.out)


def cmd_ced(args) -> int:
    from ..eval.ced import ced_from_reports

    labels = args.labels.split(",") if args.labels else None
    out = ced_from_reports(args.reports, args.out, labels, args.title, args.max_nme)
    print(f"CED plot of {len(args.reports)} reports in {out}")
    return 0


def cmd_cost(args) -> int:
    from ..eval.cost import CostConfig, write_cost_table

    cfg = CostConfig(tuple(args.backbones.split(",")), tuple(int(s) for s in args.sizes.split(",")),
                     repeats=args.repeats)
    out = write_cost_table(args.out, cfg, progress=not args.no_progress)
    print(out.read_text())
    return 0


def cmd_ablation(args) -> int:
    from ..eval.ablation import AblationConfig, run_ablation

    cfg = AblationConfig(out_dir=args.out, report_dir=args.report, losses=tuple(args.losses.split(",")),
                         base_config=args.config,
                         epochs=args.epochs, limit_train=args.limit_train, limit_val=args.limit_val,
                         max_steps_per_epoch=args.max_steps, eval_limit=args.eval_limit,
                         device=args.device)
    out = run_ablation(cfg, progress=not args.no_progress)
    print(out.read_text())
    return 0


def cmd_w300(args) -> int:
    from ..eval.human68 import Human68Config, evaluate_human68, write_human68

    report = evaluate_human68(args.model, Human68Config(args.data, args.part, args.threads, args.tta, args.limit))
    out = write_human68(report, args.out)
    for c, s in report["conventions"].items():
        print(f"{report['model']} {c}: inter-ocular NME {s['nme']:.3f}% over {s['n']} faces")
    print(f"report in {out}")
    return 0


def _add_dense_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models", nargs="+", default=[None], metavar="NAME_OR_PATH",
                   help="denseface models: registry names or .onnx/.pt files (default: the shipped model)")
    p.add_argument("--out", required=True, help="output folder (report.json, report.md, per_image.csv)")
    p.add_argument("--data", default="", help="AFLW2000-3D folder, jpg + mat (default: shared data/aflw2000_3d)")
    p.add_argument("--configs", default="", help="3DDFA test.configs folder (default: shared copy)")
    p.add_argument("--bfm", default="", help="BFM folder, 3DDFA layout (default: shared models/bfm_3ddfa_53215)")
    p.add_argument("--teacher", default="", help="3DDFA-V2 mb05 folder (default: shared models/3ddfa_v2_mb05)")
    p.add_argument("--no-teacher", action="store_true", help="do not score the teacher")
    p.add_argument("--limit", type=int, default=0, help="score this many evenly spaced images (0 = all)")
    p.add_argument("--batch", type=int, default=64, help="images per model call (default 64)")
    p.add_argument("--workers", type=int, default=2, help="image decoding threads (default 2)")
    p.add_argument("--threads", type=int, default=1, help="ONNX Runtime / torch threads (default 1)")
    p.add_argument("--prior", type=float, default=None, help="point-fit prior weight (default: PointFitConfig's)")
    _add_tta_arg(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _dense_config(args, cls):
    from ..mesh.point_fit import PointFitConfig

    if args.batch < 1 or args.workers < 1 or args.threads < 1:
        raise ConfigError("--batch, --workers and --threads must be >= 1")
    fit = PointFitConfig() if args.prior is None else PointFitConfig(prior=args.prior)
    return cls(data_dir=args.data, configs_dir=args.configs, bfm_dir=args.bfm,
               face_mask=getattr(args, "face_mask", ""),
               teacher_dir=None if args.no_teacher else args.teacher, limit=args.limit,
               batch=args.batch, workers=args.workers, threads=args.threads,
               progress=not args.no_progress, fit=fit, tta=args.tta)


def cmd_dense(args) -> int:
    from ..eval.dense import DenseConfig, evaluate_dense, write_dense

    result = evaluate_dense(args.models, _dense_config(args, DenseConfig))
    out = write_dense(result, args.out)
    for label, r in result.report["methods"].items():
        parts = [f"{m} {r[m]['balanced']:.3f}" for m in ("p520_2d", "p520_3d", "face_2d", "face_3d") if m in r]
        print(f"{label}: balanced NME " + ", ".join(parts))
    print(f"report in {out}")
    return 0


def cmd_pose(args) -> int:
    from ..eval.pose import PoseConfig, evaluate_pose, write_pose

    result = evaluate_pose(args.models, _dense_config(args, PoseConfig))
    out = write_pose(result, args.out)
    for m in result.report["methods"].values():
        print(f"{m['title']}: MAE yaw {m['yaw']:.2f} pitch {m['pitch']:.2f} roll {m['roll']:.2f} "
              f"mean {m['mean']:.2f} over {m['n']} images")
    print(f"report in {out}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("eval", help=HELP,
                       description="Evaluate any model with the standard protocols.")
    esub = p.add_subparsers(dest="eval_command", required=True, metavar="BENCHMARK")

    a = esub.add_parser("aflw2000", help="AFLW2000-3D, 3DDFA protocol (68 points, yaw bins)")
    a.add_argument("--data", default="", help="AFLW2000-3D folder as distributed, jpg + mat "
                                              "(default: shared data/aflw2000_3d)")
    _add_run_args(a)
    a.add_argument("--detector", default="", help="crop from this face detector's boxes instead of "
                                                  "the ground truth: default, yunet, libfacedetection, ssd, haar "
                                                  "(the code denseface predict runs: docs/evaluation.md)")
    a.add_argument("--detector-model", default="", help="another YuNet ONNX file for --detector yunet (default: the package's)")
    a.add_argument("--box-scale", type=float, default=None,
                   help="detector mode: crop side = scale x mean side of the detector box "
                        "(default: the detector's calibrated mapping)")
    a.add_argument("--box-shift-x", type=float, default=0.0,
                   help="with --box-scale: crop centre shift right, x mean side (0)")
    a.add_argument("--box-shift-y", type=float, default=0.0,
                   help="with --box-scale: crop centre shift down, x mean side (0)")
    a.add_argument("--reannotated-offset", type=float, default=0.0,
                   help="pixels added to the re-annotated ground truth (0 = 3DDFA's protocol)")
    a.set_defaults(func=cmd_aflw2000)

    b = esub.add_parser("aflw", help="AFLW 21 points, 3DDFA protocol, on the images present")
    b.add_argument("--images", default="", help="folder of AFLW photos named as AFLW_GT_crop.list "
                                                "(default: shared AFLW2000-3D images)")
    _add_run_args(b)
    b.set_defaults(func=cmd_aflw)

    c = esub.add_parser("ced", help="CED curves of several reports on one PNG")
    c.add_argument("reports", nargs="+", help="report.json files (or their folders)")
    c.add_argument("--out", required=True, help="output PNG")
    c.add_argument("--labels", default="", help="comma-separated legend labels (default: model names)")
    c.add_argument("--title", default="", help="plot title (default: the common protocol)")
    c.add_argument("--max-nme", type=float, default=10.0, help="x-axis limit in NME %% (10)")
    c.set_defaults(func=cmd_ced)

    _add_cost_and_ablation(esub)

    w = esub.add_parser("w300", help="the 68 points as people annotate them (300-W): both conventions "
                                     "on the held-out photos of a human-68 folder, inter-ocular NME")
    w.add_argument("--model", default=None, help="registry name, .onnx or .pt (default: the package default)")
    w.add_argument("--out", required=True, help="output folder (report.json, report.md, per_image.csv)")
    w.add_argument("--data", default="", help="human-68 folder (default: shared data/w300_afw_helen)")
    w.add_argument("--part", choices=("val", "train"), default="val",
                   help="val: the held-out photos (default); train: the rest")
    w.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads")
    w.add_argument("--limit", type=int, default=0, help="score this many evenly spaced faces (0 = all)")
    _add_tta_arg(w)
    w.set_defaults(func=cmd_w300)

    f = esub.add_parser("dense", help="AFLW2000-3D dense alignment: 520 points and the full face region "
                                      "(vs the fitted 3DMM), models beside the teacher")
    _add_dense_args(f)
    f.add_argument("--face-mask", default="", help="PRNet's uv_face_mask.png or face_ind.txt "
                                                   "(default: shared data/paper_520/uv_face_mask.png)")
    f.set_defaults(func=cmd_dense)

    g = esub.add_parser("pose", help="AFLW2000-3D head pose (yaw/pitch/roll MAE, +-99 degree filter), "
                                     "models beside the teacher")
    _add_dense_args(g)
    g.set_defaults(func=cmd_pose)


def _add_cost_and_ablation(esub) -> None:
    """The [train] benchmarks: the cost table and the loss ablation."""
    from ..eval.ablation import AblationConfig
    from ..eval.cost import CostConfig

    cost, abl = CostConfig(), AblationConfig()
    d = esub.add_parser("cost", help="[train] parameters, MACs and CPU latency (paper Table 3)")
    d.add_argument("--out", default="docs/eval/cost_table.md", help="markdown output")
    d.add_argument("--backbones", default=",".join(cost.backbones))
    d.add_argument("--sizes", default=",".join(map(str, cost.sizes)))
    d.add_argument("--repeats", type=int, default=cost.repeats, help="timed passes per measurement")
    d.add_argument("--no-progress", action="store_true")
    d.set_defaults(func=cmd_cost)

    e = esub.add_parser("ablation", help="[train] train Wing, L2, Wing+L2 on one budget; CED plots")
    e.add_argument("--out", default=abl.out_dir, help="output folder (one run per loss)")
    e.add_argument("--report", default=abl.report_dir,
                   help="folder for ablation.md and the CED plots (default: --out)")
    e.add_argument("--losses", default=",".join(abl.losses), help="comma-separated loss names")
    e.add_argument("--config", default=abl.base_config,
                   help="base training YAML (default: TrainConfig defaults)")
    e.add_argument("--epochs", type=int, default=abl.epochs)
    e.add_argument("--limit-train", type=int, default=abl.limit_train, help="training images (0 = all)")
    e.add_argument("--limit-val", type=int, default=abl.limit_val, help="validation images (0 = all)")
    e.add_argument("--max-steps", type=int, default=abl.max_steps_per_epoch,
                   help="steps per epoch cap (0 = full epochs)")
    e.add_argument("--eval-limit", type=int, default=abl.eval_limit, help="AFLW2000-3D images to score (0 = all)")
    e.add_argument("--device", default=abl.device, help="auto | cpu | cuda")
    e.add_argument("--no-progress", action="store_true")
    e.set_defaults(func=cmd_ablation)
