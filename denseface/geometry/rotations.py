"""Rotations and similarity fits in numpy, in 3DDFA's Euler convention.

3DDFA / face3d / AFLW2000-3D ``Pose_Para`` write a model rotation (y-up model frame) as
``R = Rx(pitch) @ Ry(yaw) @ Rz(roll)`` with each factor the *transpose* of the usual active
rotation, i.e. scipy's intrinsic "XYZ" Euler angles with all three signs flipped. With image
y pointing down this reads: yaw > 0 turns the face towards the image's left (the subject's
right), pitch > 0 looks up, roll > 0 turns it clockwise in the image.
"""
from __future__ import annotations

import numpy as np


def _axis_rotation(axis: int, angle: float) -> np.ndarray:
    """The active rotation (3, 3) by ``angle`` radians about the x (0), y (1) or z (2) axis."""
    c, s = np.cos(angle), np.sin(angle)
    i, j = (axis + 1) % 3, (axis + 2) % 3     # cyclic, so that y's sines fall as they should
    R = np.eye(3)
    R[i, i], R[i, j], R[j, i], R[j, j] = c, -s, s, c
    return R


def rotation_3ddfa(pitch: float, yaw: float, roll: float) -> np.ndarray:
    """R (3, 3) of 3DDFA's ``angle2matrix_3ddfa`` for angles in radians:
    ``Rx(-pitch) @ Ry(-yaw) @ Rz(-roll)`` (intrinsic "XYZ" with the signs flipped)."""
    return _axis_rotation(0, -pitch) @ _axis_rotation(1, -yaw) @ _axis_rotation(2, -roll)


def nearest_rotation(M: np.ndarray) -> np.ndarray:
    """The proper rotation nearest to a (3, 3) matrix in the Frobenius norm (its polar factor,
    the sign of the smallest singular direction flipped when needed)."""
    U, _, Vt = np.linalg.svd(np.asarray(M, np.float64))
    d = 1.0 if np.linalg.det(U @ Vt) > 0 else -1.0
    return (U * [1.0, 1.0, d]) @ Vt


def euler_3ddfa(R: np.ndarray) -> tuple[float, float, float]:
    """(pitch, yaw, roll) in radians of a rotation matrix (the nearest rotation when ``R`` is
    not exactly orthonormal); yaw in [-pi/2, pi/2].

    ``R = Rx(-pitch) Ry(-yaw) Rz(-roll)`` (scipy's intrinsic "XYZ" with the signs flipped), so
    ``R[0, 2] = sin(-yaw)``, ``(R[1, 2], R[2, 2]) ~ (-sin, cos)(-pitch)`` and
    ``(R[0, 1], R[0, 0]) ~ (-sin, cos)(-roll)``; at yaw = +-90 degrees (gimbal lock) roll is 0
    and the whole in-plane angle goes to pitch, as scipy's ``as_euler`` does."""
    r = nearest_rotation(R)
    b = float(np.arcsin(np.clip(r[0, 2], -1.0, 1.0)))
    if abs(r[0, 2]) < 1.0 - 1e-12:
        a, c = np.arctan2(-r[1, 2], r[2, 2]), np.arctan2(-r[0, 1], r[0, 0])
    else:   # gimbal lock: Rx(a) Ry(+-pi/2) Rz(c) depends on a +- c only
        a, c = np.arctan2(r[2, 1], r[1, 1]), 0.0
    return float(-a), float(-b), float(-c)


def similarity_fit(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares similarity ``dst ~ s * src @ R.T + t`` (R a proper rotation, no
    reflection) between (N, 3) point sets: returns (s, R (3, 3), t (3,))."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    R = nearest_rotation(b.T @ a)             # Kabsch: the rotation taking a onto b, least squares
    denom = float(np.sum(a * a))
    s = float(np.sum(b * (a @ R.T)) / denom) if denom > 0 else 1.0
    return s, R, mu_d - s * mu_s @ R.T
