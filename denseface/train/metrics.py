"""Validation metrics on crops (pixels of the crop; x right, y down)."""
from __future__ import annotations

import numpy as np

from ..landmarks.ibug68 import aflw21_from_68


def bbox_norm(points68: np.ndarray) -> np.ndarray:
    """sqrt(w*h) of the 2D box of (B, 68, >=2) points, (B,)."""
    wh = points68[..., :2].max(-2) - points68[..., :2].min(-2)
    return np.sqrt(wh[..., 0] * wh[..., 1])


def nme68(pred68: np.ndarray, label68: np.ndarray) -> np.ndarray:
    """Per-image 2D NME in %, normalised by the label's 68-point box."""
    err = np.linalg.norm(pred68[..., :2] - label68[..., :2], axis=-1).mean(-1)
    return 100.0 * err / bbox_norm(label68)


def nme21(pred68: np.ndarray, pts21: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """Per-image 2D NME in % against human 21-point labels (NaN = missing) via the 3DDFA
    68->21 mapping, visible points only; NaN where an image has no visible point."""
    p21 = aflw21_from_68(pred68[..., :2])
    vis = np.isfinite(pts21).all(-1)
    d = np.where(vis, np.linalg.norm(p21 - np.nan_to_num(pts21), axis=-1), 0.0)
    cnt = vis.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, 100.0 * d.sum(-1) / np.maximum(cnt, 1) / norm, np.nan)
