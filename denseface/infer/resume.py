"""Resuming a batch (``skip_existing``): which inputs already have all their outputs.

Outputs are written atomically, so an existing file is a complete one: an input whose files all
exist is skipped, and a killed run resumes where it stopped. Table mode asks the table which
images it holds.
"""
from __future__ import annotations

from ..errors import DenseFaceError
from .jobs import BatchOptions, Item
from .outputs import OutputNamer, output_format


def already_done(item: Item, namer: OutputNamer, o: BatchOptions, table) -> bool:
    """Whether every output of ``item`` exists (``table``: the run's PredictionTable or None)."""
    try:
        if item.kind == "video":
            from .video import draw_codec

            suffixes = [".jsonl"] + (["_draw" + draw_codec().suffix] if o.draw else [])
            return all(namer.path(item.stem, s).is_file() for s in suffixes)
        if table is not None:
            return str(item.path) in table.done
        preds = [output_format(fmt).suffix for fmt in o.formats]
        if not all(namer.path(item.stem, s).is_file() for s in preds):
            return False
        n = faces_in_outputs(namer, item.stem, o.formats) if o.export_mesh else 0
        return n is not None and extras_done(item, namer, o, n)
    except (OSError, DenseFaceError):
        return False


def extras_done(item: Item, namer: OutputNamer, o: BatchOptions, n_faces: int) -> bool:
    """The drawing and the ``n_faces`` meshes of an image exist (those that were asked for)."""
    suffixes = (["_draw.jpg"] if o.draw else []) + (
        [f"_face{k}.{o.export_mesh}" for k in range(n_faces)] if o.export_mesh else [])
    try:
        return all(namer.path(item.stem, s).is_file() for s in suffixes)
    except (OSError, DenseFaceError):
        return False


def faces_in_outputs(namer: OutputNamer, stem: str, formats) -> int | None:
    """The number of faces an existing prediction file holds, read by the first of ``formats``
    (its registered face counter); None: unreadable."""
    fmt = output_format(formats[0])
    try:
        return int(fmt.count_faces(namer.path(stem, fmt.suffix)))
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None
