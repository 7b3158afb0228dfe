"""Rotations and similarity fits (scipy's Rotation), in 3DDFA's Euler convention.

3DDFA / face3d / AFLW2000-3D ``Pose_Para`` write a model rotation (y-up model frame) as
``R = Rx(pitch) @ Ry(yaw) @ Rz(roll)`` with each factor the *transpose* of the usual active
rotation, i.e. scipy's intrinsic "XYZ" Euler angles with all three signs flipped. With image
y pointing down this reads: yaw > 0 turns the face towards the image's left (the subject's
right), pitch > 0 looks up, roll > 0 turns it clockwise in the image.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation


def rotation_3ddfa(pitch: float, yaw: float, roll: float) -> np.ndarray:
    """R (3, 3) of 3DDFA's ``angle2matrix_3ddfa`` for angles in radians."""
    return Rotation.from_euler("XYZ", [-pitch, -yaw, -roll]).as_matrix()


def euler_3ddfa(R: np.ndarray) -> tuple[float, float, float]:
    """(pitch, yaw, roll) in radians of a rotation matrix (the nearest rotation when ``R`` is
    not exactly orthonormal); yaw in [-pi/2, pi/2]."""
    a, b, c = Rotation.from_matrix(np.asarray(R, np.float64)).as_euler("XYZ")
    return float(-a), float(-b), float(-c)


def similarity_fit(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares similarity ``dst ~ s * src @ R.T + t`` (R a proper rotation, no
    reflection) between (N, 3) point sets: returns (s, R (3, 3), t (3,))."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    rot, _ = Rotation.align_vectors(b, a)     # the rotation taking a onto b, least squares
    R = rot.as_matrix()
    denom = float(np.sum(a * a))
    s = float(np.sum(b * (a @ R.T)) / denom) if denom > 0 else 1.0
    return s, R, mu_d - s * mu_s @ R.T
