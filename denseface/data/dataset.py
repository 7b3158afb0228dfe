"""One dataset class for every training set in the aflw_pl layout.

A split folder holds ``images/<name>`` (square face crops, RGB JPEG/PNG) and
``labels.npz`` (camera, shape, expression per name; see data/aflw_pl/README.md).
``denseface data build`` writes 300W-LP into the same layout. Images are decoded once into
memory (uint8); targets (N, 3) in the stored crop's pixels are computed from the fits once.
"""
from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DenseFaceError
from ..io.images import read_image, to_rgb
from ..landmarks import aflw21_from_68
from ..landmarks.landmark_set import LandmarkSet
from ..mesh.bfm import BFM
from ..mesh.readers import FitTable, read_fit_table
from ..metrics import bbox_size, nme_2d, nme_visible
from ..models.codec import encode_points
from .augment import AugmentConfig, augment_sample
from .targets import TargetEncoder


def read_rgb(path: Path) -> np.ndarray | None:
    """uint8 RGB image (denseface.io.images.read_image), or None if missing/corrupt."""
    try:
        return to_rgb(read_image(path))
    except DenseFaceError:
        return None


@dataclass
class LoadedSplit:
    """Decoded images and targets of one split; ``skipped`` lists (name, problem)."""

    names: np.ndarray
    images: np.ndarray        # (M, H, W, 3) uint8 RGB
    points: np.ndarray        # (M, N, 3) float32, pixels of the stored crops
    table: FitTable
    skipped: list
    source_scale: np.ndarray  # (M,) crop pixels per source-photo pixel in x (1 = unknown)


def load_split(folder: str | Path, bfm: BFM, landmark_set: LandmarkSet,
               labels: str | Path | None = None, limit: int | None = None,
               threads: int = 4) -> LoadedSplit:
    """Read a split; corrupt or missing images are skipped, counted and reported."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DenseFaceError("data folder does not exist", path=folder)
    table = read_fit_table(labels or folder)
    if limit:
        table = table.subset(np.arange(min(limit, len(table))))
    img_dir = folder / "images"
    with ThreadPoolExecutor(threads) as ex:
        imgs = list(ex.map(lambda n: read_rgb(img_dir / n), table.names))
    ok = [i for i, im in enumerate(imgs) if im is not None and im.ndim == 3 and im.shape[0] == im.shape[1]]
    skipped = [(str(img_dir / table.names[i]), "missing, corrupt or not a square RGB crop")
               for i in sorted(set(range(len(imgs))) - set(ok))]
    for path, problem in skipped:
        print(f"denseface: skipped {path}: {problem}", file=sys.stderr)
    if not ok:
        raise DenseFaceError("no readable images", path=img_dir)
    sizes = {imgs[i].shape for i in ok}
    if len(sizes) > 1:
        raise DenseFaceError(f"crops of different sizes {sorted(sizes)}", path=img_dir)
    table = table.subset(np.asarray(ok))
    images = np.stack([imgs[i] for i in ok])
    points = TargetEncoder(bfm, landmark_set.vertex_ids).table_points(table)
    bad = ~np.isfinite(points).all(axis=(1, 2))
    if bad.any():
        for n in table.names[bad]:
            print(f"denseface: skipped {img_dir / n}: fit gives NaN targets", file=sys.stderr)
        skipped += [(str(img_dir / n), "NaN targets") for n in table.names[bad]]
        keep = ~bad
        table, images, points = table.subset(np.flatnonzero(keep)), images[keep], points[keep]
    return LoadedSplit(table.names, images, points, table, skipped,
                       source_scales(table, images.shape[2]))


def source_scales(table: FitTable, crop_width: int) -> np.ndarray:
    """Crop pixels per source pixel in x of each stored crop, from its roi_box (ones when the
    table has none): what a mirror of the crop needs to be exact (augment.label_flip_shift)."""
    if table.roi_box is None:
        return np.ones(len(table))
    width = np.asarray(table.roi_box, np.float64)[:, 2] - np.asarray(table.roi_box, np.float64)[:, 0]
    return np.where(width > 0, crop_width / np.where(width > 0, width, 1.0), 1.0)


class LandmarkDataset:
    """Torch-style dataset: item i -> (image uint8 (3,S,S), target (N,3) normalised, index).

    ``flip_double``: the epoch holds every sample twice, the second copy flipped (the paper's
    "doubled by flips"); otherwise flips are random with ``augment.flip_p``."""

    def __init__(self, split: LoadedSplit, flip: np.ndarray, input_size: int,
                 augment: AugmentConfig | None = None, flip_double: bool = False, seed: int = 0):
        """split: a LoadedSplit (or anything with names, images, points, source_scale);
        flip: its points' mirror permutation (a LandmarkSet's ``flip``)."""
        self.split = split
        self.flip = np.asarray(flip)
        self.size = input_size
        self.augment = augment or AugmentConfig(enabled=False)
        self.flip_double = flip_double
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.split.names) * (2 if self.flip_double else 1)

    def __getitem__(self, i: int):
        n = len(self.split.names)
        j = i % n
        rng = np.random.default_rng((self.seed, self.epoch, i))
        force_flip = (i >= n) if self.flip_double else None
        img, pts, _ = augment_sample(rng, self.augment, self.split.images[j], self.split.points[j],
                                     self.flip, self.size, force_flip, self.split.source_scale[j])
        return (np.ascontiguousarray(img.transpose(2, 0, 1)),
                encode_points(pts, self.size).astype(np.float32), j)


def split_scores(pred68: np.ndarray, labels68: np.ndarray, pts21: np.ndarray | None) -> dict:
    """Val NME (%) of predicted 68 points (M, 68, >=2) crop px against the labels' 68
    (``nme68``) and, through the 3DDFA 68->21 mapping, against the human AFLW-21 points
    (``nme21``, visible points only, NaN = missing), both normalised by the labels' box."""
    out = {"nme68": float(nme_2d(pred68, labels68).mean())}
    if pts21 is not None:
        visible = np.isfinite(pts21).all(-1)
        n21 = nme_visible(aflw21_from_68(np.asarray(pred68)[..., :2]), np.nan_to_num(pts21), visible,
                          bbox_size(labels68))
        out["nme21"] = float(np.nanmean(n21))
    return out


class WeightedDataset:
    """Item i -> (image uint8 (3,S,S), points (N,3) normalised, their weights (N,), second-head
    points (68,2) normalised, their weights (68,)): the form the trainer takes when faces without
    3D labels train beside 3D labels. ``LandmarkDataset`` items get weight 1 on every point and
    0 on the second head."""

    def __init__(self, base: LandmarkDataset):
        self.base = base

    def set_epoch(self, epoch: int) -> None:
        self.base.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int):
        img, pts, _ = self.base[i]
        return (img, pts, np.ones(len(pts), np.float32), np.zeros((68, 2), np.float32),
                np.zeros(68, np.float32))


class ExtraTargetsDataset:
    """Faces without 3D labels (denseface.data.human_targets.ExtraTargets), augmented like
    ``LandmarkDataset`` (exact mirrors: the N points through ``flip``, the second head's 68 through
    the iBUG flip), each face ``repeat`` times per epoch (and twice more with ``flip_double``);
    items as :class:`WeightedDataset`'s."""

    def __init__(self, targets, flip: np.ndarray, input_size: int, augment: AugmentConfig,
                 repeat: int = 1, flip_double: bool = False, seed: int = 0):
        from ..landmarks.ibug68 import FLIP_68
        self.t, self.flip, self.flip68 = targets, np.asarray(flip), FLIP_68
        self.size, self.augment, self.repeat = input_size, augment, repeat
        self.flip_double, self.seed, self.epoch = flip_double, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.t) * self.repeat * (2 if self.flip_double else 1)

    def __getitem__(self, i: int):
        from .augment import geometry_targets, photometric, sample_geometry, warp
        n = len(self.t)
        j, copy = i % n, i // n
        rng = np.random.default_rng((self.seed, self.epoch, i, 7))
        force = bool(copy % 2) if self.flip_double else None
        M, flipped = sample_geometry(rng, self.augment, self.t.images.shape[2], self.size, force)
        img = photometric(rng, self.augment, warp(self.t.images[j], M, self.size))
        s = self.t.source_scale[j]
        pts = geometry_targets(self.t.points[j], M, flipped, self.flip, s)
        p300 = np.concatenate([self.t.points_300w[j], np.zeros((68, 1))], 1)
        p300 = geometry_targets(p300, M, flipped, self.flip68, s)[:, :2]
        w, w300 = self.t.points_weight[j], self.t.weight_300w[j]
        if flipped:
            w, w300 = w[self.flip], w300[self.flip68]
        return (np.ascontiguousarray(img.transpose(2, 0, 1)), encode_points(pts, self.size).astype(np.float32),
                np.asarray(w, np.float32), encode_points(p300, self.size).astype(np.float32),
                np.asarray(w300, np.float32))
