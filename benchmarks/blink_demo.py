"""The blink and mouth demo: a clip of one face made from real photos, through ``denseface predict``.

The clip (denseface.eval.photo_clip.blink_clip): three 300-W photos of one man from one HELEN
series (eyes open; his right eye shut; a shout), held and cross-faded at 25 fps, the face kept
in place by a similarity of its stable human points. No pixel of a face is edited. Each frame's
ground truth is the human annotation of the photo it shows most of.

It runs ``denseface predict CLIP --expression`` (the default tracking and smoothing) and the same
with ``--no-smooth``, reads the per-frame readouts from the JSON Lines, finds the events
(denseface.infer.events: an eye closed from below 0.15 until back above 0.2, a mouth open from
above 0.5 until back below 0.35) and scores them against the ground truth's events (the same
rule on the human readouts): per true event the IoU and the start and end delays in frames.

    python benchmarks/blink_demo.py

Writes benchmarks/results/blink_demo.json, docs/img/blink_demo.png (the readouts over the clip)
and the blink_demo section of docs/video.md. The photos fall under the iBUG 300-W terms
(research use only), so no frame of the clip is committed: only the plot of its readouts.
"""
from __future__ import annotations

import datetime
import json
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from denseface.cli.main import main as denseface_main  # noqa: E402
from denseface.eval.photo_clip import BLINK_PHOTOS, BLINK_SHOTS, blink_clip, score_events  # noqa: E402
from denseface.eval.report import clean, write_doc_section  # noqa: E402
from denseface.infer.events import (DETECTORS, READOUTS, readouts_from_jsonl, threshold_events,  # noqa: E402
                                    video_events)
from denseface.paths import shared_path  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "blink_demo.json"
PLOT = ROOT / "docs" / "img" / "blink_demo.png"
DOC = ROOT / "docs" / "video.md"
RUNS = {"default": [], "no_smooth": ["--no-smooth"]}


def predict_clip(clip: Path, out: Path, extra: list[str]) -> Path:
    rc = denseface_main(["predict", str(clip), "--out", str(out), "--quiet", "--expression", *extra])
    if rc != 0:
        raise SystemExit(f"denseface predict {clip} failed ({rc})")
    return out / f"{clip.stem}.jsonl"


def expression_series(jsonl: Path) -> np.ndarray:
    """(T, 10) the main face's expression coefficients per frame (NaN without a face)."""
    rows = [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]
    return np.array([r["faces"][0]["expression"] if r["faces"] else [np.nan] * 10 for r in rows], np.float64)


def plot(report: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.array(report["time"])
    run = report["runs"]["default"]
    fig, axes = plt.subplots(3, 1, figsize=(9, 7.2), sharex=True, gridspec_kw={"height_ratios": [3, 2, 2]})
    panels = ((axes[0], ("eye_open_right", "eye_open_left"), "eye aspect ratio"),
              (axes[1], ("mouth_open",), "inner-lip opening"))
    colours = {"eye_open_right": "tab:red", "eye_open_left": "tab:blue", "mouth_open": "tab:green"}
    for ax, keys, label in panels:
        for k in keys:
            c = colours[k]
            for a, b in report["truth_events"][k]:
                ax.axvspan(t[a], t[b - 1], color=c, alpha=0.12, lw=0)
            ax.step(t, report["truth"][k], where="mid", color=c, lw=1, ls=":", label=f"{k}, human points")
            ax.plot(t, report["runs"]["no_smooth"]["readouts"][k], color=c, lw=0.8, alpha=0.5,
                    label=f"{k}, --no-smooth")
            ax.plot(t, run["readouts"][k], color=c, lw=1.8, label=f"{k}, predict (default)")
            for a, b in run["events"][k]:
                ax.plot([t[a], t[b - 1]], [ax.get_ylim()[0]] * 2, color=c, lw=5, solid_capstyle="butt")
            rule = DETECTORS[k]
            for v in (rule.enter, rule.leave):
                ax.axhline(v, color="grey", lw=0.6, ls="--")
        ax.set_ylabel(label)
        ax.legend(fontsize=7, loc="upper right", ncol=1)
    exp = np.array(run["expression"], np.float64)
    for j in range(3):
        axes[2].plot(t, exp[:, j], lw=1.2, label=f"expression[{j}]")
    axes[2].set_ylabel("BFM coefficient")
    axes[2].legend(fontsize=7, loc="upper right")
    axes[2].set_xlabel("time (s); shaded: the photo shown has the event by its human points; bars: events found")
    axes[0].set_title("denseface predict on a clip of real photos of one face (25 fps)", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


#: The events' names in the table.
EVENT_NAMES = {"eye_open_left": "left eye closed", "eye_open_right": "right eye closed", "mouth_open": "mouth open"}


def cells(events: list[dict], key: str) -> str:
    """One table cell: each true event's IoU or delay, comma-separated ("-" where none)."""
    out = ["-" if e.get(key) is None else f"{e[key]:.2f}" if key == "iou" else f"{e[key]:+d}" for e in events]
    return ", ".join(out) or "-"


def markdown(report: dict) -> str:
    rows = ["| run | event | true events | found | false | IoU (each) | start delay, frames (each) "
            "| end delay, frames (each) | frames agreeing |", "|---" * 9 + "|"]
    for name, run in report["runs"].items():
        for k in READOUTS:
            s = run["scores"][k]
            ev = s["events"]
            rows.append(f"| `{' '.join(['predict'] + RUNS[name])}` | {EVENT_NAMES[k]} | {len(ev)} | "
                        f"{s['matched']} | {len(s['false'])} | {cells(ev, 'iou')} | {cells(ev, 'start_delay')} | "
                        f"{cells(ev, 'end_delay')} | {100 * s['frame_agreement']:.1f} % |")
    shots = ", ".join(f"{k} {n}" for k, n in BLINK_SHOTS)
    return "\n".join([
        f"Clip: {report['frames']} frames at {report['fps']:g} fps, shots (frames held, 2-frame cross-fades "
        f"between): {shots}; photos (data/w300_afw_helen): "
        + ", ".join(f"{k} = `{v}`" for k, v in BLINK_PHOTOS.items())
        + f". Generated by `benchmarks/blink_demo.py` on {report['date']} (benchmarks/results/blink_demo.json).",
        "", "![readouts over the clip](img/blink_demo.png)", "", *rows, "",
        "Frames agreeing: outside the cross-fades. A delay of +2 frames is 80 ms at 25 fps. "
        + false_events_note(report)])


def false_events_note(report: dict) -> str:
    """Where the false events lie: on cross-fade frames (two faces blended) or not."""
    fading = np.array(report["fading"], bool)
    notes = []
    for name, run in report["runs"].items():
        for k in READOUTS:
            for a, b in run["scores"][k]["false"]:
                where = "a cross-fade frame" if fading[a:b].all() else "frames showing one photo"
                notes.append(f"`{' '.join(['predict'] + RUNS[name])}` {k} frames {a}-{b - 1} ({where})")
    return ("False events: " + "; ".join(notes) + ".") if notes else "No false events."


def main() -> int:
    folder = shared_path("data", "w300_afw_helen")
    with tempfile.TemporaryDirectory() as tmp:
        clip = blink_clip(folder, Path(tmp) / "blink_clip.mp4")
        n = len(clip.weights)
        truth = {k: clip.frame_truth(k) for k in READOUTS}
        truth_events = {k: threshold_events(truth[k], DETECTORS[k]) for k in READOUTS}
        runs = {}
        for name, extra in RUNS.items():
            jsonl = predict_clip(clip.path, Path(tmp) / name, extra)
            readouts = readouts_from_jsonl(jsonl)
            events = video_events(readouts)
            runs[name] = {"readouts": {k: readouts[k] for k in READOUTS}, "events": events,
                          "expression": expression_series(jsonl),
                          "scores": {k: score_events(events[k], truth_events[k], n, clip.fading) for k in READOUTS}}
    report = {"date": datetime.date.today().isoformat(), "fps": clip.fps, "frames": n,
              "photos": BLINK_PHOTOS, "shots": BLINK_SHOTS, "fade_frames": 2,
              "detectors": {k: vars(r) for k, r in DETECTORS.items()},
              "truth_per_photo": {k: dict(zip(clip.keys, v)) for k, v in clip.truth.items()},
              "time": np.arange(n) / clip.fps, "truth": truth, "truth_events": truth_events,
              "fading": clip.fading, "runs": runs}
    RESULTS.write_text(json.dumps(clean(report)) + "\n")
    report = json.loads(RESULTS.read_text())
    plot(report, PLOT)
    text = markdown(report)
    print(text)
    write_doc_section(DOC, "blink_demo", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
