"""Face boxes and the one box-to-crop policy.

All boxes are ``[x0, y0, x1, y1]`` float64 in image pixels (x right, y down).

The training crop of a face (3DDFA's ``parse_roi_box_from_landmark``) is a square centred on
the bounding box of its 68 landmarks, of side ``ROI_FACTOR`` (sqrt 2) times that box's longer
side: :func:`roi_box`. A detector's box is first mapped to the same crop by its calibrated
:class:`BoxToCrop`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Crop side / longer side of the landmark box (the diagonal of the square around it).
ROI_FACTOR = float(np.sqrt(2.0))


def landmark_bbox(points: np.ndarray) -> np.ndarray:
    """[x0, y0, x1, y1] bounding box of (K, >=2) points."""
    p = np.asarray(points, np.float64)[:, :2]
    return np.concatenate([p.min(0), p.max(0)])


def mirror_box(box: np.ndarray, width: int) -> np.ndarray:
    """A box -> the box of the same pixels in the horizontally mirrored image (``img[:, ::-1]``,
    ``width`` pixels wide): x -> W - x, the two sides swapped. Boxes bound pixel areas: pixel i
    covers [i - 0.5, i + 0.5] (OpenCV centres), whose mirror is [W - 1 - i - 0.5, W - 1 - i + 0.5],
    so a box edge moves by W - x (not W - 1 - x as a point does: :func:`mirror_points`)."""
    x0, y0, x1, y1 = np.asarray(box, np.float64)
    return np.array([width - x1, y0, width - x0, y1])


def mirror_points(points: np.ndarray, width: int, flip: np.ndarray | None = None) -> np.ndarray:
    """Points (K, >=2) -> the same points in the horizontally mirrored image: x -> W - 1 - x (a
    point at pixel centre i lands on pixel centre W - 1 - i); with ``flip`` (a landmark set's
    permutation) also renumbered, so point i of the result is the mirrored face's point i
    (point flip[i] of the original)."""
    out = np.asarray(points, np.float64)
    out = (out[np.asarray(flip)] if flip is not None else out).copy()
    out[:, 0] = width - 1 - out[:, 0]
    return out


def roi_box(box: np.ndarray, factor: float = ROI_FACTOR) -> np.ndarray:
    """A landmark box -> the training crop: square, same centre, side ``factor * max(w, h)``."""
    x0, y0, x1, y1 = np.asarray(box, np.float64)
    cx, cy, half = 0.5 * (x0 + x1), 0.5 * (y0 + y1), 0.5 * factor * max(x1 - x0, y1 - y0)
    return np.array([cx - half, cy - half, cx + half, cy + half])


def roi_box_from_landmarks(points: np.ndarray, factor: float = ROI_FACTOR) -> np.ndarray:
    """The training crop of (K, >=2) landmark points: :func:`roi_box` of their bounding box.
    With the default factor and the 68 points this is 3DDFA's benchmark crop."""
    return roi_box(landmark_bbox(points), factor)


def main_face_order(boxes: np.ndarray, image_shape: tuple) -> np.ndarray:
    """Indices of ``boxes`` (K, 4) [x0, y0, x1, y1] image pixels, main face first: the rule of
    insightface's ``max_num``, value = box area - 2 x squared distance (px^2) from the box centre
    to the image centre (w / 2, h / 2 of ``image_shape`` (H, W, ...)), highest value first, ties
    kept in the given order. Large, central faces win over small or peripheral ones whatever
    their detector scores."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    h, w = image_shape[:2]
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    offset = 0.5 * (b[:, :2] + b[:, 2:]) - np.array([w / 2.0, h / 2.0])
    value = area - 2.0 * (offset ** 2).sum(1)
    return np.argsort(-value, kind="stable")


def box_size(box: np.ndarray) -> float:
    """Mean side (w + h) / 2 of a box, pixels."""
    x0, y0, x1, y1 = np.asarray(box, np.float64)
    return 0.5 * float((x1 - x0) + (y1 - y0))


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two [x0, y0, x1, y1] boxes."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


@dataclass(frozen=True)
class BoxToCrop:
    """Maps a detector box to the square training crop.

    With ``size`` = :func:`box_size` of the box: crop centre = box centre +
    ``(shift_x, shift_y) * size``, crop side = ``scale * size``. Fitted per detector on
    annotated photos (see :func:`fit_box_to_crop`)."""

    scale: float
    shift_x: float = 0.0
    shift_y: float = 0.0

    def __call__(self, box: np.ndarray) -> np.ndarray:
        x0, y0, x1, y1 = np.asarray(box, np.float64)
        size = box_size(box)
        cx = 0.5 * (x0 + x1) + self.shift_x * size
        cy = 0.5 * (y0 + y1) + self.shift_y * size
        half = 0.5 * self.scale * size
        return np.array([cx - half, cy - half, cx + half, cy + half])


def fit_box_to_crop(boxes: np.ndarray, crops: np.ndarray) -> BoxToCrop:
    """Robust (median) fit of a :class:`BoxToCrop` taking detector ``boxes`` (K, 4) onto the
    target crop boxes (K, 4) (squares), values rounded to 3 decimals."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    t = np.asarray(crops, np.float64).reshape(-1, 4)
    size = 0.5 * ((b[:, 2] - b[:, 0]) + (b[:, 3] - b[:, 1]))
    side = t[:, 2] - t[:, 0]
    shift = (0.5 * (t[:, :2] + t[:, 2:]) - 0.5 * (b[:, :2] + b[:, 2:])) / size[:, None]
    return BoxToCrop(scale=round(float(np.median(side / size)), 3),
                     shift_x=round(float(np.median(shift[:, 0])), 3),
                     shift_y=round(float(np.median(shift[:, 1])), 3))
