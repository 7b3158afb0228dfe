"""Expression coefficients against AFLW2000-3D's own fits (``Face.expression``).

Ground truth (a fit, not a measurement): each AFLW2000-3D image's .mat holds the 3DMM fit the
dataset was made from; its ``Exp_Para[:10]`` are coefficients of the same 10 expression
components as bfm_3ddfa_53215's ``w_exp_sim`` (3DDFA's layout), so they compare one to one with
``Face.expression`` (:mod:`denseface.eval.dense` uses the same fits as its mesh ground truth).

Methods, scored on the same images:

- *denseface*: the model's 520 points on the protocol crops (3DDFA's ground-truth boxes, the
  benchmarks' one prediction path, as :mod:`denseface.eval.dense`), then the BFM fit that
  ``Face.expression`` comes from (:mod:`denseface.mesh.point_fit`, its default settings);
- *teacher*: 3DDFA-V2 mb05's own 10 expression parameters (what 3DDFA-V2 ships; it regresses
  them directly and was trained on 300W-LP, whose fits were made the way AFLW2000-3D's were);
- *fit of the ground truth's points*: the same point fit on the ground-truth mesh's own 520
  points (the fitter's control: how much of the coefficients the 520 points determine);
- *neutral*: all coefficients 0 (what the error is without any expression).

Measures (over the images where the method has a value):

- ``r``: Pearson correlation with the ground truth, per coefficient (10), and their mean;
- ``disp_rms``: the RMS, over the face-region vertices (:func:`~denseface.eval.datasets.face_region_vertices`),
  of the expression displacement error ``w_exp (c - c_gt)`` in model units, in % of the BFM mean
  face's outer-eye-corner distance (68-point ids 36 and 45), per face (mean and median);
  computed exactly through the basis' 10 x 10 Gram matrix over those vertices;
- ``r2``: the share of the ground truth's displacement variance (about its mean) that the
  method's displacement explains, ``1 - sum |w_exp (c - c_gt)|^2 / sum |w_exp (c_gt - mean)|^2``.
"""
from __future__ import annotations

import numpy as np

#: The 68-point ids whose BFM mean vertices give the displacement normaliser (outer eye corners).
EYE_CORNERS_68 = (36, 45)


def expression_gram(bfm, vertex_ids: np.ndarray, n_exp: int = 10) -> np.ndarray:
    """G (n_exp, n_exp) = sum over the vertices of w_exp[v]^T w_exp[v] (model units^2), so that
    the summed squared displacement of coefficients d is ``d @ G @ d``."""
    E = np.asarray(bfm.exp_basis[np.asarray(vertex_ids, np.int64)][..., :n_exp], np.float64)
    flat = E.reshape(-1, n_exp)
    return flat.T @ flat


def eye_corner_distance(bfm) -> float:
    """Outer-eye-corner distance of the BFM mean face (model units)."""
    a, b = (bfm.mean[bfm.keypoints68[i]].astype(np.float64) for i in EYE_CORNERS_68)
    return float(np.linalg.norm(a - b))


def pearson_per_coefficient(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(K,) Pearson r of each column over the rows where both are finite (NaN for a constant
    column)."""
    pred, truth = np.asarray(pred, np.float64), np.asarray(truth, np.float64)
    ok = np.isfinite(pred).all(1) & np.isfinite(truth).all(1)
    p, t = pred[ok] - pred[ok].mean(0), truth[ok] - truth[ok].mean(0)
    den = np.sqrt((p * p).sum(0) * (t * t).sum(0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (p * t).sum(0) / den, np.nan)


def displacement_rms(pred: np.ndarray, truth: np.ndarray, gram: np.ndarray, n_vertices: int,
                     norm: float) -> np.ndarray:
    """(N,) RMS over ``n_vertices`` vertices of the displacement error w_exp (pred - truth), in %
    of ``norm`` (model units); NaN where a row is not finite."""
    d = np.asarray(pred, np.float64) - np.asarray(truth, np.float64)
    sq = np.einsum("nj,jk,nk->n", d, gram, d)
    return 100.0 * np.sqrt(np.maximum(sq, 0.0) / n_vertices) / norm


def displacement_r2(pred: np.ndarray, truth: np.ndarray, gram: np.ndarray) -> float:
    """1 - sum |w_exp (pred - truth)|^2 / sum |w_exp (truth - mean truth)|^2 over the finite rows."""
    pred, truth = np.asarray(pred, np.float64), np.asarray(truth, np.float64)
    ok = np.isfinite(pred).all(1) & np.isfinite(truth).all(1)
    d, c = pred[ok] - truth[ok], truth[ok] - truth[ok].mean(0)
    return float(1.0 - np.einsum("nj,jk,nk->", d, gram, d) / np.einsum("nj,jk,nk->", c, gram, c))


def score_expressions(methods: dict[str, np.ndarray], truth: np.ndarray, gram: np.ndarray,
                      n_vertices: int, norm: float) -> dict[str, dict]:
    """{method: {r (K,), r_mean, disp_rms_mean, disp_rms_median, r2, n}} for each method's
    (N, K) coefficients against ``truth`` (N, K)."""
    out = {}
    for name, pred in methods.items():
        r = pearson_per_coefficient(pred, truth)
        rms = displacement_rms(pred, truth, gram, n_vertices, norm)
        out[name] = {"r": r, "r_mean": float(np.nanmean(r)) if np.isfinite(r).any() else None,
                     "disp_rms_mean": float(np.nanmean(rms)), "disp_rms_median": float(np.nanmedian(rms)),
                     "r2": displacement_r2(pred, truth, gram), "n": int(np.isfinite(rms).sum())}
    return out
