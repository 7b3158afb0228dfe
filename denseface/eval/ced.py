"""Cumulative error distribution (CED) plots of several evaluations on one figure (Figure 3)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import OutputError
from ..metrics import ced_auc, ced_curve, finite_mean
from .report import read_report


def plot_ced(curves: Sequence[tuple[str, np.ndarray]], out_png: str | Path, title: str = "",
             max_nme: float = 10.0) -> Path:
    """One CED curve per (label, per-image NME %) on one PNG; NaN NMEs (undetected faces,
    failures) count as errors above every threshold. The legend gives mean NME and AUC@max."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_png)
    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=120)
    for label, nme in curves:
        t, frac = ced_curve(nme, max_nme)
        ax.plot(t, 100.0 * frac, lw=1.8,
                label=f"{label} (mean {finite_mean(nme):.2f}, AUC@{max_nme:g} {ced_auc(nme, max_nme):.3f})")
    ax.set_xlim(0, max_nme)
    ax.set_ylim(0, 100)
    ax.set_xlabel("NME (%)")
    ax.set_ylabel("images (%)")
    ax.grid(alpha=0.3)
    ax.set_title(title or "Cumulative error distribution")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out)
    except OSError as e:
        raise OutputError(f"cannot write the plot ({e.strerror})", path=out) from None
    finally:
        plt.close(fig)
    return out


def ced_from_reports(reports: Sequence[str | Path], out_png: str | Path,
                     labels: Sequence[str] | None = None, title: str = "",
                     max_nme: float = 10.0) -> Path:
    """Read each report.json (or its folder) with its per_image.csv and plot their CEDs."""
    curves = []
    for k, path in enumerate(reports):
        report, cols = read_report(path)
        label = labels[k] if labels and k < len(labels) else f"{report.get('model', Path(path).stem)}"
        curves.append((label, cols["nme"].astype(np.float64)))
    if not title:
        protos = {read_report(p)[0].get("protocol", "") for p in reports}
        title = protos.pop() if len(protos) == 1 else ""
    return plot_ced(curves, out_png, title=_wrap(title), max_nme=max_nme)


def _wrap(text: str, width: int = 70) -> str:
    import textwrap
    return "\n".join(textwrap.wrap(text, width))
