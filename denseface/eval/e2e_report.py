"""The e2e section of docs/predict.md and docs/detectors.md: a photo end to end, denseface beside
MediaPipe Face Mesh, as Markdown from benchmarks/results/e2e.json (benchmarks/bench_e2e.py times
it; ``--report-only`` renders the saved file again). Times in ms."""
from __future__ import annotations

import numpy as np

from ..infer.api import STAGES

#: The targets: denseface from the file within TARGET_RATIO x MediaPipe's wall time (one thread),
#: stretch STRETCH_RATIO; without MediaPipe in the run, TARGET_MS_WITHOUT_PEER ms a photo.
TARGET_RATIO = 1.25
STRETCH_RATIO = 1.0
TARGET_MS_WITHOUT_PEER = 10.0


def _median(rows: list[dict], key: str) -> float:
    """The median of one figure over the photos."""
    return float(np.median([r[key] for r in rows]))


def summary(s: dict) -> dict:
    """Median per-photo figures of one photo set."""
    dec = s["decoders"]
    imread = _median(dec, "imread")
    out = {"imread": imread, "checks": _median(dec, "checks"), "denseface": {}}
    for label, rows in s["denseface"].items():
        d = {k: _median(rows, k) for k in ("read_image", *STAGES, "total", "cpu_total")}
        d["array"] = float(np.median([r["total"] - r["read_image"] for r in rows]))
        d["faces"] = int(sum(r["faces"] for r in rows))
        out["denseface"][label] = d
    mp = s.get("mediapipe")
    if mp:
        out["mediapipe"] = {"end_to_end": _median(mp, "end_to_end"), "detect": _median(mp, "detect"),
                            "landmarks": _median(mp, "landmarks"),
                            "decode": _median(mp, "decode"),
                            "from_file": float(np.median([m["end_to_end"] + m["decode"] for m in mp])),
                            "cpu_from_file": _median(mp, "cpu_from_file"),
                            "faces": int(sum(r["faces"] for r in mp))}
    return out


def e2e_intro(r: dict, cfg: dict) -> list[str]:
    """The e2e section's opening paragraph: how it was timed, the default configuration."""
    return [f"One thread, one pinned core (ONNX Runtime, OpenCV and the detector at 1 thread; MediaPipe's "
            f"worker pinned to the same core), {r['rounds']} rounds taking turns, per photo the median over "
            f"rounds, then the median over photos (ms). Shared 2-core machine (1-minute load average "
            f"{r['machine']['load_average']}-{r['load_average_end']}, {r['machine']['date']}): read the "
            f"ratios. Default: detector `{cfg['detector']}` with the cascade ({cfg['cascade_side']} px, then "
            f"{cfg['detect_max_side']} px unless one face >= {cfg['cascade_min_face_px']:g} px), "
            f"{cfg['passes']} passes, tta `{cfg['tta']}`. From the file = decode included "
            "(MediaPipe: `cv2.imread` + RGB, then its Face Mesh call); decoded = from the RGB "
            "array. Stages of denseface: decode = `read_image` (file, header checks, JPEG decode), "
            "detect, crop, network, eyes (the eye stage), points + pose (network output -> image pixels, head pose). CPU ms: "
            "the process's CPU time from the file to the faces (MediaPipe: every thread of its worker); "
            "on a loaded core the wall time of the longer calls grows with the preemptions they suffer, "
            "which CPU time leaves out.", ""]


def e2e_set_lines(set_name: str, s: dict, default: str) -> tuple[list[str], str]:
    """One photo set's table (denseface's configurations beside MediaPipe) and its target sentence."""
    sm = summary(s)
    mp = sm.get("mediapipe")
    lines = [f"**{set_name}**, {s['photos']} photos; `read_image`'s checks (file read, header) "
             f"{sm['checks']:.2f} ms, `cv2.imread` {sm['imread']:.2f} ms.", "",
             "| pipeline | from the file | decoded | x MediaPipe (file) | x MediaPipe (decoded) | CPU ms (file) | "
             "x MediaPipe (CPU) | decode | detect | crop | network | eyes | points + pose | faces found |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for label, d in sm["denseface"].items():
        rf = f"{d['total'] / mp['from_file']:.2f}" if mp else "-"
        ra = f"{d['array'] / mp['end_to_end']:.2f}" if mp else "-"
        rc = f"{d['cpu_total'] / mp['cpu_from_file']:.2f}" if mp and mp.get("cpu_from_file") else "-"
        name = f"**denseface {label}**" if label == default else f"denseface {label}"
        lines.append(f"| {name} | {d['total']:.2f} | {d['array']:.2f} | {rf} | {ra} | {d['cpu_total']:.2f} | {rc} | "
                     f"{d['read_image']:.2f} | {d['detect']:.2f} | {d['crop']:.2f} | {d['network']:.2f} | "
                     f"{d.get('eyes', 0.0):.2f} | {d['decode']:.2f} | {d['faces']} |")
    if mp:
        lines.append(f"| MediaPipe Face Mesh 0.10.21 | {mp['from_file']:.2f} | {mp['end_to_end']:.2f} | 1.00 | "
                     f"1.00 | {mp['cpu_from_file']:.2f} | 1.00 | {mp['decode']:.2f} | {mp['detect']:.2f} (BlazeFace) | - | "
                     f"{mp['landmarks']:.2f} (468 points) | - | - | {mp['faces']} |")
        ratio = sm["denseface"][default]["total"] / mp["from_file"]
        cpu_ratio = sm["denseface"][default]["cpu_total"] / mp["cpu_from_file"]
        target = (f"{set_name}: {ratio:.2f}x MediaPipe from the file, wall "
                  f"({'within' if ratio <= TARGET_RATIO else 'NOT within'} the {TARGET_RATIO:g}x target, "
                  f"{'within' if ratio <= STRETCH_RATIO else 'not within'} the {STRETCH_RATIO:g}x stretch), "
                  f"{cpu_ratio:.2f}x in CPU time")
    else:
        total = sm["denseface"][default]["total"]
        lines.append(f"| MediaPipe Face Mesh | not measured: {s['mediapipe_missing']} | | | | | | | | | |")
        target = (f"{set_name}: {total:.2f} ms, no MediaPipe in this run (target "
                  f"{TARGET_MS_WITHOUT_PEER:g} ms: {'met' if total <= TARGET_MS_WITHOUT_PEER else 'NOT met'})")
    return lines + [""], target


def e2e_extras(r: dict) -> list[str]:
    """The large-JPEG and threads-study paragraphs, where the result has them."""
    lines: list[str] = []
    big = r.get("large_jpeg")
    if big:
        cells = "; ".join(f"{k} {v:.1f} ms" for k, v in big["ms"].items())
        lines += ["", f"Large JPEG ({big['size'][0]}x{big['size'][1]}, {big['file_mb']} MB, same pinned core): "
                  f"{cells}."]
    t = r.get("threads")
    if t:
        cells = "; ".join(f"threads={k}: {v['wall_ms']:.2f} ms wall, {v['cpu_ms']:.2f} ms CPU"
                          for k, v in t["settings"].items())
        lines += ["", f"Threads (`--threads-study`, not pinned, {t['photos']} photos of 640x480, {t['rounds']} "
                  f"rounds taking turns photo by photo, default configuration, from the file; load average "
                  f"{t['machine']['load_average']}-{t['load_average_end']}, {t['machine']['date']}): {cells} "
                  "per photo (median; CPU = the process, all threads)."]
    return lines


def e2e_markdown(r: dict) -> str:
    """The e2e section of docs/predict.md from the result file."""
    default = next(iter(r["configs"]))
    lines = e2e_intro(r, r["configs"][default])
    target_ok = []
    for set_name, s in r["sets"].items():
        set_lines, target = e2e_set_lines(set_name, s, default)
        lines += set_lines
        target_ok.append(target)
    lines.append(f"Target (<= {TARGET_RATIO:g}x MediaPipe, one thread, stretch <= {STRETCH_RATIO:g}x): "
                 + "; ".join(target_ok) + ".")
    lines += e2e_extras(r)
    return "\n".join(lines) + "\n"
