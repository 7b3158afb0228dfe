"""`denseface eval ...`: the benchmarks, one sub-command each, generated from their registry
(denseface.eval.protocol: ``denseface eval <name>`` for every registered benchmark), and three
tools beside them: CED plots, the cost table and the loss ablation.

    denseface eval aflw2000 --out DIR [--model M] [--data DIR] [--configs DIR] [--detector NAME]
    denseface eval aflw     --out DIR [--model M] [--images DIR] [--configs DIR]
    denseface eval dense    --out DIR [--models M ...] [--limit N] [--no-teacher]
    denseface eval pose     --out DIR [--models M ...] [--limit N] [--no-teacher]
    denseface eval w300     --out DIR [--model M] [--data DIR] [--part val|train]
    denseface eval ced REPORT.json ... --out CED.png
    denseface eval cost [--out docs/eval/cost_table.md]
    denseface eval ablation --out DIR [--epochs N] [--limit-train N]
"""
from __future__ import annotations

import sys

from ..errors import EXIT_PARTIAL


HELP = "benchmarks (AFLW2000-3D, AFLW, dense, pose, 300-W), CED plots, cost table, loss ablation"


def cmd_benchmark(args) -> int:
    """Run the chosen benchmark, write its files (the one writer) and print its summary."""
    from ..eval.report import write_result

    result = args.benchmark.run(args)
    path = write_result(result, args.out)
    for line in result.summary:
        print(line)
    print(f"report in {path}")
    for line in result.problems:
        print(line, file=sys.stderr)
    return EXIT_PARTIAL if result.partial else 0


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


def register(sub) -> None:
    from ..eval.protocol import benchmarks

    p = sub.add_parser("eval", help=HELP,
                       description="Evaluate any model with the standard protocols.")
    esub = p.add_subparsers(dest="eval_command", required=True, metavar="BENCHMARK")
    for name, bench in benchmarks().items():
        b = esub.add_parser(name, help=bench.help)
        bench.add_arguments(b)
        b.set_defaults(func=cmd_benchmark, benchmark=bench)

    c = esub.add_parser("ced", help="CED curves of several reports on one PNG")
    c.add_argument("reports", nargs="+", help="report.json files (or their folders)")
    c.add_argument("--out", required=True, help="output PNG")
    c.add_argument("--labels", default="", help="comma-separated legend labels (default: model names)")
    c.add_argument("--title", default="", help="plot title (default: the common protocol)")
    c.add_argument("--max-nme", type=float, default=10.0, help="x-axis limit in NME %% (10)")
    c.set_defaults(func=cmd_ced)

    _add_cost_and_ablation(esub)


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
