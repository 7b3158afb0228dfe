"""The shipped model family's tables in README.md and docs/MODEL_CARD.md, as Markdown from the
models' measured figures (denseface/weights/<name>.json, through the registry) and the saved
benchmark results (benchmarks/model_family.py measures them and renders these)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.human68 import held_out_photos, read_labels
from ..landmarks.ibug68 import GROUPS_68
from ..models.registry import DEFAULT_MODEL, MODELS
from ..paths import shared_path
from .published import PAPER_TABLE1, TEACHER_ROW
from .w300 import scores


def _f(v, d=2) -> str:
    """A figure with d decimals, or a dash."""
    return "–" if v is None else f"{v:.{d}f}"


def table(teacher: dict) -> str:
    """The family's AFLW2000-3D table beside the published rows and the teacher (its measured
    figures: benchmarks/results/teacher.json, or {})."""
    rows = ["| AFLW2000-3D NME (%), ground-truth boxes | 0–30 | 30–60 | 60–90 | balanced | balanced, flip-averaged "
            "(predict's default) | aflw_pl val NME21 (flip-averaged) | network ms (1 thread, 1 pass) |",
            "|---|---|---|---|---|---|---|---|"]
    for name, e in MODELS.items():
        r = e.results()
        if not r:
            continue
        mark = " (default)" if name == DEFAULT_MODEL else ""
        rows.append(f"| **{name}**{mark}: {e.summary} | " + " | ".join(_f(v) for v in r["aflw2000_bins"])
                    + f" | **{_f(r['aflw2000_balanced'])}** | **{_f(r.get('aflw2000_balanced_flip'))}** | "
                    f"{_f(r['val_nme21'], 3)} ({_f(r.get('val_nme21_flip'), 3)}) | {_f(r['network_ms'])} |")
    for label, *bins, bal in PAPER_TABLE1:
        if "Basak" in label or "3DDFA-V2" in label or "SynergyNet" in label:
            rows.append(f"| {label}, published | " + " | ".join(_f(v) for v in bins) + f" | {_f(bal)} | – | – | – |")
    label, *bins, bal, _ = TEACHER_ROW
    rows.append("| teacher 3DDFA-V2 mb05, measured (its fits are aflw_pl's labels) | "
                + " | ".join(_f(v) for v in bins) + f" | {_f(bal)} | – | {_f(teacher.get('val_nme21_labels'), 3)} "
                f"| {_f(teacher.get('network_ms'))} |")
    return "\n".join(rows)


def peers_w300(path: Path) -> dict[str, dict]:
    """The peers' inter-ocular NME on the same held-out 300-W faces as ours, from the peers
    benchmark's per-image predictions (benchmarks/peers.py -> results/peers_w300.npz at path)."""
    if not path.exists():
        return {}
    labels = read_labels(shared_path("data", "w300_afw_helen"))
    held = held_out_photos(labels["source"])
    with np.load(path, allow_pickle=False) as d:
        arrays = {k: d[k] for k in d.files}
    if not np.array_equal(arrays["names"], labels["names"]):
        return {}
    truth = labels["pts68"][held].astype(np.float64)
    subsets = {k: np.array([str(n).startswith(f"{k}_") for n in labels["names"][held]]) for k in ("afw", "helen")}
    out = {}
    for key in arrays:
        if key.endswith("_pred68"):
            pred = arrays[key][held].astype(np.float64)
            found = arrays[key.replace("_pred68", "_found")][held].astype(bool)
            pred[~found] = np.nan
            out[key[:-len("_pred68")]] = scores(pred, truth, subsets) | {"found": float(found.mean())}
    return out


W300_PEER_LABELS = {"mediapipe_own": "MediaPipe Face Mesh 0.10.21, its own detector (468 -> 68, docs/peers.md)",
                    "mediapipe_crop": "MediaPipe Face Mesh 0.10.21, given the crop as its region",
                    "dlib_own": "dlib 68-point predictor, its own detector (trained on these images: not a fair peer)"}


def w300_table(peers: dict[str, dict]) -> str:
    """Held-out 300-W: each model's two 68-point conventions beside the peers (peers_w300)."""
    rows = ["| held-out 300-W photos, inter-ocular NME (%) | faces | NME | " + " | ".join(GROUPS_68)
            + " | AFW | HELEN |", "|---|---|---|" + "---|" * (len(GROUPS_68) + 2)]

    def row(label, s, bold=False):
        nme = f"**{s['nme']:.2f}**" if bold else f"{s['nme']:.2f}"
        return (f"| {label} | {s['n']} | {nme} | " + " | ".join(f"{s['parts'][k]:.2f}" for k in GROUPS_68)
                + " | " + " | ".join(f"{s['subsets'][k]:.2f}" for k in ("afw", "helen")) + " |")

    for name, e in MODELS.items():
        r = e.results()
        for conv in ("landmarks68_300w", "landmarks68"):
            if f"w300_{conv}" in r:
                what = "human convention" if conv.endswith("300w") else "3D convention"
                rows.append(row(f"{name} `{conv}` ({what})", r[f"w300_{conv}"], conv.endswith("300w")))
    for key, s in peers.items():
        rows.append(row(W300_PEER_LABELS.get(key, key), s))
    return "\n".join(rows)


def detector_table() -> str:
    """AFLW2000-3D through the default detector: faces found and NME per yaw bin."""
    rows = ["| AFLW2000-3D through `denseface predict`'s code | detector | found 0–30 / 30–60 / 60–90 | NME 0–30 / 30–60 / 60–90 | balanced |",
            "|---|---|---|---|---|"]
    for name, e in MODELS.items():
        r = e.results()
        if "detector" not in r:
            continue
        found = " / ".join(f"{100 * v:.1f}" for v in r["detector_found_bins"])
        rows.append(f"| {name} | {r['detector']} | {found} % | " + " / ".join(_f(v) for v in r["detector_bins"])
                    + f" | {_f(r['detector_balanced'])} |")
    return "\n".join(rows)


def ranks_table(d: dict) -> str:
    """MODEL_CARD's head-rank table from benchmarks/results/head_ranks.json (the head-ranks run)."""
    rows = [f"_Generated by `python benchmarks/model_family.py head-ranks {d['checkpoint']}` "
            f"({d['backbone']}; ONNX Runtime, 1 thread, batch 1, interleaved with the teacher's network)._", "",
            "| head | aflw_pl val NME21 | val NME68 vs labels | ONNX MB | network ms | x teacher |",
            "|---|---|---|---|---|---|"]
    for r in d["rows"]:
        head = "full" if not r["rank"] else f"rank {r['rank']}"
        rows.append(f"| {head} | {r['nme21']:.3f} | {r['nme68']:.3f} | {r['onnx_mb']:.1f} | "
                    f"{r['network_ms']:.2f} | {r['ratio_to_teacher']:.2f} |")
    return "\n".join(rows)
