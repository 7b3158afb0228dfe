"""Evaluation outputs: report.json (fixed schema), per_image.csv, details.json, report.md, and
the published numbers they are compared with."""
from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DenseFaceError, OutputError
from ..io.files import atomic_output, atomic_write

#: The keys of report.json, in order (issue 4's schema).
REPORT_KEYS = ("model", "protocol", "n", "nme_bins", "nme_balanced", "nme_all",
               "nme_reannotated_balanced", "nme_3d_balanced", "per_image")
PER_IMAGE_CSV = "per_image.csv"

#: Basak et al. 2023, Table 1: AFLW2000-3D, 68 points, NME % by yaw bin and their mean.
PAPER_TABLE1 = (
    ("3DDFA (Zhu et al. 2016)", 3.43, 4.24, 7.17, 4.94),
    ("3DSTN (Bhagavatula et al. 2017)", 3.15, 4.33, 5.98, 4.49),
    ("3D-FAN (Bulat & Tzimiropoulos 2017)", 3.16, 3.53, 4.60, 3.76),
    ("3DDFA TPAMI (Zhu et al. 2017)", 2.84, 3.57, 4.96, 3.79),
    ("PRNet (Feng et al. 2018)", 2.75, 3.51, 4.61, 3.62),
    ("2DASL (Tu et al. 2020)", 2.75, 3.46, 4.45, 3.55),
    ("3DDFA-V2 (Guo et al. 2020)", 2.63, 3.42, 4.48, 3.51),
    ("SynergyNet (Wu et al. 2021, its table in github choyingw/SynergyNet demo/alignment.png)",
     2.65, 3.30, 4.27, 3.41),
    ("Paper: denseface MobileNetV2 (Basak et al. 2023)", 2.86, 3.68, 4.76, 3.77),
)
#: The aflw_pl teacher (3DDFA-V2 MobileNetV1-0.5) as measured in data/aflw_pl/README.md.
TEACHER_ROW = ("aflw_pl teacher: 3DDFA-V2 mb05 (aflw_pl README)", 2.925, 3.667, 4.784, 3.792, 3.350)
TEACHER_REANNOTATED_BALANCED = 3.022

#: Basak et al. 2023, Table 2: AFLW (21 points), NME % by yaw bin and their mean.
PAPER_TABLE2 = (
    ("ESR (Cao et al. 2014)", 5.66, 7.12, 11.94, 8.24),
    ("3DDFA (Zhu et al. 2016)", 4.75, 4.83, 6.39, 5.32),
    ("3D-FAN (Bulat & Tzimiropoulos 2017)", 4.40, 4.52, 5.17, 4.69),
    ("3DDFA TPAMI (Zhu et al. 2017)", 4.11, 4.38, 5.16, 4.55),
    ("PRNet (Feng et al. 2018)", 4.19, 4.69, 5.45, 4.77),
    ("3DDFA-V2 (Guo et al. 2020)", 3.98, 4.31, 4.99, 4.43),
    ("Paper: denseface MobileNetV2 (Basak et al. 2023)", 4.04, 4.45, 5.20, 4.57),
)


def clean(x):
    """JSON-safe value: NaN/inf -> None, numpy scalars -> Python, floats rounded to 4 places."""
    if isinstance(x, dict):
        return {k: clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [clean(v) for v in x]
    if isinstance(x, np.ndarray):
        return clean(x.tolist())
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return None if not math.isfinite(x) else round(x, 4)
    return x


@dataclass
class EvalResult:
    """report: the report.json dict (REPORT_KEYS); details: everything else worth keeping;
    columns: per-image columns (equal lengths) for per_image.csv; markdown: report.md text;
    arrays: saved to predictions.npz."""

    report: dict
    details: dict
    columns: dict
    markdown: str
    arrays: dict


def write_result(result: EvalResult, out_dir: str | Path) -> Path:
    """Write report.json, per_image.csv, details.json, report.md and predictions.npz."""
    return write_report_files(out_dir, {k: result.report[k] for k in REPORT_KEYS}, result.markdown,
                              result.columns, result.arrays, details=result.details)


def write_report_files(out_dir: str | Path, report: dict, markdown: str, columns: dict,
                       arrays: dict | None = None, details: dict | None = None) -> Path:
    """The files of one benchmark run, each written atomically into ``out_dir``: report.json,
    report.md, per_image.csv, and details.json / predictions.npz when given."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write(out / "report.json", json.dumps(clean(report), indent=2) + "\n")
        if details is not None:
            atomic_write(out / "details.json", json.dumps(clean(details), indent=2) + "\n")
        atomic_write(out / "report.md", markdown)
        write_columns_csv(out / PER_IMAGE_CSV, columns)
        if arrays:
            with atomic_output(out / "predictions.npz") as tmp, open(tmp, "wb") as f:
                np.savez_compressed(f, **arrays)
    except OSError as e:
        raise OutputError(f"cannot write the report ({e.strerror})", path=out) from None
    return out


def write_columns_csv(path: Path, columns: dict) -> None:
    keys = list(columns)
    n = len(columns[keys[0]]) if keys else 0
    with atomic_output(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(keys)
        for i in range(n):
            w.writerow([_cell(columns[k][i]) for k in keys])


def _cell(v) -> str:
    if isinstance(v, (float, np.floating)):
        return "" if not np.isfinite(v) else f"{float(v):.6g}"
    if isinstance(v, (bool, np.bool_)):
        return "1" if v else "0"
    return str(v)


def read_report(path: str | Path) -> tuple[dict, dict[str, np.ndarray]]:
    """A report.json and its per_image.csv read back: (report, {column: array}); numeric
    columns are float arrays with NaN for empty cells."""
    path = Path(path)
    if path.is_dir():
        path = path / "report.json"
    if not path.is_file():
        raise DenseFaceError("report file does not exist", path=path)
    try:
        report = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise DenseFaceError(f"not a JSON report ({type(e).__name__})", path=path) from None
    if not isinstance(report, dict) or "per_image" not in report:
        raise DenseFaceError("not an evaluation report (no 'per_image' entry)", path=path)
    csv_path = path.parent / str(report["per_image"])
    if not csv_path.is_file():
        raise DenseFaceError("the report's per-image table is missing", path=csv_path)
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or "nme" not in rows[0]:
        raise DenseFaceError("per-image table has no 'nme' column", path=csv_path)
    cols: dict[str, np.ndarray] = {}
    for key in rows[0]:
        vals = [r[key] for r in rows]
        try:
            cols[key] = np.array([float(v) if v != "" else np.nan for v in vals])
        except ValueError:
            cols[key] = np.array(vals)
    return report, cols


def fmt(x, digits: int = 2) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def _published(v: float) -> str:
    """A published number as printed in its source (2 or 3 decimals)."""
    return f"{v:.2f}" if abs(round(v, 2) - v) < 1e-9 else f"{v:.3f}"


def nme_table(rows, ours: list[tuple[str, list[float], float, float]]) -> str:
    """Markdown table: published rows (name, b1, b2, b3, mean[, all-image]) then ours (name, bins,
    balanced, all-image)."""
    lines = ["| Method | 0–30 | 30–60 | 60–90 | balanced (mean of bins) | all images |",
             "|---|---|---|---|---|---|"]
    for name, a, b, c, mean, *all_img in rows:
        cells = " | ".join(_published(v) for v in (a, b, c, mean, *all_img[:1]))
        lines.append(f"| {name} | {cells} |" + ("" if all_img else " |"))
    for name, bins, balanced, all_img in ours:
        lines.append(f"| **{name}** | " + " | ".join(f"**{fmt(v)}**" for v in bins)
                     + f" | **{fmt(balanced)}** | {fmt(all_img)} |")
    return "\n".join(lines)
