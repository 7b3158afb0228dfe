"""`denseface models`: the shipped model family with its measured accuracy and speed."""
from __future__ import annotations


HELP = "list the shipped models with their accuracy and speed"


def register(sub) -> None:
    p = sub.add_parser(
        "models", help=HELP,
        description="The shipped models (use a name with --model or DenseFace(model=NAME)). "
                    "Figures come from denseface/weights/<name>.json, written by "
                    "benchmarks/model_family.py.")
    p.set_defaults(func=cmd_models)


def _fmt(v, digits: int = 2) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def model_card_location() -> str:
    """Where the user can read the details: the model card of the source checkout when denseface
    runs from one, else the installed results files (docs/ is not part of an installed package)."""
    from ..models.registry import WEIGHTS_DIR
    from ..paths import PACKAGE_DIR

    card = PACKAGE_DIR.parent / "docs" / "MODEL_CARD.md"
    if card.is_file():
        return f"{card} (recipes, every table, limits, licences)"
    return (f"{WEIGHTS_DIR}/<name>.json (installed with the package; the full model card is "
            "docs/MODEL_CARD.md of the denseface source)")


def cmd_models(args) -> int:
    from ..models.registry import DEFAULT_MODEL, MODELS

    rows = [("name", "backbone", "MB", "val NME21", "AFLW2000-3D", "+flip", "300-W", "network ms", "")]
    for name, e in MODELS.items():
        r = e.results()
        size = e.onnx_path.stat().st_size / 1e6 if e.onnx_path.is_file() else None
        rows.append((name, e.backbone, _fmt(size, 1), _fmt(r.get("val_nme21"), 3),
                     _fmt(r.get("aflw2000_balanced"), 2), _fmt(r.get("aflw2000_balanced_flip"), 2),
                     _fmt(r.get("w300_landmarks68_300w", {}).get("nme"), 2), _fmt(r.get("network_ms"), 2),
                     "(default)" if name == DEFAULT_MODEL else ""))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    print("\nval NME21: aflw_pl val, 21 human points (%); AFLW2000-3D: balanced NME (%), 3DDFA "
          "protocol, ground-truth boxes, one crop (+flip: averaged with its mirror, predict's default); "
          "300-W: inter-ocular NME (%) of landmarks68_300w on held-out 300-W photos (- : no such head); "
          "network ms: ONNX Runtime, 1 thread, batch 1, 120 px, one crop.")
    print(f"Every figure with its protocol: {model_card_location()}")
    for name, e in MODELS.items():
        print(f"{name}: {e.summary}. Initialisation: {e.initialisation}. Licence: {e.licence}.")
    return 0
