"""Synthetic inputs for tests and benchmarks (not part of the library)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from denseface.errors import OutputError
from denseface.infer.pose import Y_FLIP


def mean_face_in_crop(mean_shape: np.ndarray, idx68: np.ndarray, size: int,
                      roi_factor: float = np.sqrt(2.0)) -> np.ndarray:
    """The mean face, frontal, placed in a ``size`` crop exactly as the training crop policy
    places a face: (N, 3) crop pixels (y down, z towards the viewer, min z = 0) whose 68-point
    box is centred with its longer side ``size / roi_factor``, so that
    ``roi_box_from_landmarks(points[idx68], roi_factor) == [0, 0, size, size]``."""
    p = np.asarray(mean_shape, np.float64) @ Y_FLIP
    lm = p[idx68, :2]
    lo, hi = lm.min(0), lm.max(0)
    s = size / roi_factor / (hi - lo).max()
    out = p * s
    out[:, :2] += size / 2.0 - s * 0.5 * (lo + hi)
    out[:, 2] -= out[:, 2].min()
    return out


def write_test_video(path: str | Path, frames: np.ndarray, fps: float = 25.0) -> Path:
    """Write RGB frames (T, H, W, 3) uint8 as an mp4 (mp4v)."""
    path = Path(path)
    t, h, w = frames.shape[:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        raise OutputError("cannot write video", path=path)
    for f in frames:
        writer.write(cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2BGR))
    writer.release()
    return path
