"""Evaluation outputs: report.json (fixed schema), per_image.csv, details.json, predictions.npz,
and the Markdown of the reports (report.md; the published numbers they quote live in
denseface.eval.published)."""
from __future__ import annotations

import csv
import json
import math
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DenseFaceError, OutputError
from ..io.files import atomic_output, atomic_write

#: The keys of report.json, in order (issue 4's schema).
REPORT_KEYS = ("model", "protocol", "n", "nme_bins", "nme_balanced", "nme_all",
               "nme_reannotated_balanced", "nme_3d_balanced", "per_image")
PER_IMAGE_CSV = "per_image.csv"
#: The teacher 3DDFA-V2 mb05's name in every report.
TEACHER = "teacher"
#: Titles of the dense benchmark's measures (denseface.eval.dense.MEASURES).
MEASURE_NAMES = {
    "p520_2d": "520 points, 2D NME", "p520_3d": "520 points, 3D NME",
    "p68_2d": "68 subset vs pt3d_68, 2D NME", "face_2d": "face region (38,191 vertices), 2D NME",
    "face_3d": "face region, 3D NME", "face_3d_lit": "face region, 3D NME, normalised by the face-region box",
}

def doc_section_problem(body: str, name: str) -> str | None:
    """Why the generated section ``name`` of a Markdown text cannot be replaced in place (None:
    it can, or it is absent): every line ``<!-- name:... -->`` must be exactly one start marker
    followed by one end marker, so a block is replaced, never appended beside a stale one."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    marks = re.findall(rf"<!-- {re.escape(name)}:[^>]*-->", body)
    if not marks or marks == [start, end]:
        return None
    return (f"the generated section '{name}' needs exactly one '{start}' followed by one '{end}', "
            f"found {', '.join(marks)}: remove the stale block by hand")


def write_doc_section(doc: str | Path, name: str, text: str) -> Path:
    """Put ``text`` into the generated section ``name`` of a Markdown file: everything between
    the lines ``<!-- name:start -->`` and ``<!-- name:end -->`` is replaced (the text's leading
    and trailing blank lines dropped); a file without any marker of ``name`` gets the section
    appended; a file with stray, duplicate or misordered markers of ``name`` is refused
    (DenseFaceError, nothing written: :func:`doc_section_problem`). The one way benchmark
    scripts write the figures the docs quote; written atomically."""
    doc = Path(doc)
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    body = doc.read_text() if doc.exists() else ""
    problem = doc_section_problem(body, name)
    if problem is not None:
        raise DenseFaceError(problem, path=doc)
    block = f"{start}\n{text.strip(chr(10))}\n{end}"
    if start in body:
        body = body[:body.index(start)] + block + body[body.index(end) + len(end):]
    else:
        body = body.rstrip() + "\n\n" + block + "\n"
    return atomic_write(doc, body)


def machine() -> dict:
    """The measuring machine as every benchmark result file states it: date, CPU count and the
    1-minute load average when the run started (speed figures are ratios in one run)."""
    return {"date": time.strftime("%Y-%m-%d %H:%M"), "cpus": os.cpu_count(),
            "load_average": round(os.getloadavg()[0], 1)}


def write_json(path: str | Path, data) -> Path:
    """A benchmark's result file (compact JSON), written atomically; its folder is made."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, json.dumps(data))


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
class BenchmarkResult:
    """The one result type of every benchmark (denseface.eval.protocol): report: the
    report.json dict, as written (the 68-point protocols: REPORT_KEYS); columns: per-image
    columns (equal lengths) for per_image.csv; markdown: report.md text; arrays: saved to
    predictions.npz (none: no file); details: details.json (None: no file); summary: the lines
    ``denseface eval`` prints; problems: the lines it prints to stderr (images skipped, faces
    not found); partial: some images could not be scored (exit code EXIT_PARTIAL); extras:
    what another benchmark may reuse (not written)."""

    report: dict
    columns: dict
    markdown: str
    arrays: dict = field(default_factory=dict)
    details: dict | None = None
    summary: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    partial: bool = False
    extras: dict = field(default_factory=dict)


def write_result(result: BenchmarkResult, out_dir: str | Path, predictions: bool = True) -> Path:
    """The one writer of a benchmark's files, each written atomically into ``out_dir``:
    report.json, report.md, per_image.csv, and details.json / predictions.npz when the result
    has them (``predictions`` False: no predictions.npz)."""
    return _write_files(out_dir, result.report, result.markdown, result.columns,
                              result.arrays if predictions else None, details=result.details)


def _write_files(out_dir: str | Path, report: dict, markdown: str, columns: dict,
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


# ------------------------------------------------------------------ the dense report
def method_title(label: str, kind: str) -> str:
    """Row titles of the dense report's tables."""
    if label == TEACHER:
        return {"points": "teacher 3DDFA-V2 mb05: 520 vertices of its own mesh",
                "mesh": "teacher 3DDFA-V2 mb05: its own full mesh (62 parameters)"}[kind]
    if label == f"{TEACHER}_refit":
        return "control: mesh fitted to the teacher's 520 points (point_fit)"
    return {"points": f"{label}: its 520 points", "mesh": f"{label}: full mesh fitted to its 520 points"}[kind]


def _rows_for(report: dict, measure: str) -> list[str]:
    rows = []
    for label, r in report["methods"].items():
        if measure not in r:
            continue
        kind = "points" if measure.startswith("p") else "mesh"
        s = r[measure]
        rows.append(f"| {method_title(label, kind)} | " + " | ".join(fmt(v) for v in s["bins"])
                    + f" | **{fmt(s['balanced'])}** | {fmt(s['all'])} |")
    return rows


def dense_markdown(report: dict) -> str:
    """report.md of the dense benchmark (denseface.eval.dense) from its report.json dict."""
    head = "| method | 0–30 | 30–60 | 60–90 | balanced | all |\n|---|---|---|---|---|---|"
    lines = _dense_header(report)
    for m in ("p520_2d", "p520_3d", "face_2d", "face_3d", "p68_2d", "face_3d_lit"):
        rows = _rows_for(report, m)
        if rows:
            lines += [f"## {MEASURE_NAMES[m]} (%)", "", head, *rows, ""]
    return "\n".join(lines + _mesh_vs_teacher(report) + _dense_footer(report))


def _dense_header(report: dict) -> list[str]:
    """The dense report's title, protocol and the quality of its pseudo ground truth."""
    q = report["gt_quality"]
    return [
        "# AFLW2000-3D dense alignment", "",
        f"Protocol: {report['protocol']}.", "",
        f"Images: {report['n']} (bins {' / '.join(str(c) for c in report['bin_counts'])}). Point sets: "
        f"{report['point_sets']['p520']}; face region = {report['point_sets']['face']}.", "",
        "## How good is the pseudo ground truth", "",
        "The ground truth here is the 3DMM fit each .mat holds (40 shape + 10 expression coefficients of "
        "our BFM), not a scan. Its 68 keypoint vertices against the annotated pt3d_68:", "",
        "| | 0–30 | 30–60 | 60–90 | balanced | all |", "|---|---|---|---|---|---|",
        "| 2D NME (%) of the fit's 68 vertices vs pt3d_68 | " + " | ".join(fmt(v) for v in q["nme_2d_bins"])
        + f" | {fmt(q['nme_2d_balanced'])} | {fmt(q['nme_2d_all'])} |", "",
        f"Point distance: median {fmt(q['median_px'])} px, mean {fmt(q['mean_px'])} px (per-image mean: "
        f"median {fmt(q['median_per_image_mean_px'])} px); mean signed offset "
        f"({fmt(q['mean_offset_px'][0])}, {fmt(q['mean_offset_px'][1])}) px, so the frames agree "
        "(a 1-px frame error would show as ≈ −1 or +1 here); 3D NME "
        f"{fmt(q['nme_3d_all'])} %. Numbers below 1–1.5 % NME measure the fit's own noise as much as the "
        "method.", "",
    ]


def _mesh_vs_teacher(report: dict) -> list[str]:
    """The dense report's table of each model's fitted mesh minus the teacher's."""
    ms, lines = report["methods"], []
    if TEACHER in ms and report["models"]:
        lines += ["## Full mesh from the 520 points vs the teacher's full mesh", "",
                  "Differences in NME points (model − teacher; negative = the model is better), face "
                  "region for the meshes and the 520 points for comparison. The target: the fitted mesh "
                  "within +0.3 of the teacher's mesh where the 520 points are comparable, below it where "
                  "the model's 520 points beat the teacher's.", "",
                  "| model | measure | 0–30 | 30–60 | 60–90 | balanced |", "|---|---|---|---|---|---|"]
        for name in report["models"]:
            for a, b, title in (("face_2d", "face_2d", "mesh, 2D"), ("p520_2d", "p520_2d", "520 points, 2D"),
                                ("face_3d", "face_3d", "mesh, 3D"), ("p520_3d", "p520_3d", "520 points, 3D")):
                if a in ms.get(name, {}) and b in ms[TEACHER]:
                    d = [x - y for x, y in zip(ms[name][a]["bins"], ms[TEACHER][b]["bins"])]
                    lines.append(f"| {name} | {title} | " + " | ".join(f"{v:+.2f}" for v in d)
                                 + f" | {ms[name][a]['balanced'] - ms[TEACHER][b]['balanced']:+.2f} |")
        lines.append("")
    return lines


def _dense_footer(report: dict) -> list[str]:
    """The dense report's full-mesh cost, point fit and published figures."""
    lines = []
    if "full_mesh_cost" in report:
        c = report["full_mesh_cost"]
        lines += [f"Full-mesh cost (`denseface.mesh.point_fit.full_mesh`: fit + the 53,215-vertex mesh, "
                  f"{c['threads']} thread, {c['faces']} faces of {c['model']}): median **{c['median_ms']:.2f} ms** "
                  f"per face (min {c['min_ms']:.2f}, p90 {c['p90_ms']:.2f}; fit {c['fit_median_ms']:.2f} + mesh "
                  f"{c['mesh_median_ms']:.2f} ms), measured at a load average of {c['load_average_1min']:.1f} "
                  "on the shared 2-core machine.", ""]
    pf = report["point_fit"]
    lines += [
        "Full mesh from the 520 points: `denseface.mesh.point_fit` (BFM 40 + 10 coefficients and a 3x4 "
        f"affine camera, damped Gauss-Newton, prior {pf['prior']:g}, z weight {pf['z_weight']:g}); fit time "
        "per face in this run (1 thread, incl. Python overhead): "
        + ", ".join(f"{k} {v:.2f} ms" for k, v in pf["fit_ms_per_face"].items()) + ". The control row "
        "fits the teacher's own 520 points: its distance to the teacher's mesh is the fitter's error alone.", "",
        "## Published dense-alignment figures (not the same protocol)", "",
        "| method | NME (%) | type | source |", "|---|---|---|---|",
        *[f"| {p['method']} | {p['nme']:.2f} | {p['type']} | {p['source']} |" for p in report["published"]],
        "",
        "PRNet (Feng et al., ECCV 2018), which introduced this protocol (dense alignment of the face "
        "region, 2D and 3D, AFLW2000-3D), gives its dense NMEs only in the legends of its CED figures; "
        "they could not be retrieved as text here and are left out rather than quoted from memory.", "",
        "How their protocol differs from ours: ground truth = the same AFLW2000-3D fits but with all 199 "
        "shape + 29 expression coefficients of the full BFM (face3d), rendered into PRNet's 256x256 UV position "
        "map; point set = the 43,867 face-mask *pixels* of that map (interpolated surface points) rather than "
        "our 38,191 mask *vertices*; crop = their own 256-px crop (1.5 x the fitted keypoints' box); 3D "
        "NME with z mean-centred on both sides, like ours, but normalised by sqrt(w*h) of the 2D box of the "
        "ground-truth *face-region* points, not of the 68 points (our `face_3d_lit` row uses that "
        "normaliser; the face-region box is about 1.2 x larger, so those numbers read lower). See "
        "docs/evaluation.md.", "",
        f"Wall time {report['seconds']:.0f} s. Per-image values: `{report['per_image']}`.", "",
    ]
    return lines
