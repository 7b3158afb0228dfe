"""Training targets for faces without 3D labels: human 68 points (300-W) and closed eyes (CEW).

Such a face has no 3DMM fit, so its N x 3 target starts from *pseudo-labels*: a model's own
(flip-averaged) points on the crop. Then:

- **Human 68 points** (x, y): the points both conventions share, the eyelids and the lips
  (:data:`SHARED_68`), move to the human points in the N points' 68 subset; every other dense point
  moves with them by a smooth field (:func:`propagation_weights`), so a closing lid takes its
  neighbouring dense points along. The jaw, brows and nose keep the pseudo-labels (the two
  conventions differ there); the second head's target is the human 68 points as they are.
- **Closed eyes** (a weak label, no points): each upper-lid point moves onto its lower-lid
  partner (:data:`LID_PAIRS`), in both conventions, and the dense points follow as above.

Weights per point say how much each target counts: ``keep`` for pseudo-labels, ``shared`` for
human or closed-lid points. Frames: crop pixels (x right, y down, z towards the viewer on the
same scale), the training crops' label convention.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..landmarks.ibug68 import GROUPS_68

#: The 68-point indices both conventions place on the same anatomy: the eyelids and the lips.
SHARED_68 = np.array(list(GROUPS_68["eye"]) + list(GROUPS_68["lips"]), np.int64)

#: (upper lid, lower lid) partners of each eye: a closed eye has each pair together.
LID_PAIRS = ((37, 41), (38, 40), (43, 47), (44, 46))


def propagation_weights(mean_shape: np.ndarray, idx68: np.ndarray, sigma: float) -> np.ndarray:
    """(N, 68) weights that spread displacements of the 68 subset to all N points: row i is a
    normalised Gaussian of point i's distance to each of the 68 in the frontal mean face
    (x, y of ``mean_shape``, model units); rows of the 68 subset are exactly one-hot."""
    xy = np.asarray(mean_shape, np.float64)[:, :2]
    d2 = ((xy[:, None, :] - xy[idx68][None, :, :]) ** 2).sum(-1)
    w = np.exp(-(d2 - d2.min(1, keepdims=True)) / (2.0 * sigma ** 2))   # the nearest counts 1
    w /= w.sum(1, keepdims=True)
    w[idx68] = np.eye(68)
    return w


def eye_sigma(mean_shape: np.ndarray, idx68: np.ndarray, fraction: float = 0.25) -> float:
    """A propagation width: ``fraction`` of the mean face's eye width (corner to corner)."""
    p = np.asarray(mean_shape, np.float64)[idx68, :2]
    return fraction * float(np.linalg.norm(p[36] - p[39]) + np.linalg.norm(p[42] - p[45])) / 2.0


def closed_lids(points68: np.ndarray) -> np.ndarray:
    """(..., 68, D) -> the same points with each upper-lid point on its lower-lid partner."""
    out = np.array(points68, np.float64, copy=True)
    for up, low in LID_PAIRS:
        out[..., up, :2] = out[..., low, :2]
    return out


@dataclass
class ExtraTargets:
    """Crops and targets of faces without 3D labels, all in crop pixels of side S.

    images (M, S, S, 3) uint8 RGB; points (M, N, 3) and points_weight (M, N): the N-point target
    and how much each point counts; points_300w (M, 68, 2) and weight_300w (M, 68): the second
    head's target; source_scale (M,) crop pixels per source pixel (exact mirrors); names (M,)."""

    names: np.ndarray
    images: np.ndarray
    points: np.ndarray
    points_weight: np.ndarray
    points_300w: np.ndarray
    weight_300w: np.ndarray
    source_scale: np.ndarray

    def __len__(self) -> int:
        return len(self.names)


def moved_dense(pseudo: np.ndarray, idx68: np.ndarray, new68: np.ndarray, which: np.ndarray,
                spread: np.ndarray) -> np.ndarray:
    """(M, N, 3) pseudo-labels with the 68-subset points ``which`` moved (x, y) to ``new68``
    (M, 68, 2) and every other point moved along by ``spread`` (N, 68, :func:`propagation_weights`)."""
    disp = np.zeros((len(pseudo), 68, 2))
    disp[:, which] = new68[:, which, :2] - pseudo[:, idx68][:, which, :2]
    out = np.array(pseudo, np.float64, copy=True)
    out[..., :2] += np.einsum("nk,mkd->mnd", spread, disp)
    return out


def human_targets(names, images, source_scale, pseudo: np.ndarray, human68: np.ndarray,
                  idx68: np.ndarray, spread: np.ndarray, keep: float, shared: float) -> ExtraTargets:
    """Targets of faces with human 68 points (M, 68, 2): the shared points from the humans
    (weight ``shared``), the rest of the N points from the pseudo-labels (weight ``keep``); the
    second head gets all 68 human points (weight 1)."""
    dense = moved_dense(pseudo, idx68, human68, SHARED_68, spread)
    w = np.full(dense.shape[:2], keep, np.float32)
    w[:, idx68[SHARED_68]] = shared
    return ExtraTargets(np.asarray(names), images, dense.astype(np.float32), w,
                        np.asarray(human68, np.float32)[..., :2], np.ones((len(names), 68), np.float32),
                        np.asarray(source_scale, np.float64))


def closed_eye_targets(names, images, source_scale, pseudo: np.ndarray, pseudo_300w: np.ndarray,
                       idx68: np.ndarray, spread: np.ndarray, keep: float, shared: float) -> ExtraTargets:
    """Targets of faces whose eyes are closed (no points): the pseudo-labels with each upper lid
    on its lower lid, in the N points (the dense points around the lids follow) and in the second
    head's 68; the lid points count ``shared``, the rest ``keep``."""
    upper = np.array([u for u, _ in LID_PAIRS])
    lids = np.array(sorted({i for pair in LID_PAIRS for i in pair}))
    dense = moved_dense(pseudo, idx68, closed_lids(pseudo[:, idx68]), upper, spread)
    w = np.full(dense.shape[:2], keep, np.float32)
    w[:, idx68[lids]] = shared
    w300 = np.full((len(names), 68), keep, np.float32)
    w300[:, lids] = shared
    return ExtraTargets(np.asarray(names), images, dense.astype(np.float32), w,
                        closed_lids(pseudo_300w).astype(np.float32), w300,
                        np.asarray(source_scale, np.float64))
