"""How good are *labels* on AFLW2000-3D: the teacher's fits and their refinements, scored by
the 3DDFA protocol (see denseface.eval.aflw2000) without a denseface model.

The teacher runs on 3DDFA's own crops: ``crop_3ddfa`` of the protocol's roi boxes as 3DDFA
used them (its 1-based numbers applied to 0-based image arrays), which reproduces its published
figure; the fitted 68 points are mapped back to the image through the same boxes and compared
with pt3d_68 in the OpenCV frame of :class:`denseface.eval.datasets.Aflw2000`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DenseFaceError
from ..geometry.crop import points_from_crop, points_to_crop
from ..io.images import read_image, to_rgb
from ..mesh.bfm import mesh_min_z
from ..mesh.readers import FitTable
from ..metrics import YAW_BIN_NAMES, balanced_mean, bin_means, finite_mean, nme_2d, yaw_bin
from .datasets import MATLAB_TO_OPENCV, Aflw2000

#: The teacher's crop side, pixels.
CROP = 120


def teacher_table(data: Aflw2000, teacher_dir: str | Path, bfm, convention: str = "3ddfa_v2") -> FitTable:
    """Run the teacher on every protocol crop; a FitTable in the aflw_pl layout (crop px of the
    protocol boxes, z shifted to min 0 over the mesh) with the human pts21 mapped into the crops."""
    import cv2

    from ..refine.teacher import cameras_from_params, crop_3ddfa, load_teacher, predict_params

    teacher = load_teacher(teacher_dir)
    crops = []
    for path, box in zip(data.image_paths, data.boxes):
        bgr = cv2.cvtColor(to_rgb(read_image(path)), cv2.COLOR_RGB2BGR)
        crops.append(crop_3ddfa(bgr, box + MATLAB_TO_OPENCV))
    params = predict_params(teacher, np.stack(crops))
    cam = cameras_from_params(params, convention=convention)
    shape, exp = params[:, 12:52], params[:, 52:62]
    cam[:, 2, 3] = -mesh_min_z(bfm, cam[:, 2, :3], shape, exp)
    return FitTable(data.names, cam, shape, exp,
                    points_to_crop(data.pts21, data.boxes, CROP).astype(np.float32),
                    np.zeros(len(data.names), np.float32),
                    (data.boxes + MATLAB_TO_OPENCV).astype(np.float32))


def table_landmarks68(table: FitTable, bfm) -> np.ndarray:
    """(N, 68, 2) crop px of every fit's 68 keypoint vertices."""
    kp = bfm.keypoints68
    X = (bfm.mean[kp][None].astype(np.float64)
         + np.einsum("vdk,nk->nvd", bfm.shape_basis[kp][..., :table.shape.shape[1]].astype(np.float64), table.shape)
         + np.einsum("vdk,nk->nvd", bfm.exp_basis[kp][..., :table.expression.shape[1]].astype(np.float64),
                     table.expression))
    return np.einsum("nij,nvj->nvi", table.camera[:, :2, :3], X) + table.camera[:, None, :2, 3]


def labels_nme(data: Aflw2000, crop68: np.ndarray) -> dict[str, float]:
    """NME (%) of 68 points given in crop px of the protocol boxes: per yaw bin, balanced, all."""
    if crop68.shape != (len(data), 68, 2):
        raise DenseFaceError(f"expected ({len(data)}, 68, 2) crop points, got {crop68.shape}")
    nme = nme_2d(points_from_crop(crop68, data.boxes, CROP), data.pts68)
    bins = bin_means(nme, yaw_bin(data.yaw))
    return dict(zip(YAW_BIN_NAMES, bins)) | {"balanced": balanced_mean(bins), "all": finite_mean(nme)}
