"""A 3DMM fit: affine camera plus shape and expression coefficients.

Frames: the camera maps BFM model coordinates (y up) to image pixels with x right,
y down and z towards the viewer; z uses the same pixel scale as x and y.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..geometry.rotations import euler_3ddfa, rotation_3ddfa


@dataclass(frozen=True)
class Fit:
    """camera (3, 4): ``pixels = camera[:, :3] @ model + camera[:, 3]``;
    shape (Ks,), expression (Ke,) coefficients, any length up to the basis size."""

    camera: np.ndarray
    shape: np.ndarray
    expression: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "camera", np.asarray(self.camera, np.float64).reshape(3, 4))
        object.__setattr__(self, "shape", np.asarray(self.shape, np.float64).reshape(-1))
        object.__setattr__(self, "expression", np.asarray(self.expression, np.float64).reshape(-1))

    def project(self, model_points: np.ndarray) -> np.ndarray:
        """(N, 3) model coordinates -> (N, 3) image pixels."""
        return model_points @ self.camera[:, :3].T + self.camera[:, 3]

    def transformed(self, matrix: np.ndarray, z_scale: float = 1.0, z_shift: float = 0.0) -> "Fit":
        """The fit seen through a 2D affine image transform ``matrix`` (2x3, pixels to
        pixels); z is multiplied by ``z_scale`` and shifted by ``z_shift``."""
        A = np.eye(3)
        A[:2, :2] = np.asarray(matrix, np.float64).reshape(2, 3)[:, :2]
        t = np.zeros(3)
        t[:2] = np.asarray(matrix, np.float64).reshape(2, 3)[:, 2]
        A[2, 2] = z_scale
        t[2] = z_shift
        cam = np.concatenate([A @ self.camera[:, :3], (A @ self.camera[:, 3] + t)[:, None]], 1)
        return Fit(cam, self.shape, self.expression)

    def is_finite(self) -> bool:
        return bool(np.isfinite(self.camera).all() and np.isfinite(self.shape).all()
                    and np.isfinite(self.expression).all())


def fit_from_pose_para(pose_para: np.ndarray, shape: np.ndarray, expression: np.ndarray,
                       image_height: int) -> Fit:
    """300W-LP / AFLW2000-3D convention: Pose_Para = [pitch, yaw, roll, tx, ty, tz, s].

    ``p = s * R @ model + t`` in a y-up frame, then the image row is ``height + 1 - y`` as in
    3DDFA, which keeps the mesh in the same pixel convention as the datasets' ``pt3d_68``."""
    p = np.asarray(pose_para, np.float64).reshape(-1)
    R = p[6] * rotation_3ddfa(p[0], p[1], p[2])
    flip = np.diag([1.0, -1.0, 1.0])
    cam = np.zeros((3, 4))
    cam[:, :3] = flip @ R
    cam[:, 3] = flip @ p[3:6] + np.array([0.0, image_height + 1.0, 0.0])
    return Fit(cam, shape, expression)


def pose_from_camera(camera: np.ndarray) -> tuple[float, float, float]:
    """Head pose (yaw, pitch, roll) in degrees from an affine camera.

    Convention (denseface.geometry.rotations): the rotation R (model y-up frame) is the
    nearest rotation to the camera's first two rows (y un-flipped, normalised) and their cross
    product; angles follow 3DDFA's R = Rx(pitch) Ry(yaw) Rz(roll). Positive yaw: the face
    turns towards image left (the subject's right); positive pitch: the face looks up;
    positive roll: in-plane clockwise in the image."""
    M = np.asarray(camera, np.float64)[:, :3]
    r1, r2 = M[0] / np.linalg.norm(M[0]), -M[1] / np.linalg.norm(M[1])
    pitch, yaw, roll = euler_3ddfa(np.stack([r1, r2, np.cross(r1, r2)]))
    return float(np.degrees(yaw)), float(np.degrees(pitch)), float(np.degrees(roll))
