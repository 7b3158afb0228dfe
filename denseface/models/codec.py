"""Target codec: crop pixels <-> the network's normalised outputs (numpy; no torch needed).

Network outputs are ``(N, 3)`` values ``p / input_size - 0.5`` for x, y and z, where ``p`` is
in crop pixels of a square crop of side ``input_size`` (x right, y down, z towards the
viewer on the same scale). Decoding to source-image pixels goes through the crop matrix.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np

from ..geometry.boxes import ROI_FACTOR


@dataclass
class ModelConfig:
    """Everything needed to feed a model and read its output; travels with the weights.

    Input: RGB, float32 values 0..255, NCHW, ``input_size`` square; mean/std normalisation
    happens inside the network."""

    backbone: str = "mobilenetv2_100"
    input_size: int = 120
    num_points: int = 520
    landmark_set: str = "dense520"
    channel_order: str = "RGB"
    value_range: tuple[float, float] = (0.0, 255.0)
    mean: tuple[float, float, float] = (0.485 * 255, 0.456 * 255, 0.406 * 255)
    std: tuple[float, float, float] = (0.229 * 255, 0.224 * 255, 0.225 * 255)
    roi_factor: float = ROI_FACTOR
    head_rank: int = 0      # 0: a full linear head; r > 0: factored F -> r -> N x 3 (regressor.factor_head)
    head_300w: bool = False  # a second head: the 68 points as people annotate them (300-W), (68, 2)
    head_uncertainty: bool = False  # a third head: each point's expected (x, y) error sigma, (N,)
    extra: dict = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        for k in ("value_range", "mean", "std"):
            if k in known:
                known[k] = tuple(known[k])
        return cls(**known)


def encode_points(points_px: np.ndarray, input_size: int) -> np.ndarray:
    """Crop pixels -> normalised network targets."""
    return np.asarray(points_px, np.float32) / input_size - 0.5


def decode_points(outputs: np.ndarray, input_size: int) -> np.ndarray:
    """Normalised network outputs -> crop pixels."""
    return (np.asarray(outputs, np.float32) + 0.5) * input_size


def unmirror_crop_points(points_mirror: np.ndarray, flip: np.ndarray, size: int,
                         scale) -> np.ndarray:
    """Points predicted on the horizontal pixel mirror of a crop (``crop[:, ::-1]``) -> the same
    anatomical points in the crop itself (crop pixels, x right, y down, z towards the viewer).

    points_mirror (..., N, 3) crop pixels of the mirror; flip (N,) the landmark set's permutation
    (point i of a mirrored face is point ``flip[i]`` of the original); size: the crop side S;
    scale: crop pixels per source pixel in x (``crop_matrix(box, S)[0, 0]``), a number or one per
    leading row. x maps by ``S - scale - x``, not the pixel mirror ``S - 1 - x``: a crop's pixel
    centre i shows label coordinate ``i + (1 - scale) / 2`` (denseface.geometry.crop.resize_sampling),
    so mirroring the pixels moves labels by ``x -> S - scale - x`` (the training flips' rule,
    denseface.data.augment.label_flip_shift). With it, averaging a crop's prediction with its
    mirror's is exactly equivariant: a mirrored photo gives mirrored points."""
    p = np.asarray(points_mirror, np.float64)
    out = p[..., np.argsort(np.asarray(flip)), :].copy()
    s = np.asarray(scale, np.float64)
    out[..., 0] = size - s.reshape(s.shape + (1,) * (out.ndim - 1 - s.ndim)) - out[..., 0]
    return out


def crop_to_image(points_crop: np.ndarray, crop_M: np.ndarray) -> np.ndarray:
    """Crop pixels (..., 3) or (..., 2) -> source-image pixels, z divided by the crop's scale."""
    A = np.asarray(crop_M, np.float64)
    inv = np.linalg.inv(np.vstack([A, [0, 0, 1]]))[:2]
    out = np.asarray(points_crop, np.float64).copy()
    out[..., :2] = out[..., :2] @ inv[:, :2].T + inv[:, 2]
    if out.shape[-1] > 2:
        out[..., 2] = out[..., 2] / np.sqrt(abs(np.linalg.det(A[:, :2])))
    return out
