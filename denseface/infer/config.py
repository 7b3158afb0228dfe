"""What ``predict`` is asked to do, validated: :class:`PredictConfig` (the detection view, the
cascade, the passes, the crop factor, flip averaging), the face count and user boxes. Boxes are
``[x0, y0, x1, y1]`` in image pixels (x right, y down)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from ..errors import ConfigError, check_whole_number


@dataclass
class PredictConfig:
    """detect_max_side: the longer image side for detection (px; bigger images are downscaled
    for detection only; crops are always taken from the full-resolution image; 0 = never).
    passes: 1 = crop from the detector box only, 2 = also re-crop from the predicted landmarks.
    min_face_px: detections whose box is smaller (image px, mean side) are dropped.
    roi_factor: crop side / longer side of the 68-point box (None: the model's own).
    tta: "flip" averages each crop's prediction with its mirror image's on the last pass (the
    mirror runs in the same batch; twice that pass's network time, docs/predict.md), "none"
    runs the crop alone.
    cascade_side: detect first on a copy downscaled to this longer side (px; 0 = off), and on
    the ``detect_max_side`` copy only unless that found exactly one face of at least
    ``cascade_min_face_px`` (mean side, in the small copy's pixels): docs/detectors.md.
    eyes: read the eyelids again from eye patches of the photo (the eye stage,
    denseface.infer.eyes) when the model has the human-convention head and the package ships
    the eye stage; False keeps the main network's eyes.
    expression: also fit the Basel Face Model to each face's points and give its 10 expression
    coefficients (``Face.expression``; needs the BFM, never shipped: ``DenseFace(bfm=...)``;
    about a sixth of predict's time per face, docs/predict.md)."""

    detect_max_side: int = 640
    cascade_side: int = 224
    cascade_min_face_px: float = 32.0
    passes: int = 2
    min_face_px: float = 16.0
    roi_factor: float | None = None
    tta: str = "flip"
    eyes: bool = True
    expression: bool = False

    def __post_init__(self) -> None:
        check_whole_number("detect_max_side", self.detect_max_side, 0)
        check_whole_number("cascade_side", self.cascade_side, 0)
        if not _is_number(self.cascade_min_face_px) or self.cascade_min_face_px < 0:
            raise ConfigError(f"cascade_min_face_px must be a number >= 0, got {self.cascade_min_face_px!r}")
        if self.passes not in (1, 2) or isinstance(self.passes, bool):
            raise ConfigError(f"passes must be 1 or 2, got {self.passes!r}")
        if not _is_number(self.min_face_px) or self.min_face_px < 0:
            raise ConfigError(f"min_face_px must be a number >= 0, got {self.min_face_px!r}")
        if self.roi_factor is not None and (not _is_number(self.roi_factor) or self.roi_factor <= 0):
            raise ConfigError(f"roi_factor must be a number > 0 or None, got {self.roi_factor!r}")
        check_tta(self.tta)
        if not isinstance(self.eyes, (bool, np.bool_)):
            raise ConfigError(f"eyes must be true or false, got {self.eyes!r}")
        if not isinstance(self.expression, (bool, np.bool_)):
            raise ConfigError(f"expression must be true or false, got {self.expression!r}")


#: Test-time augmentation modes (PredictConfig.tta).
TTA_MODES = ("flip", "none")


def check_tta(tta: str | None) -> str:
    """A valid PredictConfig.tta value; None gives the default."""
    if tta is None:
        return PredictConfig.tta
    if tta not in TTA_MODES:
        raise ConfigError(f"tta must be one of {', '.join(TTA_MODES)}, got {tta!r}")
    return tta


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and np.isfinite(v)


def as_predict_config(config) -> "PredictConfig":
    """A PredictConfig from None (the defaults), a PredictConfig, or a mapping of its fields
    (``{"passes": 1}``); ConfigError for anything else or an unknown field."""
    if config is None:
        return PredictConfig()
    if isinstance(config, PredictConfig):
        return config
    if isinstance(config, Mapping):
        names = {f.name for f in fields(PredictConfig)}
        unknown = sorted(str(k) for k in config if k not in names)
        if unknown:
            raise ConfigError(f"unknown PredictConfig field(s) {', '.join(unknown)} (known: "
                              f"{', '.join(sorted(names))})")
        return PredictConfig(**config)
    raise ConfigError(f"config must be a PredictConfig or a mapping of its fields, got "
                      f"{type(config).__name__}")


def check_max_faces(max_faces) -> int | None:
    """None (all faces) or a whole number >= 1; ConfigError otherwise."""
    return None if max_faces is None else check_whole_number("max_faces", max_faces, 1)


def validate_boxes(boxes, image_shape=None, path: str | Path | None = None) -> list[np.ndarray]:
    """User boxes -> list of float [x0, y0, x1, y1]; raises ConfigError when malformed."""
    try:
        if isinstance(boxes, (str, bytes)):
            raise ValueError
        a = np.asarray(boxes, np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"a box must be 4 numbers x0,y0,x1,y1, got {boxes!r}", path=path) from None
    if a.ndim == 1:
        a = a[None]
    if a.ndim != 2 or a.shape[1] != 4 or not np.isfinite(a).all():
        raise ConfigError(f"a box must be 4 numbers x0,y0,x1,y1, got {a.tolist()}", path=path)
    for b in a:
        if b[2] <= b[0] or b[3] <= b[1]:
            raise ConfigError(f"box {b.tolist()} is empty (needs x1 > x0 and y1 > y0)", path=path)
        if image_shape is not None:
            h, w = image_shape[:2]
            if b[2] <= 0 or b[3] <= 0 or b[0] >= w or b[1] >= h:
                raise ConfigError(f"box {b.tolist()} lies outside the {w}x{h} image", path=path)
    return list(a)
