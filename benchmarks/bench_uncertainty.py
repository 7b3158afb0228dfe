"""Per-point uncertainty and face quality on AFLW2000-3D (denseface.eval.uncertainty): the
calibration table and the drop curve, written to benchmarks/results/uncertainty.json, the
figure docs/img/quality_curve.png and the generated section "uncertainty" of docs/predict.md.

    python benchmarks/bench_uncertainty.py [--model NAME_OR_PATH] [--limit N]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from denseface.eval.report import clean, write_doc_section
from denseface.eval.uncertainty import UncertaintyEvalConfig, evaluate_uncertainty

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "uncertainty.json"
FIGURE = ROOT / "docs" / "img" / "quality_curve.png"
DOC = ROOT / "docs" / "predict.md"
#: The head's calibration on aflw_pl val, written by its training stage (denseface.train.uncertainty).
VAL_CALIBRATION = ROOT / "docs" / "training_logs" / "uncertainty_mbv1_050_calibration.json"


def val_markdown(cal: dict) -> str:
    """The val split's shares within 1, 2, 3 sigma against both truths, after the scale."""
    names = {"labels": "its 3D labels, all 520 points", "human": "its human AFLW points (16 of 21)"}
    lines = [f"aflw_pl val (1000 faces, flip-averaged, where the scale was chosen: against its "
             f"{cal['calibrated_on']}, x{cal['scale']:.3f}):", "",
             "| aflw_pl val, against | 1 sigma | 2 sigma | 3 sigma |", "|---|---|---|---|"]
    lines += [f"| {names[t]} | " + " | ".join(f"{100 * a[f'within_{k}_sigma']:.1f} %" for k in (1, 2, 3)) + " |"
              for t, a in cal["after"].items()]
    return "\n".join(lines) + "\n"


def plot(report: dict, path: Path) -> None:
    """NME of the kept faces against the share kept, dropping by quality, |yaw| and the oracle."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kept = [100 * k for k in report["kept"]]
    fig, ax = plt.subplots(figsize=(5.5, 3.6), dpi=120)
    for key, label, style in (("nme_kept_by_quality", "dropping the lowest quality", "o-"),
                              ("nme_kept_by_yaw", "dropping the largest predicted |yaw|", "s--"),
                              ("nme_kept_oracle", "dropping the largest true NME (oracle)", "k:")):
        ax.plot(kept, report[key], style, label=label)
    ax.set_xlabel("faces kept (%)")
    ax.set_ylabel("NME of the kept faces (%)")
    ax.set_title(f"AFLW2000-3D, {report['n']} faces, {report['model']}", fontsize=9)
    ax.invert_xaxis()
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None)
    ap.add_argument("--limit", type=int, default=0, help="evenly spaced images (0 = all; a limit writes no docs)")
    args = ap.parse_args()
    result = evaluate_uncertainty(UncertaintyEvalConfig(model=args.model, limit=args.limit))
    print("\n".join(result.summary))
    if args.limit:
        print(result.markdown)
        return
    RESULTS.write_text(json.dumps(clean(result.report), indent=1) + "\n")
    plot(result.report, FIGURE)
    val = val_markdown(json.loads(VAL_CALIBRATION.read_text())) + "\n" if VAL_CALIBRATION.exists() else ""
    write_doc_section(DOC, "uncertainty", val + result.markdown
                      + "\n![NME of the kept faces against the share kept](img/quality_curve.png)\n")


if __name__ == "__main__":
    main()
