"""Drawing predictions on images (OpenCV): mesh, 520 points, the 68 subset, box, pose axes.

All inputs are image pixels (x right, y down); images are RGB uint8 and are not modified
(a drawn copy is returned)."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..geometry.boxes import ROI_FACTOR
from ..io.images import to_rgb
from .pose import Y_FLIP, rotation_matrix

SHIFT = 4  # fixed-point bits for sub-pixel drawing
_ONE = 1 << SHIFT


@dataclass
class DrawStyle:
    """What to draw and how (colours RGB)."""

    mesh: bool = True
    points: bool = True
    points68: bool = True
    points68_300w: bool = False   # the human-convention 68 (Face.landmarks68_300w), when present
    box: bool = True
    axes: bool = True
    mesh_color: tuple[int, int, int] = (90, 200, 255)
    point_color: tuple[int, int, int] = (255, 255, 255)
    point68_color: tuple[int, int, int] = (255, 60, 60)
    point68_300w_color: tuple[int, int, int] = (255, 220, 0)
    box_color: tuple[int, int, int] = (60, 255, 60)
    axis_length: float = 0.5  # times the face's size (its crop-box side / the crop factor)
    mesh_alpha: float = 0.45
    hidden_alpha: float = 0.3     # opacity of points hidden by the face itself (Face.visibility)


def mesh_edges(triangles: np.ndarray) -> np.ndarray:
    """Unique undirected edges (E, 2) of a triangulation."""
    t = np.asarray(triangles, np.int64)
    e = np.sort(np.concatenate([t[:, [0, 1]], t[:, [1, 2]], t[:, [2, 0]]]), 1)
    return np.unique(e, axis=0)


def draw_faces(image: np.ndarray, faces, triangles: np.ndarray | None = None,
               style: DrawStyle | None = None, roi_factor: float = ROI_FACTOR) -> np.ndarray:
    """A copy of ``image`` (grey or RGB uint8) with each face drawn on it. roi_factor: the
    model's crop factor (``DenseFace.roi_factor``): a face's size, which scales the dots and
    the axes, is its crop-box side divided by it (the longer side of its 68-point box)."""
    style = style or DrawStyle()
    out = to_rgb(image).copy()
    scale = max(1.0, max(out.shape[:2]) / 800.0)  # thicker marks on big images
    thick = max(1, int(round(scale)))
    edges = mesh_edges(triangles) if (style.mesh and triangles is not None) else None
    for f in faces:
        lm = np.asarray(f.landmarks, np.float64)
        if not np.isfinite(lm).all():
            continue
        if style.box:
            _rect(out, f.box, style.box_color, thick)
        if edges is not None:  # blended, so the face stays visible under the mesh
            segs = _fixed(lm[:, :2], out)[edges]
            x0, y0, x1, y1 = _clip_box(f.crop_box, out.shape)
            if x1 > x0 and y1 > y0:
                roi = out[y0:y1, x0:x1]
                overlay = roi.copy()
                cv2.polylines(overlay, list(segs - np.array([x0, y0]) * _ONE), False, style.mesh_color,
                              thick, cv2.LINE_AA, SHIFT)
                cv2.addWeighted(overlay, style.mesh_alpha, roi, 1 - style.mesh_alpha, 0, dst=roi)
        face_px = float(f.crop_box[2] - f.crop_box[0]) / roi_factor
        r, r68 = dot_radii(face_px)
        seen = np.ones(len(lm), bool) if f.visibility is None else np.asarray(f.visibility, bool)
        seen68 = np.ones(68, bool) if f.visibility68 is None else np.asarray(f.visibility68, bool)
        if style.points:
            _faded_dots(out, lm, seen, style.point_color, r, style.hidden_alpha, f.crop_box)
        if style.axes and np.isfinite([f.pose.yaw, f.pose.pitch, f.pose.roll]).all():
            draw_axes(out, lm[:, :2].mean(0), f.pose, style.axis_length * face_px, 2 * thick)
        # the 68 last, larger and ringed in black, so they read over the 520 and the axes
        for on, pts, color in ((style.points68, f.landmarks68, style.point68_color),
                               (style.points68_300w, f.landmarks68_300w, style.point68_300w_color)):
            if on and pts is not None:
                for c, rad in (((0, 0, 0), r68 + max(0.5, 0.35 * r68)), (color, r68)):
                    _faded_dots(out, pts, seen68, c, rad, style.hidden_alpha, f.crop_box)
    return out


def dot_radii(face_px: float) -> tuple[float, float]:
    """Dot radii (pixels) of the 520 points and of the 68 for a face ``face_px`` pixels wide
    (its landmark box): both grow with the face, the 520 small enough that neighbours stay apart
    (about a fifth of their spacing), the 68 about 2.5 times larger (at least 1.5 px)."""
    r = float(np.clip(face_px / 250.0, 0.5, 3.0))
    return r, max(1.5, 2.5 * r)


#: Drawings of bigger images are made on a copy downscaled to this longer side (pixels).
DRAW_MAX_SIDE = 2048


def drawing_view(image: np.ndarray, faces, max_side: int = DRAW_MAX_SIDE):
    """(image, faces) downscaled together so the longer side is at most ``max_side`` (a huge
    photo is drawn on a small copy, never on a full-size RGB copy); unchanged when smaller."""
    from dataclasses import replace

    h, w = image.shape[:2]
    s = max_side / max(h, w)
    if s >= 1.0:
        return image, faces
    small = cv2.resize(image, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    scaled = [replace(f, box=f.box * s, landmarks=f.landmarks * s, landmarks68=f.landmarks68 * s,
                      crop_box=f.crop_box * s,
                      landmarks68_300w=None if f.landmarks68_300w is None else f.landmarks68_300w * s)
              for f in faces]
    return small, scaled


def axis_directions(pose) -> np.ndarray:
    """Image-plane directions (3, 2) of the head's x (to the subject's left, image right at
    zero pose), y (up) and z (out of the face) axes, unit length in 3D."""
    R = Y_FLIP @ rotation_matrix(pose)  # model (y up) -> image (y down)
    return R[:2, :].T


def draw_axes(image: np.ndarray, origin: np.ndarray, pose, length: float, thickness: int = 2) -> None:
    """Pose axes in place: x red, y green, z blue (RGB image)."""
    o = np.asarray(origin, np.float64)
    for d, color in zip(axis_directions(pose), ((255, 0, 0), (0, 255, 0), (0, 0, 255))):
        p0, p1 = (tuple(int(v) for v in q) for q in _fixed(np.stack([o, o + length * d]), image))
        cv2.arrowedLine(image, p0, p1, color, thickness, cv2.LINE_AA, SHIFT, 0.15)


def _dots(image: np.ndarray, points: np.ndarray, color, radius: float) -> None:
    """Filled dots of ``radius`` pixels (sub-pixel radii allowed)."""
    rad = max(1, int(round(radius * _ONE)))
    for x, y in _fixed(np.asarray(points)[:, :2], image):
        cv2.circle(image, (int(x), int(y)), rad, color, -1, cv2.LINE_AA, SHIFT)


def _faded_dots(image: np.ndarray, points: np.ndarray, seen: np.ndarray, color, radius: float,
                alpha: float, crop_box) -> None:
    """Dots in place: the ``seen`` points opaque, the others blended at opacity ``alpha`` (drawn
    on a copy of the face's region, ``crop_box`` grown by a quarter)."""
    pts = np.asarray(points)
    if seen.all() or alpha >= 1.0:
        _dots(image, pts, color, radius)
        return
    x0, y0, x1, y1 = _clip_box(crop_box, image.shape)
    if x1 > x0 and y1 > y0 and alpha > 0.0:
        roi = image[y0:y1, x0:x1]
        overlay = roi.copy()
        shifted = pts[~seen, :2] - np.array([x0, y0])
        _dots(overlay, shifted, color, radius)
        cv2.addWeighted(overlay, alpha, roi, 1 - alpha, 0, dst=roi)
    _dots(image, pts[seen], color, radius)


def _fixed(points: np.ndarray, image: np.ndarray) -> np.ndarray:
    """Fixed-point int32 coordinates, clipped far outside the image (safe for OpenCV)."""
    lim = 4.0 * max(image.shape[:2])
    return (np.clip(np.asarray(points, np.float64), -lim, lim) * _ONE).round().astype(np.int32)


def _clip_box(box, shape) -> tuple[int, int, int, int]:
    """Integer box around ``box`` (grown by 25%), clipped to the image."""
    x0, y0, x1, y1 = np.asarray(box, np.float64)
    gx, gy = 0.25 * (x1 - x0), 0.25 * (y1 - y0)
    h, w = shape[:2]
    return (int(max(0, np.floor(x0 - gx))), int(max(0, np.floor(y0 - gy))),
            int(min(w, np.ceil(x1 + gx))), int(min(h, np.ceil(y1 + gy))))


def _rect(image: np.ndarray, box, color, thickness: int) -> None:
    b = _fixed(np.asarray(box, np.float64).reshape(2, 2), image).reshape(-1)
    cv2.rectangle(image, (int(b[0]), int(b[1])), (int(b[2]), int(b[3])), color, thickness,
                  cv2.LINE_AA, SHIFT)
