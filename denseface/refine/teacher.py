"""The teacher of aflw_pl: 3DDFA-V2's MobileNetV1 (width 0.5) 3DMM regressor.

It maps a 120x120 BGR crop (3DDFA-V2 feeds OpenCV's BGR order) to 62 parameters:
12 camera values (a 3x4 affine camera, row-major), 40 shape and 10 expression
coefficients of the 3DDFA BFM, normalised by ``param_mean_std_62d_120x120.pkl``.

Camera frame: the raw camera maps BFM model coordinates (y up) to a y-up 120-pixel frame;
:func:`cameras_from_params` folds 3DDFA's flip to crop pixels (x right, y down, z towards
the viewer) into the camera. Two flips exist (see CONVENTIONS); aflw_pl's ``labels.npz``
uses the 3DDFA-V2 one and shifts z so that the mesh's min z is 0.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import DenseFaceError
from ..io.safe_pickle import load_arrays_pickle
from ..models.checkpoints import read_torch_file

TEACHER_INPUT_SIZE = 120


def _torch():
    import torch
    return torch


def build_mobilenet_v1(width: float = 0.5, num_params: int = 62, num_landmarks: int = 136):
    """3DDFA-V2's ``MobileNet`` with both of its heads, so its checkpoint loads strictly."""
    from ..models.mobilenet_v1 import MobileNetV1
    return MobileNetV1(width, num_params, num_landmarks)


@dataclass
class Teacher:
    """The loaded network plus its parameter de-normalisation (62,) mean and std."""

    net: object
    param_mean: np.ndarray
    param_std: np.ndarray


def load_teacher(folder: str | Path) -> Teacher:
    """Load ``mb05_120x120.pth`` and ``param_mean_std_62d_120x120.pkl`` from ``folder``."""
    folder = Path(folder)
    wpath, ppath = folder / "mb05_120x120.pth", folder / "param_mean_std_62d_120x120.pkl"
    for p in (wpath, ppath):
        if not p.exists():
            raise DenseFaceError("missing teacher file", path=p)
    ckpt = read_torch_file(wpath, "teacher weights")
    state = ckpt.get("state_dict", ckpt)
    state = {k.removeprefix("module."): v for k, v in state.items()}
    net = build_mobilenet_v1()
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise DenseFaceError(f"weights do not match MobileNetV1-0.5 ({str(e)[:200]})", path=wpath) from None
    net.eval()
    ms = load_arrays_pickle(ppath)
    if not (isinstance(ms, dict) and "mean" in ms and "std" in ms):
        raise DenseFaceError("expected a dict with 'mean' and 'std' arrays", path=ppath)
    mean, std = np.asarray(ms["mean"], np.float64), np.asarray(ms["std"], np.float64)
    if mean.shape != (62,) or std.shape != (62,):
        raise DenseFaceError(f"mean/std are {mean.shape}/{std.shape}, expected (62,)", path=ppath)
    return Teacher(net, mean, std)


def crop_3ddfa(image: np.ndarray, roi_box: np.ndarray, size: int = TEACHER_INPUT_SIZE) -> np.ndarray:
    """3DDFA's ``crop_img`` + ``cv2.resize``: the box corners are rounded to whole pixels,
    the outside is black, then the cut is resized (bilinear) to ``size`` x ``size``."""
    h, w = image.shape[:2]
    sx, sy, ex, ey = [int(round(float(v))) for v in roi_box]
    out = np.zeros((ey - sy, ex - sx) + image.shape[2:], image.dtype)
    x0, y0, x1, y1 = max(sx, 0), max(sy, 0), min(ex, w), min(ey, h)
    if x1 > x0 and y1 > y0:
        out[y0 - sy:y1 - sy, x0 - sx:x1 - sx] = image[y0:y1, x0:x1]
    return cv2.resize(out, (size, size), interpolation=cv2.INTER_LINEAR)


def predict_params(teacher: Teacher, crops_bgr: np.ndarray, batch: int = 256, threads: int = 1) -> np.ndarray:
    """(B, 120, 120, 3) uint8 BGR crops -> (B, 62) de-normalised parameters (float64).
    ``threads``: torch CPU threads for the call (1 is fastest on a busy 2-core machine)."""
    torch = _torch()
    saved = torch.get_num_threads()
    torch.set_num_threads(max(1, threads))
    try:
        return _predict_params(teacher, crops_bgr, batch)
    finally:
        torch.set_num_threads(saved)


def _predict_params(teacher: Teacher, crops_bgr: np.ndarray, batch: int) -> np.ndarray:
    torch = _torch()
    crops = np.asarray(crops_bgr)
    if crops.ndim != 4 or crops.shape[1:] != (TEACHER_INPUT_SIZE, TEACHER_INPUT_SIZE, 3):
        raise DenseFaceError(f"teacher input is {crops.shape}, expected (B, 120, 120, 3)")
    out = []
    with torch.no_grad():
        for i in range(0, len(crops), batch):
            x = torch.from_numpy(crops[i:i + batch].astype(np.float32)).permute(0, 3, 1, 2)
            x = (x - 127.5) / 128.0
            out.append(teacher.net(x).double().numpy())
    p = np.concatenate(out) if out else np.zeros((0, 62))
    return p * teacher.param_std + teacher.param_mean


#: Pixel conventions of the raw camera output: 3DDFA (v1 benchmark code) maps the y-up frame
#: to crop pixels with ``y = size + 1 - y``; 3DDFA-V2's ``similar_transform`` (used to make
#: aflw_pl) with ``x = x - 1, y = size - y``, i.e. one pixel up and left of v1.
CONVENTIONS = ("3ddfa_v1", "3ddfa_v2")


def cameras_from_params(params: np.ndarray, size: int = TEACHER_INPUT_SIZE,
                        convention: str = "3ddfa_v2") -> np.ndarray:
    """(B, 62) parameters -> (B, 3, 4) cameras to crop pixels (x right, y down), the y flip
    of ``convention`` (see CONVENTIONS) folded into the camera. z is left as the network's."""
    if convention not in CONVENTIONS:
        raise DenseFaceError(f"unknown camera convention {convention!r}; use one of {CONVENTIONS}")
    cam = np.asarray(params, np.float64)[:, :12].reshape(-1, 3, 4).copy()
    cam[:, 1, :] *= -1.0
    if convention == "3ddfa_v1":
        cam[:, 1, 3] += size + 1.0
    else:
        cam[:, 1, 3] += size
        cam[:, 0, 3] -= 1.0
    return cam
