"""Faces with both eyes closed (CEW, "Closed Eyes In The Wild"): a weak label, no points.

The folder layout is ``data/cew_closed`` of the shared data (its SOURCE.txt): ``images/`` with
one face crop per file, named ``closed_eye_NNNN.<ext>_face_K.jpg``. Consecutive numbers are often
one person in one series of photos, so the held-out part is whole *blocks* of numbers
(:data:`BLOCK` consecutive numbers each), every :data:`HELD_OUT_EVERY`-th block: a person's series
stays on one side.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import DenseFaceError

#: Photo numbers per block, and which blocks are held out (block index % HELD_OUT_EVERY == last).
BLOCK = 40
HELD_OUT_EVERY = 5

_NUMBER = re.compile(r"closed_eye_(\d+)\.")


def photo_number(name: str) -> int:
    """The CEW photo number of a file name (``closed_eye_0042.jpg_face_1.jpg`` -> 42)."""
    m = _NUMBER.match(name)
    if m is None:
        raise DenseFaceError("not a CEW face name (closed_eye_NNNN.<ext>_face_K.jpg)", path=name)
    return int(m.group(1))


def held_out(names) -> np.ndarray:
    """(N,) bool: the faces in held-out blocks of photo numbers."""
    blocks = np.array([photo_number(str(n)) // BLOCK for n in names])
    return blocks % HELD_OUT_EVERY == HELD_OUT_EVERY - 1


def closed_eye_files(folder: str | Path, part: str) -> list[Path]:
    """The ``part`` ("train" or "val") image files of a CEW folder, sorted by name."""
    if part not in ("train", "val"):
        raise ValueError(f"part must be 'train' or 'val', got {part!r}")
    images = Path(folder) / "images"
    if not images.is_dir():
        raise DenseFaceError("no images/ folder (the cew_closed layout is expected)", path=folder)
    files = sorted(p for p in images.iterdir() if p.is_file())
    keep = held_out([p.name for p in files]) == (part == "val")
    return [p for p, k in zip(files, keep) if k]
