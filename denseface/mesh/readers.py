"""Readers of fit files: 300W-LP / AFLW2000-3D ``.mat`` and the aflw_pl ``labels.npz``."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DenseFaceError
from .fit import Fit, fit_from_pose_para


@dataclass
class MatRecord:
    """One 300W-LP / AFLW2000-3D annotation. Points are image pixels (x right, y down)."""

    path: Path
    fit: Fit
    pt2d: np.ndarray | None      # (K, 2): 68 (300W-LP) or 21 (AFLW2000-3D), -1 = missing
    pt3d_68: np.ndarray | None   # (68, 3)
    pose_para: np.ndarray        # (7,) pitch, yaw, roll (radians), tx, ty, tz, s


def read_mat(path: str | Path, image_height: int | None = None,
             n_shape: int | None = None, n_exp: int | None = None) -> MatRecord:
    """Read a 300W-LP/AFLW2000-3D .mat. ``image_height`` defaults to 450 (both datasets)."""
    import scipy.io as sio

    path = Path(path)
    if not path.exists():
        raise DenseFaceError("file does not exist", path=path)
    try:
        m = sio.loadmat(str(path))
    except Exception as e:
        raise DenseFaceError(f"cannot read .mat ({type(e).__name__})", path=path) from None
    for key in ("Pose_Para", "Shape_Para", "Exp_Para"):
        if key not in m:
            raise DenseFaceError(f"missing '{key}'", path=path)
    pose = np.asarray(m["Pose_Para"], np.float64).reshape(-1)
    shape = np.asarray(m["Shape_Para"], np.float64).reshape(-1)
    exp = np.asarray(m["Exp_Para"], np.float64).reshape(-1)
    if pose.size != 7:
        raise DenseFaceError(f"Pose_Para has {pose.size} values, expected 7", path=path)
    for name, a in (("Pose_Para", pose), ("Shape_Para", shape), ("Exp_Para", exp)):
        if not np.isfinite(a).all():
            raise DenseFaceError(f"{name} holds NaN or inf", path=path)
    fit = fit_from_pose_para(pose, shape[:n_shape], exp[:n_exp], image_height or 450)
    pt2d = np.asarray(m["pt2d"], np.float64).T.copy() if "pt2d" in m else None
    pt3d = np.asarray(m["pt3d_68"], np.float64).T.copy() if "pt3d_68" in m else None
    if pt3d is not None and pt3d.shape != (68, 3):
        raise DenseFaceError(f"pt3d_68 is {pt3d.T.shape}, expected (3, 68)", path=path)
    return MatRecord(path, fit, pt2d, pt3d, pose)


@dataclass
class FitTable:
    """Rows of fits in the aflw_pl layout (see data/aflw_pl/README.md).

    camera (N,3,4) maps model coordinates to crop pixels; pts21 (N,21,2) crop pixels,
    NaN = not annotated; yaw in degrees; roi_box [sx, sy, ex, ey] in the source photo."""

    names: np.ndarray
    camera: np.ndarray
    shape: np.ndarray
    expression: np.ndarray
    pts21: np.ndarray | None = None
    yaw: np.ndarray | None = None
    roi_box: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.names)

    def fit(self, i: int) -> Fit:
        return Fit(self.camera[i], self.shape[i], self.expression[i])

    def subset(self, idx) -> "FitTable":
        def take(a):
            return None if a is None else a[idx]
        return FitTable(self.names[idx], self.camera[idx], self.shape[idx], self.expression[idx],
                        take(self.pts21), take(self.yaw), take(self.roi_box))

    def save(self, path: str | Path, **extra: np.ndarray) -> None:
        """Write atomically in the aflw_pl labels.npz layout (plus any extra arrays)."""
        from ..io.files import atomic_output

        path = Path(path)
        arrays = {k: v for k, v in dict(
            names=self.names, camera=self.camera.astype(np.float32),
            shape=self.shape.astype(np.float32), expression=self.expression.astype(np.float32),
            pts21=self.pts21, yaw=self.yaw, roi_box=self.roi_box).items() if v is not None}
        arrays.update(extra)
        with atomic_output(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, **arrays)


def read_fit_table(path: str | Path) -> FitTable:
    """Read an aflw_pl-layout ``labels.npz`` (a file, or a split folder holding one)."""
    path = Path(path)
    if path.is_dir():
        path = path / "labels.npz"
    if not path.exists():
        raise DenseFaceError("labels file does not exist", path=path)
    try:
        d = np.load(path, allow_pickle=False)
        arrays = {k: d[k] for k in d.files}
    except Exception as e:
        raise DenseFaceError(f"cannot read labels ({type(e).__name__})", path=path) from None
    for key in ("names", "camera", "shape", "expression"):
        if key not in arrays:
            raise DenseFaceError(f"missing array '{key}'", path=path)
    n = len(arrays["names"])
    cam = arrays["camera"]
    if cam.shape != (n, 3, 4):
        raise DenseFaceError(f"camera is {cam.shape}, expected ({n}, 3, 4)", path=path)
    for key in ("shape", "expression"):
        if arrays[key].ndim != 2 or arrays[key].shape[0] != n:
            raise DenseFaceError(f"{key} is {arrays[key].shape}, expected ({n}, K)", path=path)
    pts21 = arrays.get("pts21")
    if pts21 is not None and pts21.shape != (n, 21, 2):
        raise DenseFaceError(f"pts21 is {pts21.shape}, expected ({n}, 21, 2)", path=path)
    return FitTable(arrays["names"].astype(str), cam.astype(np.float64),
                    arrays["shape"].astype(np.float64), arrays["expression"].astype(np.float64),
                    pts21, arrays.get("yaw"), arrays.get("roi_box"))
