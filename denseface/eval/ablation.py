"""Loss ablation (the paper's Figure 3), ``denseface eval ablation``: train one model per loss
on the same budget (denseface.train, the layer below), evaluate each on AFLW2000-3D (68 points)
and AFLW-21 (AFLW2000 subset), and draw one CED plot per benchmark. Every run uses the same base config, seed, data and number of steps; only
``loss.name`` changes. Re-running skips losses whose evaluation is already written and resumes
an unfinished training from its last.pt.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, DenseFaceError
from .report import fmt, read_report
from ..io.files import atomic_write

#: Legend names of the trainer's loss names (denseface.losses.LOSS_NAMES).
LOSS_LABELS = {"wing": "WL", "l2": "L2", "wing+l2": "WL+L2", "hybrid": "WL+L2(68)", "l1": "L1"}


@dataclass
class AblationConfig:
    """out_dir: one sub-folder per loss; base_config: a training YAML (default: TrainConfig()
    defaults); the other fields override it for every loss."""

    out_dir: str = "runs/ablation"
    report_dir: str = ""          # where ablation.md and the CED plots go ("" = out_dir)
    losses: tuple[str, ...] = ("wing", "l2", "wing+l2")
    base_config: str = ""
    epochs: int = 3
    limit_train: int = 2000
    limit_val: int = 200
    max_steps_per_epoch: int = 0
    eval_limit: int = 0
    device: str = "auto"


def describe_loss(lc) -> str:
    """One line on what a LossConfig computes (its weights and Wing parameters)."""
    wing = f"Wing (w {lc.wing_w:g}, epsilon {lc.wing_epsilon:g} px at a {lc.ref_size:g}-px crop)"
    return {"wing": f"{wing} on all points",
            "l1": "L1 on all points",
            "l2": "MSE on all points",
            "wing+l2": f"{lc.wing_weight:g} x {wing} + {lc.mse_weight:g} x MSE, both on all points",
            "hybrid": f"{lc.wing_weight:g} x {wing} on all points + {lc.mse_weight:g} x MSE on the 68 "
                      "subset (the paper's hybrid)"}[lc.name]


def train_config_for(cfg: AblationConfig, loss: str):
    """The TrainConfig of one ablation run."""
    from ..losses import LOSS_NAMES
    from ..train import TrainConfig, load_config

    if loss not in LOSS_NAMES:
        raise ConfigError(f"unknown loss '{loss}' (known: {', '.join(LOSS_NAMES)})")
    base = load_config(cfg.base_config) if cfg.base_config else TrainConfig()
    data = dataclasses.replace(base.data, limit_train=cfg.limit_train, limit_val=cfg.limit_val)
    return dataclasses.replace(
        base, out_dir=str(Path(cfg.out_dir) / loss.replace("+", "_")), epochs=cfg.epochs,
        max_steps_per_epoch=cfg.max_steps_per_epoch, device=cfg.device, data=data,
        loss=dataclasses.replace(base.loss, name=loss))


def run_ablation(cfg: AblationConfig, progress: bool = True) -> Path:
    """Train and evaluate every loss; write ced_aflw2000.png, ced_aflw21.png and ablation.md
    into ``cfg.out_dir``; returns the markdown path."""
    from ..train import train
    from .aflw import AflwConfig, evaluate_aflw
    from .aflw2000 import Aflw2000Config, evaluate_aflw2000
    from .predictions import RunConfig
    from .ced import ced_from_reports
    from .predictors import open_predictor
    from .report import write_result

    if not cfg.losses:
        raise ConfigError("no losses to compare")
    out = Path(cfg.report_dir or cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tcfgs = {loss: train_config_for(cfg, loss) for loss in cfg.losses}
    runs = []
    for loss, tcfg in tcfgs.items():
        run_dir = Path(tcfg.out_dir)
        e68, e21 = run_dir / "eval_aflw2000", run_dir / "eval_aflw21"
        if not (e68 / "report.json").is_file() or not (e21 / "report.json").is_file():
            if _epochs_done(run_dir) < tcfg.epochs or not (run_dir / "best.pt").is_file():
                train(tcfg, resume=(run_dir / "last.pt").is_file())
            best = run_dir / "best.pt"
            if not best.is_file():
                raise DenseFaceError("training wrote no best.pt", path=run_dir)
            predictor = open_predictor(best)
            predictor.name = f"{tcfg.backbone} {LOSS_LABELS.get(loss, loss)}"
            run = RunConfig(progress=progress)
            write_result(evaluate_aflw2000(predictor, Aflw2000Config(limit=cfg.eval_limit, run=run)), e68)
            write_result(evaluate_aflw(predictor, AflwConfig(limit=cfg.eval_limit, run=run)), e21)
        runs.append((loss, e68 / "report.json", e21 / "report.json"))

    labels = [LOSS_LABELS.get(loss, loss) for loss, _, _ in runs]
    ced_from_reports([r68 for _, r68, _ in runs], out / "ced_aflw2000.png", labels,
                     "AFLW2000-3D, 68 points: loss ablation")
    ced_from_reports([r21 for _, _, r21 in runs], out / "ced_aflw21.png", labels,
                     "AFLW-21 (AFLW2000 subset): loss ablation")
    md = atomic_write(out / "ablation.md", ablation_markdown(cfg, tcfgs, runs, labels, out))
    atomic_write(out / "ablation_config.json", json.dumps(dataclasses.asdict(cfg), indent=1))
    return md


def ablation_markdown(cfg: AblationConfig, tcfgs: dict, runs: list, labels: list[str], out: Path) -> str:
    """ablation.md: the table of every loss (val NME21, AFLW2000-3D bins, AFLW-21), what each loss
    computes, and the training logs (copied into ``out``)."""
    lines = ["# Loss ablation", "",
             f"Same budget for every loss: {cfg.epochs} epochs, {cfg.limit_train or 'all'} training "
             f"images, {cfg.limit_val or 'all'} validation images"
             + (f", at most {cfg.max_steps_per_epoch} steps per epoch" if cfg.max_steps_per_epoch else "")
             + (f"; base config {cfg.base_config}" if cfg.base_config else "; TrainConfig defaults") + ".",
             "", ("The model of each loss is its best epoch on aflw_pl val by NME21 (the human points); "
                  "AFLW2000-3D (the test set) is only reported."), "",
             "| loss | aflw_pl val NME21 | AFLW2000-3D 0–30 | 30–60 | 60–90 | balanced | AFLW-21 balanced |",
             "|---|---|---|---|---|---|---|"]
    run_dirs = {loss: Path(tcfg.out_dir) for loss, tcfg in tcfgs.items()}
    vals = {loss: _best_val_nme21(run_dirs[loss]) for loss in run_dirs}
    for (loss, r68, r21), label in zip(runs, labels):
        a, _ = read_report(r68)
        b, _ = read_report(r21)
        bins = " | ".join(fmt(v) for v in a["nme_bins"])
        lines.append(f"| {label} (`{loss}`) | {fmt(vals[loss])} | {bins} | {fmt(a['nme_balanced'])} | "
                     f"{fmt(b['nme_balanced'])} |")
    lines += [""] + [f"- {LOSS_LABELS.get(loss, loss)}: {describe_loss(tcfg.loss)}" for loss, tcfg in tcfgs.items()]
    scored = {k: v for k, v in vals.items() if v is not None}
    if len(scored) > 1:
        best = min(scored, key=scored.get)
        lines += ["", (f"Best on val: {LOSS_LABELS.get(best, best)} (`{best}`). The paper (Figure 3) finds "
                      "Wing + MSE best on both benchmarks.")]
    logs = []
    for loss, run_dir in run_dirs.items():
        log = run_dir / "log.csv"
        if log.is_file() and out.resolve() != log.parent.resolve():
            name = f"log_{loss.replace('+', '_')}.csv"
            atomic_write(out / name, log.read_text())
            logs.append(f"[{name}]({name})")
    if logs:
        lines += ["", ("Training logs (val NME68 against the labels and NME21 against the human points, "
                       "every epoch; epoch 0 is the closed-form head): ") + ", ".join(logs) + "."]
    lines += ["", "![AFLW2000-3D CED](ced_aflw2000.png) ![AFLW-21 CED](ced_aflw21.png)", ""]
    return "\n".join(lines)


def _best_val_nme21(run_dir: Path) -> float | None:
    """The best val NME21 in a run's log.csv (None when there is none)."""
    import csv

    log = run_dir / "log.csv"
    if not log.is_file():
        return None
    vals = [float(r["val_nme21"]) for r in csv.DictReader(log.read_text().splitlines())
            if r.get("val_nme21") not in (None, "", "nan")]
    return min(vals) if vals else None


def _epochs_done(run_dir: Path) -> int:
    """The last training epoch recorded in a run's log.csv (0 when none; row 0 is a
    closed-form head, not an epoch)."""
    import csv

    log = run_dir / "log.csv"
    if not log.is_file():
        return 0
    return max([int(r["epoch"]) for r in csv.DictReader(log.read_text().splitlines())], default=0)
