"""Eye patches for the eye stage: a small image of one eye, its corners level, the left eye mirrored
so that one network reads both.

Frames: image pixels (x right, y down, OpenCV's 0-based pixel centres); a patch of ``width`` x
``height`` pixels has the eye's corners on its horizontal midline, ``1 / width_factor`` of the patch
width apart, centred. The six points of an eye are in Soukupova and Cech's order p1..p6 (outer
corner, two upper lid, inner corner, two lower lid) for the subject's right eye (iBUG 36-41); the
left eye (42-47) is mirrored into that order (:data:`MIRRORED_ORDER`).
"""
from __future__ import annotations

import numpy as np

#: iBUG indices of each eye, the subject's right eye first.
EYE_INDICES = (np.arange(36, 42), np.arange(42, 48))

#: The left eye's six points (42..47) in a mirrored patch, in the right eye's order p1..p6.
MIRRORED_ORDER = np.array([3, 2, 1, 0, 5, 4])


def eye_patch_matrix(corner_a: np.ndarray, corner_b: np.ndarray, width: int, height: int,
                     width_factor: float, mirror: bool) -> np.ndarray:
    """2x3 matrix from image pixels to patch pixels: ``corner_a`` -> ``corner_b`` level, centred,
    the patch ``width_factor`` times their distance wide; ``mirror`` flips the patch horizontally
    (x -> width - 1 - x)."""
    a, b = np.asarray(corner_a, np.float64), np.asarray(corner_b, np.float64)
    d = b - a
    s = width / (width_factor * max(float(np.linalg.norm(d)), 1e-6))
    c, sn = d / max(float(np.linalg.norm(d)), 1e-6)
    M = np.array([[c * s, sn * s, 0.0], [-sn * s, c * s, 0.0]])
    M[:, 2] = np.array([(width - 1) / 2.0, (height - 1) / 2.0]) - M[:, :2] @ ((a + b) / 2.0)
    if mirror:
        M = np.array([[-1.0, 0.0, width - 1.0], [0.0, 1.0, 0.0]]) @ np.vstack([M, [0.0, 0.0, 1.0]])
    return M


def eye_matrices(points68: np.ndarray, width: int, height: int, width_factor: float) -> list[np.ndarray]:
    """The two patch matrices of a face's 68 points (M, 68, >=2 or 68, >=2): right eye, then the
    left eye mirrored."""
    p = np.asarray(points68, np.float64)[..., :2]
    return [eye_patch_matrix(p[idx[0]], p[idx[3]], width, height, width_factor, mirror=k == 1)
            for k, idx in enumerate(EYE_INDICES)]


def to_patch(points6: np.ndarray, M: np.ndarray, mirrored: bool) -> np.ndarray:
    """(6, 2) image pixels of one eye (iBUG order) -> patch pixels in the right eye's order."""
    q = np.asarray(points6, np.float64) @ M[:, :2].T + M[:, 2]
    return q[MIRRORED_ORDER] if mirrored else q


def from_patch(points6: np.ndarray, M: np.ndarray, mirrored: bool) -> np.ndarray:
    """The inverse of :func:`to_patch`: patch pixels (right eye's order) -> image pixels (iBUG)."""
    q = np.asarray(points6, np.float64)
    if mirrored:
        q = q[MIRRORED_ORDER]                  # the order is its own inverse
    (a, b), (c, d) = M[:, :2]
    inv = np.array([[d, -b], [-c, a]]) / (a * d - b * c)
    return (q - M[:, 2]) @ inv.T
