"""Geometric and photometric augmentation where points follow the image exactly.

Every geometric step is a 2x3 matrix in pixel coordinates (pixel centres at integers, as
OpenCV's warpAffine). Points (x, y) go through the same matrix; z is multiplied by the
matrix's isotropic scale; a horizontal flip also permutes the points through the landmark
set's ``flip`` so that point i stays the same anatomical point.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import cv2
import numpy as np
from annotated_types import Ge, Gt, Le


Probability = Annotated[float, Ge(0), Le(1)]
NonNegFloat = Annotated[float, Ge(0)]


@dataclass
class AugmentConfig:
    """The paper's set: rotation, scale, translation, gamma, noise, blur, grey, flip.
    (Validated as part of the training config, denseface.train.config.)"""

    __pydantic_config__ = {"extra": "forbid", "strict": True}
    rotation_deg: NonNegFloat = 45.0          # uniform in [-r, r]
    scale: tuple[float, float] = (0.95, 1.05)
    translate: NonNegFloat = 0.05       # fraction of the crop side, uniform in [-t, t] per axis
    gamma: tuple[float, float] = (1.0, 1.8)   # gamma or 1/gamma, each with p=0.5
    noise_std: NonNegFloat = 8.0        # Gaussian noise sigma (0..255 scale), drawn in [0, std]
    noise_p: Probability = 0.3
    blur_p: Probability = 0.3           # down/up-sampling blur
    blur_min_scale: Annotated[float, Gt(0), Le(1)] = 0.35
    grey_p: Probability = 0.2
    flip_p: Probability = 0.5
    enabled: bool = True


def flip_matrix(size: int) -> np.ndarray:
    """Horizontal mirror of a ``size``-wide image: x -> size - 1 - x (pixel centres)."""
    return np.array([[-1.0, 0.0, size - 1.0], [0.0, 1.0, 0.0]])


def label_flip_shift(source_scale: float) -> float:
    """x shift (pixels) to add to the *labels* before the image mirror, for a crop that was
    resampled like ``cv2.resize`` at ``source_scale`` crop pixels per source pixel.

    Such a crop's pixel centre i sits at label coordinate i + (1 - s) / 2 (labels use
    ``(p - x0) * s``, see denseface.geometry.crop.resize_sampling), so mirroring the image
    (x -> S - 1 - x) moves the labels by x -> S - s - x: the mirror applied to x + (s - 1).
    Without this shift flipped samples teach a bias of (1 - s) pixels in x (about 0.6 px on
    aflw_pl, whose crops shrink AFLW photos about 2.7 times)."""
    return float(source_scale) - 1.0


def similarity_matrix(size: int, angle_deg: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    """Rotate (counter-clockwise in the image for positive angles) and scale about the crop
    centre, then shift by ``shift`` pixels."""
    c = (size - 1) / 2.0
    M = cv2.getRotationMatrix2D((c, c), angle_deg, scale)
    M[:, 2] += shift
    return M


def compose(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Matrix of 'apply B, then A' for 2x3 affine matrices."""
    A3 = np.vstack([A, [0, 0, 1]])
    B3 = np.vstack([B, [0, 0, 1]])
    return (A3 @ B3)[:2]


def transform_points(points: np.ndarray, M: np.ndarray) -> np.ndarray:
    """(N, 3) pixels through a 2x3 similarity; z scaled by its isotropic scale."""
    out = np.asarray(points, np.float64).copy()
    out[:, :2] = points[:, :2] @ M[:, :2].T + M[:, 2]
    out[:, 2] = points[:, 2] * np.sqrt(abs(np.linalg.det(M[:, :2])))
    return out


def sample_geometry(rng: np.random.Generator, cfg: AugmentConfig, in_size: int, out_size: int,
                    force_flip: bool | None = None) -> tuple[np.ndarray, bool]:
    """A random 2x3 matrix from an ``in_size`` image to an ``out_size`` crop, and whether it
    flips. Without augmentation it is the plain resize. ``force_flip`` True/False decides the
    flip instead of ``cfg.flip_p`` (also when augmentation is off)."""
    M = np.array([[out_size / in_size, 0.0, 0.0], [0.0, out_size / in_size, 0.0]])
    if cfg.enabled:
        angle = rng.uniform(-cfg.rotation_deg, cfg.rotation_deg)
        scale = rng.uniform(*cfg.scale)
        shift = rng.uniform(-cfg.translate, cfg.translate, 2) * out_size
        M = compose(similarity_matrix(out_size, angle, scale, tuple(shift)), M)
    flip = bool(rng.random() < cfg.flip_p) if force_flip is None and cfg.enabled else bool(force_flip)
    if flip:
        M = compose(M, flip_matrix(in_size))
    return M, flip


def warp(image: np.ndarray, M: np.ndarray, out_size: int) -> np.ndarray:
    return cv2.warpAffine(image, M, (out_size, out_size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def photometric(rng: np.random.Generator, cfg: AugmentConfig, image: np.ndarray) -> np.ndarray:
    """Gamma, blur by down/up-sampling, Gaussian noise, grey; uint8 RGB in and out."""
    if not cfg.enabled:
        return image
    img = image
    g = rng.uniform(*cfg.gamma)
    if rng.random() < 0.5:
        g = 1.0 / g
    if abs(g - 1.0) > 1e-3:
        lut = np.clip(255.0 * (np.arange(256) / 255.0) ** g, 0, 255).astype(np.uint8)
        img = cv2.LUT(img, lut)
    if rng.random() < cfg.blur_p:
        s = img.shape[0]
        small = max(8, int(round(s * rng.uniform(cfg.blur_min_scale, 0.8))))
        img = cv2.resize(cv2.resize(img, (small, small), interpolation=cv2.INTER_AREA), (s, s),
                         interpolation=cv2.INTER_LINEAR)
    if rng.random() < cfg.noise_p:
        noise = rng.normal(0, rng.uniform(0, cfg.noise_std), img.shape)
        img = np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    if rng.random() < cfg.grey_p:
        grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
        img = np.repeat(grey[..., None], 3, axis=2)
    return img


def geometry_targets(points: np.ndarray, M: np.ndarray, flipped: bool, flip_perm: np.ndarray,
                     source_scale: float = 1.0) -> np.ndarray:
    """Targets of a sample warped by ``M`` (from :func:`sample_geometry`): points through M,
    with the label convention's flip shift (:func:`label_flip_shift`) and the set's
    permutation when the sample is mirrored."""
    if not flipped:
        return transform_points(points, M)
    shifted = np.array(points, np.float64, copy=True)
    shifted[:, 0] += label_flip_shift(source_scale)
    return transform_points(shifted, M)[flip_perm]


def augment_sample(rng: np.random.Generator, cfg: AugmentConfig, image: np.ndarray,
                   points: np.ndarray, flip_perm: np.ndarray, out_size: int,
                   force_flip: bool | None = None,
                   source_scale: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Returns (crop uint8 (S,S,3), points (N,3) crop pixels, the 2x3 matrix used).
    ``source_scale``: crop pixels per source pixel of the stored crop (1 = not resampled)."""
    M, flipped = sample_geometry(rng, cfg, image.shape[1], out_size, force_flip)
    out = warp(image, M, out_size)
    pts = geometry_targets(points, M, flipped, flip_perm, source_scale)
    return photometric(rng, cfg, out), pts, M
