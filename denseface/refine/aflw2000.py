"""AFLW2000-3D by the 3DDFA protocol, for measuring *labels* (teacher and refined fits).

Protocol (3DDFA's benchmark_aflw2000): the 2000 images in the sorted order of
``AFLW2000-3D_crop.list``; each face is the 120x120 crop of its ``roi_box`` [sx, sy, ex, ey];
predicted 68 points are mapped back to the 450x450 image with
``p * (ex - sx, ey - sy) / 120 + (sx, sy)``; the NME of an image is the mean 2D distance to
``AFLW2000-3D.pts68.npy`` divided by sqrt(w * h) of the ground truth's 2D bounding box;
yaw bins use |``AFLW2000-3D.pose.npy``| (<= 30, 30-60, > 60 degrees); "balanced" is the mean
of the three bin means. All numbers are reported in percent.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DenseFaceError
from ..mesh.readers import FitTable

CROP = 120


@dataclass
class Aflw2000:
    """The protocol arrays, row i = ``names[i]``.

    roi_box (N, 4) source px; pts68 (N, 68, 2) ground truth 2D source px; pts21 (N, 21, 2)
    human AFLW points, source px, NaN = missing; yaw (N,) |yaw| degrees."""

    names: np.ndarray
    roi_box: np.ndarray
    pts68: np.ndarray
    pts21: np.ndarray
    yaw: np.ndarray
    image_dir: Path


def load_aflw2000(configs_dir: str | Path, image_dir: str | Path) -> Aflw2000:
    """Read 3DDFA's test configs (``AFLW2000-3D*.npy``, ``AFLW2000-3D_crop.list``)."""
    cfg, img = Path(configs_dir), Path(image_dir)

    def npy(name: str) -> np.ndarray:
        p = cfg / name
        if not p.exists():
            raise DenseFaceError("missing 3DDFA protocol file", path=p)
        return np.load(p)

    lst = cfg / "AFLW2000-3D_crop.list"
    if not lst.exists():
        raise DenseFaceError("missing 3DDFA protocol file", path=lst)
    names = np.array([line.strip() for line in lst.read_text().splitlines() if line.strip()])
    roi = npy("AFLW2000-3D_crop.roi_box.npy").astype(np.float64)
    pts68 = npy("AFLW2000-3D.pts68.npy").astype(np.float64)[:, :2].transpose(0, 2, 1)
    pts21 = npy("AFLW2000-3D.pts21.npy").astype(np.float64).transpose(0, 2, 1)
    pts21[(pts21 < 0).any(-1)] = np.nan                  # -1 marks a missing point
    yaw = np.abs(npy("AFLW2000-3D.pose.npy").astype(np.float64).reshape(-1))
    n = len(names)
    for name, a in (("roi_box", roi), ("pts68", pts68), ("pts21", pts21), ("pose", yaw)):
        if len(a) != n:
            raise DenseFaceError(f"{name} has {len(a)} rows, the list {n}", path=cfg)
    if not img.is_dir():
        raise DenseFaceError("AFLW2000-3D image folder does not exist", path=img)
    return Aflw2000(names, roi, pts68, pts21, yaw, img)


def source_to_crop(points: np.ndarray, roi_box: np.ndarray, size: int = CROP) -> np.ndarray:
    """(N, K, 2) source px -> crop px: ``(p - (sx, sy)) * size / (ex - sx, ey - sy)``."""
    roi = np.asarray(roi_box, np.float64)
    return (np.asarray(points, np.float64) - roi[:, None, :2]) * size / (roi[:, None, 2:] - roi[:, None, :2])


def crop_to_source(points: np.ndarray, roi_box: np.ndarray, size: int = CROP) -> np.ndarray:
    """(N, K, 2) crop px -> source px, 3DDFA's ``_predict_vertices``."""
    roi = np.asarray(roi_box, np.float64)
    return np.asarray(points, np.float64) * (roi[:, None, 2:] - roi[:, None, :2]) / size + roi[:, None, :2]


def nme_3ddfa(pred68: np.ndarray, gt68: np.ndarray, yaw_abs: np.ndarray) -> dict[str, float]:
    """NME (%) by 3DDFA's protocol: per-image mean distance / sqrt(bbox w * h) of the truth."""
    gt = np.asarray(gt68, np.float64)
    wh = gt.max(1) - gt.min(1)
    e = np.linalg.norm(np.asarray(pred68, np.float64) - gt, axis=-1).mean(1) / np.sqrt(wh[:, 0] * wh[:, 1])
    y = np.asarray(yaw_abs)
    bins = [e[y <= 30].mean(), e[(y > 30) & (y <= 60)].mean(), e[y > 60].mean()]
    return {"yaw<=30": 100 * bins[0], "yaw30-60": 100 * bins[1], "yaw>60": 100 * bins[2],
            "balanced": 100 * float(np.mean(bins)), "all": 100 * float(e.mean())}


def teacher_table(data: Aflw2000, teacher_dir: str | Path, bfm, convention: str = "3ddfa_v2") -> FitTable:
    """Run the teacher on every protocol crop; a FitTable in the aflw_pl layout (crop px,
    z shifted to min 0 over the mesh) with pts21 mapped into the crops like aflw_pl's."""
    import cv2

    from .refine import mesh_min_z
    from .teacher import cameras_from_params, crop_3ddfa, load_teacher, predict_params

    teacher = load_teacher(teacher_dir)
    crops = []
    for name, box in zip(data.names, data.roi_box):
        p = data.image_dir / name
        img = cv2.imread(str(p))
        if img is None:
            raise DenseFaceError("cannot read image", path=p)
        crops.append(crop_3ddfa(img, box))
    params = predict_params(teacher, np.stack(crops))
    cam = cameras_from_params(params, convention=convention)
    shape, exp = params[:, 12:52], params[:, 52:62]
    cam[:, 2, 3] = -mesh_min_z(bfm, cam[:, 2, :3], shape, exp)
    return FitTable(data.names, cam, shape, exp, source_to_crop(data.pts21, data.roi_box).astype(np.float32),
                    np.zeros(len(data.names), np.float32), data.roi_box.astype(np.float32))


def table_landmarks68(table: FitTable, bfm) -> np.ndarray:
    """(N, 68, 2) crop px of every fit's 68 keypoint vertices."""
    kp = bfm.keypoints68
    X = (bfm.mean[kp][None].astype(np.float64)
         + np.einsum("vdk,nk->nvd", bfm.shape_basis[kp][..., :table.shape.shape[1]].astype(np.float64), table.shape)
         + np.einsum("vdk,nk->nvd", bfm.exp_basis[kp][..., :table.expression.shape[1]].astype(np.float64),
                     table.expression))
    return np.einsum("nij,nvj->nvi", table.camera[:, :2, :3], X) + table.camera[:, None, :2, 3]
