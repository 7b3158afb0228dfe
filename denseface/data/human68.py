"""Faces with the human 68-point annotations of 300-W, for the second head (``head_300w``).

The folder layout is ``data/w300_afw_helen`` of the shared data (its SOURCE.txt): ``images/``
with one square crop per face and ``labels.npz`` with ``names``, ``pts68`` (N, 68, 2) in the
crops' pixels (OpenCV 0-based centres, x right, y down) and ``source`` (the original photo).

The held-out split is fixed: :data:`VAL_FRACTION` of the *photos* (so the faces of one photo
stay together), drawn with :data:`SPLIT_SEED`. It chooses among models and is where the
300-W convention is reported; nothing is trained on it.

Each face is cut to the training crop of its human 68 points (``roi_box_from_landmarks``, the
crop policy of the 3D labels; at inference the crop comes from the predicted 3D 68 points, which
lands within a few per cent of it, well inside the augmentation's range) and stored at the
model's input size, like aflw_pl's crops.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DenseFaceError
from ..geometry.boxes import roi_box_from_landmarks
from ..geometry.crop import crop_image, points_to_crop
from ..io.images import read_image, to_rgb

#: Fraction of the photos held out for validation, and the seed that draws them.
VAL_FRACTION = 0.2
SPLIT_SEED = 20


@dataclass
class Human68Split:
    """Crops (M, S, S, 3) uint8 RGB, their human points (M, 68, 3) in crop pixels (label
    convention ``(p - x0) * s``; z = 0, unused), names, and crop pixels per source pixel."""

    names: np.ndarray
    images: np.ndarray
    points: np.ndarray
    source_scale: np.ndarray


def photo_of(names: np.ndarray) -> np.ndarray:
    """(N,) the photo of each face name or source (``<photo>_<k>``: the suffix names the face)."""
    return np.array([str(n).rsplit("_", 1)[0] for n in names])


def held_out_photos(sources: np.ndarray, fraction: float = VAL_FRACTION,
                    seed: int = SPLIT_SEED) -> np.ndarray:
    """(N,) bool: the faces whose photo is in the held-out ``fraction`` of distinct photos
    (``sources`` are the photo files, :func:`photo_of`)."""
    photos = photo_of(sources)
    unique = np.unique(photos)
    rng = np.random.default_rng(seed)
    held = set(rng.choice(unique, int(round(fraction * len(unique))), replace=False).tolist())
    return np.array([p in held for p in photos])


def read_labels(folder: str | Path) -> dict[str, np.ndarray]:
    """``labels.npz`` of a human-68 folder as arrays (names, pts68 (N, 68, 2), source)."""
    path = Path(folder) / "labels.npz"
    if not path.is_file():
        raise DenseFaceError("no labels.npz (a folder in the w300_afw_helen layout is expected)",
                             path=path)
    try:
        with np.load(path, allow_pickle=False) as d:
            out = {k: d[k] for k in ("names", "pts68", "source")}
    except (KeyError, ValueError, OSError) as e:
        raise DenseFaceError(f"not a human-68 label file ({type(e).__name__}: {e})", path=path) from None
    if out["pts68"].shape != (len(out["names"]), 68, 2):
        raise DenseFaceError(f"pts68 has shape {out['pts68'].shape}, expected ({len(out['names'])}, 68, 2)",
                             path=path)
    return out


def load_human68(folder: str | Path, part: str, size: int,
                 crop_box_of: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None) -> Human68Split:
    """The ``part`` ("train" or "val") faces of a human-68 folder as crops of side ``size``;
    unreadable images raise (the folder is curated data, not user input). ``crop_box_of(image,
    points68)`` gives each face's crop box in image pixels (default: the training crop of its
    human points, ``roi_box_from_landmarks``; e.g. the crop a model's own pipeline ends on)."""
    if part not in ("train", "val"):
        raise ValueError(f"part must be 'train' or 'val', got {part!r}")
    folder = Path(folder)
    labels = read_labels(folder)
    keep = held_out_photos(labels["source"]) == (part == "val")
    names, pts = labels["names"][keep], labels["pts68"][keep].astype(np.float64)
    images, points, scales = [], [], []
    for name, p in zip(names, pts):
        image = to_rgb(read_image(folder / "images" / str(name)))
        box = roi_box_from_landmarks(p) if crop_box_of is None else np.asarray(crop_box_of(image, p), np.float64)
        crop, M = crop_image(image, box, size)
        images.append(crop)
        points.append(np.concatenate([points_to_crop(p[None], box[None], size)[0], np.zeros((68, 1))], 1))
        scales.append(M[0, 0])
    return Human68Split(names, np.stack(images), np.stack(points).astype(np.float32), np.array(scales))
