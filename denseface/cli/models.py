"""`denseface models`: the shipped model family with its measured accuracy and speed."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser(
        "models", help="list the shipped models with their accuracy and speed",
        description="The shipped models (use a name with --model or DenseFace(model=NAME)). "
                    "Figures come from denseface/weights/<name>.json, written by "
                    "benchmarks/model_family.py.")
    p.set_defaults(func=run)


def _fmt(v, digits: int = 2) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def run(args) -> int:
    from ..models.registry import DEFAULT_MODEL, MODELS

    rows = [("name", "backbone", "MB", "val NME21", "AFLW2000-3D", "network ms", "")]
    for name, e in MODELS.items():
        r = e.results()
        size = e.onnx_path.stat().st_size / 1e6 if e.onnx_path.is_file() else None
        rows.append((name, e.backbone, _fmt(size, 1), _fmt(r.get("val_nme21"), 3),
                     _fmt(r.get("aflw2000_balanced"), 2), _fmt(r.get("network_ms"), 2),
                     "(default)" if name == DEFAULT_MODEL else ""))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    print("\nval NME21: aflw_pl val, 21 human points (%); AFLW2000-3D: balanced NME (%), 3DDFA "
          "protocol, ground-truth boxes; network ms: ONNX Runtime, 1 thread, batch 1, 120 px. "
          "Details and licences: docs/MODEL_CARD.md.")
    for name, e in MODELS.items():
        print(f"{name}: {e.summary}. Initialisation: {e.initialisation}. Licence: {e.licence}.")
    return 0
