"""Square face crops and their pixel matrices (the crop box comes from denseface.geometry.boxes).

All boxes are ``[x0, y0, x1, y1]`` in source-image pixels. A crop of side ``size`` maps the
box onto ``[0, size]``: ``crop = s * (p - [x0, y0])`` with ``s = size / (x1 - x0)``.
"""
from __future__ import annotations

import cv2
import numpy as np


def crop_matrix(box: np.ndarray, size: int) -> np.ndarray:
    """2x3 matrix mapping source pixels to crop pixels for a (square) box."""
    x0, y0, x1, y1 = np.asarray(box, np.float64)
    sx, sy = size / (x1 - x0), size / (y1 - y0)
    return np.array([[sx, 0.0, -sx * x0], [0.0, sy, -sy * y0]])


def resize_sampling(M: np.ndarray) -> np.ndarray:
    """The matrix that samples an image as ``cv2.resize`` of the box does (pixel *areas* scale:
    a destination pixel centre i looks at source ``(i + 0.5) / s - 0.5 + x0``), for a crop whose
    *points* map by ``M`` (``(p - x0) * s``). 3DDFA's crops, and so aflw_pl's images, were made
    this way while their labels use ``M``, so the network learnt this pairing."""
    out = np.asarray(M, np.float64).copy()
    out[0, 2] += 0.5 * out[0, 0] - 0.5
    out[1, 2] += 0.5 * out[1, 1] - 0.5
    return out


def crop_image(image: np.ndarray, box: np.ndarray, size: int,
               interpolation: int = cv2.INTER_LINEAR) -> tuple[np.ndarray, np.ndarray]:
    """Crop and resize like ``cv2.resize(image[box], (size, size))`` (pixels outside the image
    are black). Returns (crop, M), M the 2x3 matrix that maps points into the crop
    (``(p - [x0, y0]) * s``, the datasets' label convention; see resize_sampling)."""
    M = crop_matrix(box, size)
    out = cv2.warpAffine(image, resize_sampling(M), (size, size), flags=interpolation,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out, M


def points_to_crop(points: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """(N, K, 2) image px -> crop px of each row's box (N, 4): ``(p - (x0, y0)) * size / (w, h)``
    (the label convention of :func:`crop_matrix`, per axis for clipped, non-square boxes)."""
    b = np.asarray(boxes, np.float64)
    return (np.asarray(points, np.float64) - b[:, None, :2]) * size / (b[:, None, 2:] - b[:, None, :2])


def points_from_crop(points: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """The inverse of :func:`points_to_crop` (3DDFA's ``_predict_vertices``)."""
    b = np.asarray(boxes, np.float64)
    return np.asarray(points, np.float64) * (b[:, None, 2:] - b[:, None, :2]) / size + b[:, None, :2]
