"""Face profiling report: cost per 1,000 faces, disk per 1,000 views, and a contact sheet.

  python benchmarks/profile_report.py            # -> benchmarks/results/profile.json,
                                                 #    docs/img/profile_sheet.jpg, docs/training.md

Cost: ``denseface.data.profile.profile_sources`` on 200 aflw_pl *val* crops with |yaw| < 45 (their
teacher fits), 3 views each, one worker, JPEG quality 95, measured together with a reference in the
same run (reading and re-encoding the same crops), since the machine is shared. The sheet shows,
per source face (first column), each view at fixed target yaws twice: as rendered, and with its
labels drawn (the 520 points in cyan, the 68 in green); aflw_pl val faces and 300-W train faces
(fitted to their human points).
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from denseface.data.profile import (ProfileConfig, Sources, fit_human68, profile_sources,  # noqa: E402
                                    profile_view, read_sources, source_pose)
from denseface.eval.report import write_doc_section  # noqa: E402
from denseface.landmarks import load_landmark_set  # noqa: E402
from denseface.mesh import load_bfm  # noqa: E402
from denseface.paths import shared_path  # noqa: E402

RESULT = ROOT / "benchmarks" / "results" / "profile.json"
SHEET = ROOT / "docs" / "img" / "profile_sheet.jpg"
DOC = ROOT / "docs" / "training.md"
SHEET_YAWS = (45.0, 65.0, 85.0)


def measure_cost(bfm, n: int, views: int) -> dict:
    sources = read_sources(shared_path("data", "aflw_pl", "val"), max_yaw=45.0, limit=n, seed=0)
    cfg = ProfileConfig(views=views)
    tmp = Path(tempfile.mkdtemp(prefix="profile_bench_"))
    try:
        t0 = time.perf_counter()
        for i, im in enumerate(sources.crops):        # reference: decode + re-encode each crop
            cv2.imencode(".jpg", cv2.imdecode(cv2.imencode(".jpg", im)[1], cv2.IMREAD_COLOR),
                         [cv2.IMWRITE_JPEG_QUALITY, cfg.jpeg_quality])
        ref = time.perf_counter() - t0
        t0 = time.perf_counter()
        table, _ = profile_sources(sources, tmp, bfm, cfg, seed=0, workers=1)
        sec = time.perf_counter() - t0
        size = sum((tmp / "images" / name).stat().st_size for name in table.names)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    faces, made = len(sources.table), len(table)
    return {"source_faces": faces, "views": made, "views_per_face": views, "workers": 1,
            "seconds": round(sec, 2), "seconds_per_1000_faces": round(1000 * sec / faces, 1),
            "seconds_per_1000_views": round(1000 * sec / made, 1),
            "mib_per_1000_views": round(size / made * 1000 / 2 ** 20, 2),
            "mib_per_1000_faces": round(size / faces * 1000 / 2 ** 20, 2),
            "reference_seconds": round(ref, 3), "ratio_to_reference": round(sec / ref, 1),
            "reference": "decode + JPEG re-encode of the same source crops"}


def draw(view_image: np.ndarray, fit, bfm, ids520: np.ndarray, scale: int = 2) -> np.ndarray:
    im = cv2.resize(view_image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    for ids, colour, r in ((ids520, (0, 220, 255), 1), (bfm.keypoints68, (40, 255, 40), 2)):
        for p in bfm.vertices(fit, ids)[:, :2]:
            c = (int(round((p[0] + 0.5) * scale - 0.5)), int(round((p[1] + 0.5) * scale - 0.5)))
            cv2.circle(im, c, r, colour, -1, cv2.LINE_AA)
    return im


def contact_sheet(bfm, sources: list[Sources]) -> np.ndarray:
    ids520 = load_landmark_set().vertex_ids
    rows = []
    for src in sources:
        for i in range(len(src.table)):
            crop, fit = src.crops[i], src.table.fit(i)
            side = crop.shape[0]
            yaw0 = source_pose(fit.camera)[0]
            sign = 1.0 if yaw0 >= 0 else -1.0
            cells = [cv2.resize(crop, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)]
            for y in SHEET_YAWS:
                v = profile_view(crop, fit, np.array([0.0, 0.0, side, side]), bfm, sign * y, 0.0,
                                 ProfileConfig(size=side))
                cells += [cv2.resize(v.image, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC),
                          draw(v.image, v.fit, bfm, ids520)]
            rows.append(np.concatenate(cells, 1))
    return np.concatenate(rows, 0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faces", type=int, default=200)
    ap.add_argument("--views", type=int, default=3)
    args = ap.parse_args()
    bfm = load_bfm()
    result = {"cost": measure_cost(bfm, args.faces, args.views)}
    aflw = read_sources(shared_path("data", "aflw_pl", "val"), max_yaw=40.0, limit=5, seed=3)
    t0 = time.perf_counter()
    w300, fit_summary = fit_human68(shared_path("data", "w300_afw_helen"), bfm)
    fit_summary["seconds_with_teacher"] = round(time.perf_counter() - t0, 1)
    pick = np.random.default_rng(1).choice(np.flatnonzero(np.abs(w300.table.yaw) < 30), 3, replace=False)
    w300 = Sources(w300.crops[pick], w300.table.subset(pick))
    sheet = contact_sheet(bfm, [aflw, w300])
    SHEET.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(SHEET), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80])
    result["sheet"] = {"path": str(SHEET.relative_to(ROOT)), "aflw_pl_val": aflw.table.names.tolist(),
                       "w300_train": w300.table.names.tolist(), "yaws": list(SHEET_YAWS)}
    result["w300_train_fit"] = fit_summary
    RESULT.write_text(json.dumps(result, indent=2))
    c = result["cost"]
    f = fit_summary
    write_doc_section(DOC, "profile", "\n".join([
        f"Measured by `benchmarks/profile_report.py` (`{RESULT.relative_to(ROOT)}`) on {c['source_faces']} "
        f"aflw_pl val crops, {c['views_per_face']} views each, one worker of a shared 2-core machine:",
        "",
        "| per 1,000 source faces | per 1,000 views |",
        "|---|---|",
        f"| {c['seconds_per_1000_faces']:.0f} s, {c['mib_per_1000_faces']:.1f} MiB "
        f"| {c['seconds_per_1000_views']:.0f} s, {c['mib_per_1000_views']:.1f} MiB |",
        "",
        f"(That is {c['ratio_to_reference']:.0f}x the time of decoding and re-encoding the same crops, "
        "measured in the same run.) Fitting the 300-W train faces to their human points (teacher, "
        f"then the refiner; the jaw within 15 degrees of frontal) took {f['seconds_with_teacher']:.0f} s "
        f"for {f['images']} faces (reading them included): mean residual over the fitted points "
        f"{f['residual_init_px']:.2f} -> "
        f"{f['residual_px']:.2f} px (120-px crops).",
    ]))
    print(json.dumps(result["cost"], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
