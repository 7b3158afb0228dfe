"""Landmark error metrics of the 3DDFA benchmarks (numpy only).

All points are image pixels (x right, y down; z towards the viewer on the same scale). Per-image
errors are NME in percent: the mean point-to-point distance divided by a normaliser ``d``.
"""
from __future__ import annotations

import numpy as np

#: Yaw bins of the 3DDFA protocol, in degrees of |yaw|: [0, 30], (30, 60], (60, inf).
YAW_BIN_EDGES = (30.0, 60.0)
YAW_BIN_NAMES = ("0-30", "30-60", "60-90")


def bbox_size(points: np.ndarray) -> np.ndarray:
    """sqrt(w * h) of the 2D bounding box of (..., K, >=2) points, in pixels; shape (...)."""
    p = np.asarray(points, np.float64)[..., :2]
    wh = p.max(-2) - p.min(-2)
    return np.sqrt(wh[..., 0] * wh[..., 1])


def nme_2d(pred: np.ndarray, gt: np.ndarray, norm: np.ndarray | None = None) -> np.ndarray:
    """Per-image 2D NME (%) of (..., K, >=2) predictions against (..., K, >=2) ground truth.

    ``norm`` defaults to :func:`bbox_size` of the ground truth (3DDFA's AFLW2000-3D normaliser)."""
    pred = np.asarray(pred, np.float64)[..., :2]
    gt = np.asarray(gt, np.float64)[..., :2]
    d = bbox_size(gt) if norm is None else np.asarray(norm, np.float64)
    return 100.0 * np.linalg.norm(pred - gt, axis=-1).mean(-1) / d


def interocular(points68: np.ndarray) -> np.ndarray:
    """(M,) distance between the outer eye corners (iBUG points 36 and 45, 0-based) of (M, 68,
    >=2) points: the 300-W normaliser."""
    p = np.asarray(points68, np.float64)
    return np.linalg.norm(p[:, 36, :2] - p[:, 45, :2], axis=1)


def point_errors(pred: np.ndarray, gt: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """Per-point 2D error (%) of (..., K, >=2) predictions: each point's distance to its ground
    truth divided by ``norm`` (...,) pixels (e.g. :func:`interocular`); shape (..., K)."""
    pred = np.asarray(pred, np.float64)[..., :2]
    gt = np.asarray(gt, np.float64)[..., :2]
    return 100.0 * np.linalg.norm(pred - gt, axis=-1) / np.asarray(norm, np.float64)[..., None]


def align_z_mean(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Shift each prediction's z so that its mean z over the K points equals the ground truth's.

    The absolute depth of a face is not observable from one photo (our labels put min z of the
    mesh at 0; AFLW2000-3D's pt3d_68 carries the fit's translation), so only depth differences
    between points are compared. pred, gt (..., K, 3)."""
    out = np.array(pred, np.float64, copy=True)
    out[..., 2] += (np.asarray(gt, np.float64)[..., 2].mean(-1) - out[..., 2].mean(-1))[..., None]
    return out


def nme_3d(pred: np.ndarray, gt: np.ndarray, norm: np.ndarray | None = None) -> np.ndarray:
    """Per-image 3D NME (%): mean 3D point distance after :func:`align_z_mean`, divided by the
    ground truth's 2D box size sqrt(w*h) (the same normaliser as the 2D NME)."""
    gt = np.asarray(gt, np.float64)
    aligned = align_z_mean(pred, gt)
    d = bbox_size(gt) if norm is None else np.asarray(norm, np.float64)
    return 100.0 * np.linalg.norm(aligned - gt, axis=-1).mean(-1) / d


def nme_visible(pred: np.ndarray, gt: np.ndarray, visible: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """Per-image 2D NME (%) over visible points only (3DDFA's AFLW-21 protocol).

    pred, gt (B, K, 2); visible (B, K) bool; norm (B,) pixels. NaN for an image with no
    visible point."""
    pred = np.asarray(pred, np.float64)[..., :2]
    gt = np.where(visible[..., None], np.asarray(gt, np.float64)[..., :2], 0.0)
    dist = np.where(visible, np.linalg.norm(pred - gt, axis=-1), 0.0)
    count = visible.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, 100.0 * dist.sum(-1) / np.maximum(count, 1) / norm, np.nan)


def yaw_bin(yaw_deg: np.ndarray) -> np.ndarray:
    """3DDFA yaw bin (0, 1, 2) of each yaw in degrees: |yaw| <= 30, 30 < |yaw| <= 60, > 60."""
    a = np.abs(np.asarray(yaw_deg, np.float64))
    return (a > YAW_BIN_EDGES[0]).astype(np.int64) + (a > YAW_BIN_EDGES[1]).astype(np.int64)


def bin_means(values: np.ndarray, bins: np.ndarray, n_bins: int = 3) -> list[float]:
    """Mean of the finite values in each bin (NaN for an empty bin)."""
    values = np.asarray(values, np.float64)
    out = []
    for b in range(n_bins):
        v = values[(bins == b) & np.isfinite(values)]
        out.append(float(v.mean()) if v.size else float("nan"))
    return out


def balanced_mean(bin_values: list[float]) -> float:
    """3DDFA's "balanced" summary: the mean of the per-bin means (NaN if a bin is empty)."""
    return float(np.mean(bin_values))


def finite_mean(values: np.ndarray) -> float:
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else float("nan")


def ced_curve(nme: np.ndarray, max_nme: float = 10.0, steps: int = 1001) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative error distribution: thresholds (%) and the fraction of images with NME <= t.

    Non-finite NMEs (failures, undetected faces) count as errors above every threshold."""
    nme = np.asarray(nme, np.float64)
    t = np.linspace(0.0, max_nme, steps)
    finite = np.sort(nme[np.isfinite(nme)])
    frac = np.searchsorted(finite, t, side="right") / max(len(nme), 1)
    return t, frac


def ced_auc(nme: np.ndarray, max_nme: float = 10.0) -> float:
    """Area under the CED curve up to ``max_nme``, normalised to [0, 1]."""
    t, frac = ced_curve(nme, max_nme)
    return float(np.trapezoid(frac, t) / max_nme)


#: The six points of each eye in the 68-point layout, in Soukupova and Cech's order p1..p6
#: (outer corner, two upper lid, inner corner, two lower lid), for the face's right then left eye.
EYE_POINTS_68 = ((36, 37, 38, 39, 40, 41), (42, 43, 44, 45, 46, 47))


def six_point_ear(eye: np.ndarray) -> np.ndarray:
    """(..., 6, >=2) one eye's points p1..p6 -> (...) its eye aspect ratio (Soukupova and Cech
    2016): (|p2 - p6| + |p3 - p5|) / (2 |p1 - p4|). About 0.25-0.35 open, below 0.2 closed."""
    p = np.asarray(eye, np.float64)[..., :2]
    d = lambda a, b: np.linalg.norm(p[..., a, :] - p[..., b, :], axis=-1)  # noqa: E731
    return (d(1, 5) + d(2, 4)) / (2.0 * np.maximum(d(0, 3), 1e-9))


def eye_aspect_ratios(points68: np.ndarray) -> np.ndarray:
    """(..., 68, >=2) -> (..., 2) :func:`six_point_ear` of each eye (the face's right, then left)."""
    p = np.asarray(points68)
    return np.stack([six_point_ear(p[..., list(eye), :]) for eye in EYE_POINTS_68], -1)


def eye_aspect_ratio(points68: np.ndarray) -> np.ndarray:
    """(..., 68, >=2) -> (...) the eye aspect ratio averaged over both eyes."""
    return eye_aspect_ratios(points68).mean(-1)


def mouth_opening(points68: np.ndarray) -> np.ndarray:
    """(..., 68, >=2) -> (...) inner-lip opening |p62 - p66| / |p60 - p64| (0 = lips together)."""
    p = np.asarray(points68, np.float64)[..., :2]
    gap = np.linalg.norm(p[..., 62, :] - p[..., 66, :], axis=-1)
    return gap / np.maximum(np.linalg.norm(p[..., 60, :] - p[..., 64, :], axis=-1), 1e-9)


def openness_scores(pred68_300w: np.ndarray, pred68: np.ndarray, human68: np.ndarray) -> dict:
    """Scores of predictions (M, 68, >=2) of both conventions against human points (M, 68, 2) on
    the same crops: the second head's inter-ocular NME (%), the eye aspect ratio's and the mouth
    opening's Pearson r with the humans' (both conventions for the eyes), the mean |error| of
    the eye aspect ratio on near-closed eyes (human EAR < 0.2) and the share of open eyes
    (human EAR >= 0.25) read open (EAR >= 0.2)."""
    ear_h, ear_p, ear_d = (eye_aspect_ratio(p) for p in (human68, pred68_300w, pred68))
    near, open_ = ear_h < 0.2, ear_h >= 0.25
    r = lambda a, b: float(np.corrcoef(a, b)[0, 1])  # noqa: E731
    return {"nme_300w": float(nme_2d(pred68_300w[..., :2], human68, interocular(human68)).mean()),
            "ear_r_300w": r(ear_p, ear_h), "ear_r_68": r(ear_d, ear_h),
            "mouth_r_300w": r(mouth_opening(pred68_300w), mouth_opening(human68)),
            "near_closed_err_300w": float(np.abs(ear_p - ear_h)[near].mean()) if near.any() else float("nan"),
            "near_closed_err_68": float(np.abs(ear_d - ear_h)[near].mean()) if near.any() else float("nan"),
            "open_read_open_300w": float((ear_p[open_] >= 0.2).mean()) if open_.any() else float("nan")}
