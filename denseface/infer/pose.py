"""Head pose from predicted 3D landmarks.

Pose is the rotation of the least-squares similarity (denseface.geometry.rotations) from the
landmark set's BFM mean shape (``LandmarkSet.mean_shape``, package data, so inference needs no
BFM) to the predicted points.

Convention (the same as ``denseface.mesh.pose_from_camera`` and 3DDFA/AFLW2000-3D Pose_Para,
R = Rx(pitch) Ry(yaw) Rz(roll), degrees):
  yaw > 0: the face turns towards the image's left (the subject's right);
  pitch > 0: the face looks up;
  roll > 0: in-plane rotation clockwise in the image.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..geometry.rotations import rotation_3ddfa, similarity_fit
from ..mesh.fit import pose_from_camera

#: Image pixels (y down) <-> the model's y-up frame.
Y_FLIP = np.diag([1.0, -1.0, 1.0])


@dataclass(frozen=True)
class Pose:
    """Head pose in degrees (see the module docstring for the convention)."""

    yaw: float
    pitch: float
    roll: float

    def as_dict(self) -> dict[str, float]:
        return {"yaw": self.yaw, "pitch": self.pitch, "roll": self.roll}


def camera_from_points(points: np.ndarray, mean_shape: np.ndarray) -> np.ndarray:
    """The (3, 4) similarity camera (model coords -> image pixels, y down) best mapping the
    mean shape onto ``points`` (N, 3) image pixels (x right, y down, z towards the viewer)."""
    s, R, t = similarity_fit(mean_shape, np.asarray(points, np.float64) @ Y_FLIP)
    return Y_FLIP @ np.concatenate([s * R, t[:, None]], 1)


def estimate_pose(points: np.ndarray, mean_shape: np.ndarray) -> Pose:
    """Head pose (degrees) of predicted points (N, 3) image pixels; NaNs for non-finite input."""
    p = np.asarray(points, np.float64)
    if p.shape != np.asarray(mean_shape).shape or not np.isfinite(p).all():
        return Pose(float("nan"), float("nan"), float("nan"))
    yaw, pitch, roll = pose_from_camera(camera_from_points(p, mean_shape))
    return Pose(yaw, pitch, roll)


def rotation_matrix(pose: Pose) -> np.ndarray:
    """R (3, 3) in the model frame (y up) for a Pose: R = Rx(pitch) Ry(yaw) Rz(roll)."""
    return rotation_3ddfa(*np.radians([pose.pitch, pose.yaw, pose.roll]))
