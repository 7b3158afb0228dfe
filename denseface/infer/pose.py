"""Head pose from predicted 3D landmarks, and the mean-shape package data it needs.

Pose is the rotation of the best similarity transform (Umeyama, least squares over all N
points) from the BFM mean shape of the landmark set to the predicted points. The mean-shape
positions are package data (``landmarks/data/<set>_mean.npz``, written from the BFM by
:func:`write_mean_shape`), so inference needs no BFM.

Convention (the same as ``denseface.mesh.pose_from_camera`` and 3DDFA/AFLW2000-3D Pose_Para,
R = Rx(pitch) Ry(yaw) Rz(roll), degrees):
  yaw > 0: the face turns towards the image's left (the subject's right);
  pitch > 0: the face looks up;
  roll > 0: in-plane rotation clockwise in the image.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DenseFaceError
from ..landmarks.landmark_set import DATA_DIR, LandmarkSet
from ..mesh.fit import pose_from_camera

Y_FLIP = np.diag([1.0, -1.0, 1.0])


@dataclass(frozen=True)
class Pose:
    """Head pose in degrees (see the module docstring for the convention)."""

    yaw: float
    pitch: float
    roll: float

    def as_dict(self) -> dict[str, float]:
        return {"yaw": self.yaw, "pitch": self.pitch, "roll": self.roll}


def mean_shape_path(set_name: str = "dense520") -> Path:
    return DATA_DIR / f"{set_name}_mean.npz"


def mean_shape_points(bfm, landmark_set: LandmarkSet) -> np.ndarray:
    """The BFM mean face at the set's points, (N, 3) float32 model coordinates (y up)."""
    return np.asarray(bfm.mean, np.float64)[landmark_set.vertex_ids].astype(np.float32)


def write_mean_shape(bfm, landmark_set: LandmarkSet, path: str | Path | None = None) -> Path:
    """Write ``<set>_mean.npz`` (name, vertex_ids, mean_shape (N, 3) BFM model units, y up).

    Called when a landmark set is built; the file is what pose estimation reads."""
    path = Path(path) if path else mean_shape_path(landmark_set.name)
    np.savez(path, name=landmark_set.name, vertex_ids=landmark_set.vertex_ids,
             mean_shape=mean_shape_points(bfm, landmark_set))
    return path


def load_mean_shape(landmark_set: LandmarkSet, path: str | Path | None = None) -> np.ndarray:
    """The set's mean shape (N, 3) from package data; checks it belongs to this set."""
    path = Path(path) if path else mean_shape_path(landmark_set.name)
    if not path.exists():
        raise DenseFaceError("mean-shape file of the landmark set is missing (regenerate it with "
                             "denseface.infer.pose.write_mean_shape)", path=path)
    with np.load(path, allow_pickle=False) as d:
        ids, mean = d["vertex_ids"], d["mean_shape"].astype(np.float64)
    if not np.array_equal(ids, landmark_set.vertex_ids) or mean.shape != (landmark_set.n_points, 3):
        raise DenseFaceError(f"mean-shape file does not match landmark set '{landmark_set.name}'",
                             path=path)
    return mean


def similarity_fit(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares ``dst ~ s * R @ src + t`` with R a proper rotation (Umeyama 1991).

    src, dst (N, 3); returns (s, R (3, 3), t (3,))."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    cov = b.T @ a / len(src)
    U, S, Vt = np.linalg.svd(cov)
    D = np.eye(3)
    if np.linalg.det(U) * np.linalg.det(Vt) < 0:
        D[2, 2] = -1.0
    R = U @ D @ Vt
    var = (a ** 2).sum() / len(src)
    s = float(np.trace(np.diag(S) @ D) / var) if var > 0 else 1.0
    return s, R, mu_d - s * R @ mu_s


def camera_from_points(points: np.ndarray, mean_shape: np.ndarray) -> np.ndarray:
    """The (3, 4) similarity camera (model coords -> image pixels, y down) best mapping the
    mean shape onto ``points`` (N, 3) image pixels (x right, y down, z towards the viewer)."""
    s, R, t = similarity_fit(mean_shape, np.asarray(points, np.float64) @ Y_FLIP)
    return Y_FLIP @ np.concatenate([s * R, t[:, None]], 1)


def estimate_pose(points: np.ndarray, mean_shape: np.ndarray) -> Pose:
    """Head pose (degrees) of predicted points (N, 3) image pixels."""
    p = np.asarray(points, np.float64)
    if p.shape != np.asarray(mean_shape).shape or not np.isfinite(p).all():
        return Pose(float("nan"), float("nan"), float("nan"))
    yaw, pitch, roll = pose_from_camera(camera_from_points(p, mean_shape))
    return Pose(yaw, pitch, roll)


def rotation_matrix(pose: Pose) -> np.ndarray:
    """R (3, 3) in the model frame (y up) for a Pose: R = Rx(pitch) Ry(yaw) Rz(roll)."""
    from ..mesh.fit import rotation_3ddfa

    return rotation_3ddfa(*np.radians([pose.pitch, pose.yaw, pose.roll]))


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
