"""Visibility of the 520 points (``Face.visibility``) against fits rendered with a z-buffer.

Ground truth. A fit's full BFM mesh (53,215 vertices, 105,840 triangles; shape[:40] and
expression[:10] through bfm_3ddfa_53215) is put in image pixels by its own camera (x right, y
down, z towards the viewer, orthographic) and z-buffered exactly at each point's (x, y)
(:func:`denseface.geometry.visibility.self_visible`, an infinitely fine z-buffer): a point is
visible when its vertex is not behind the rendered surface, i.e. no triangle lies more than
:data:`GT_TOLERANCE` x the face's size (sqrt(w * h) of the 2D box of its 520 vertices) in front
of it. The tolerance only absorbs rounding: between 0.0001 and 0.003 the hidden share changes by
under 0.05 points on aflw_pl val. Two sets of fits: AFLW2000-3D's own (the test set: reported,
never tuned on; :func:`aflw2000_fits`) and aflw_pl val's (the teacher's fits of held-out AFLW
crops: where the method was chosen; :func:`aflw_pl_fits`).

Prediction. :func:`denseface.geometry.visibility.face_visibility` on a model's predicted 520
points and their triangles (normals facing the viewer and the points' own mesh not in front),
with the landmark set's per-point thresholds (denseface.landmarks.visibility), which
:func:`fit_point_thresholds` fits on aflw_pl val from :func:`visibility_features`.
Agreement: the share of points whose predicted visibility equals the ground truth's, over all
points of all faces and by the 3DDFA yaw bin of the fit's own yaw.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..geometry.meshes import outward_triangles
from ..geometry.visibility import face_visibility, self_visible, surface_depth, vertex_normals
from ..metrics import YAW_BIN_NAMES, bbox_size, yaw_bin

#: The ground truth's z-buffer tolerance, as a fraction of the face's size.
GT_TOLERANCE = 1e-3


@dataclass
class Fits:
    """cameras (N, 3, 4) BFM model coordinates -> image pixels (y down, z towards the viewer);
    shape (N, Ks), expression (N, Ke) coefficients; yaw (N,) degrees of the fits' own pose."""

    cameras: np.ndarray
    shape: np.ndarray
    expression: np.ndarray
    yaw: np.ndarray

    def __len__(self) -> int:
        return len(self.cameras)


def aflw2000_fits(data) -> Fits:
    """AFLW2000-3D's fits (denseface.eval.datasets.Aflw2000) in its OpenCV pixel frame."""
    from .datasets import gt_cameras, read_fit_params

    pose, shape, exp = read_fit_params(data)
    return Fits(gt_cameras(pose), shape, exp, np.degrees(pose[:, 1]))


def aflw_pl_fits(split_dir: str | Path, limit: int = 0) -> tuple[Fits, list[Path]]:
    """aflw_pl's fits of one split (``labels.npz``: crop pixels) and its image paths; yaw from
    each camera's rotation (denseface.mesh.fit.pose_from_camera). ``limit`` evenly spaced."""
    from ..errors import DenseFaceError
    from ..mesh.fit import pose_from_camera
    from .datasets import subset_indices

    split_dir = Path(split_dir)
    try:
        d = np.load(split_dir / "labels.npz", allow_pickle=False)
        names, cams = d["names"], d["camera"].astype(np.float64)
        shape, exp = d["shape"].astype(np.float64), d["expression"].astype(np.float64)
    except (OSError, KeyError, ValueError) as e:
        raise DenseFaceError(f"not an aflw_pl split ({type(e).__name__})", path=split_dir / "labels.npz") from None
    idx = subset_indices(len(names), limit)
    yaw = np.array([pose_from_camera(c)[0] for c in cams[idx]])
    return Fits(cams[idx], shape[idx], exp[idx], yaw), [split_dir / "images" / str(n) for n in names[idx]]


def fit_points(bfm, fits: Fits, ids: np.ndarray | None = None) -> list[np.ndarray]:
    """Each fit's mesh vertices (``ids``, else all) in image pixels, (K, 3) each."""
    out = []
    for cam, a, b in zip(fits.cameras, fits.shape, fits.expression):
        X = bfm.model_vertices(a, b, ids)
        out.append(X @ cam[:, :3].T + cam[:, 3])
    return out


def gt_visibility(bfm, fits: Fits, ids: np.ndarray, tolerance: float = GT_TOLERANCE) -> np.ndarray:
    """(N, K) bool: vertex ``ids`` of each fit's full mesh is not behind the z-buffered mesh
    (module docstring); about 0.2 s a face on one core."""
    tri = np.asarray(bfm.triangles, np.int64)
    out = np.zeros((len(fits), len(ids)), bool)
    for i, v in enumerate(fit_points(bfm, fits)):
        size = float(bbox_size(v[ids]))
        out[i] = self_visible(v, tri, tolerance * size, ids)
    return out


def visibility_features(points: np.ndarray, triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What :func:`face_visibility` thresholds, for choosing its constants: per face and point,
    the z of the unit normal (y-up frame, ``triangles`` wound outward there) and the depth
    margin, z minus the surface's largest z at the point's (x, y), over the face's size
    (0: nothing in front; negative: hidden that far). (N, K) each; NaN for non-finite faces."""
    from ..geometry.meshes import to_export_frame

    nz = np.full(points.shape[:2], np.nan)
    margin = np.full(points.shape[:2], np.nan)
    for i, p in enumerate(np.asarray(points, np.float64)):
        if np.isfinite(p).all():
            nz[i] = vertex_normals(to_export_frame(p), triangles)[:, 2]
            margin[i] = (p[:, 2] - surface_depth(p, triangles, p[:, :2])) / bbox_size(p)
    return nz, margin


def predicted_visibility(points: np.ndarray, triangles: np.ndarray, thresholds=None) -> np.ndarray:
    """(N, K) bool: :func:`face_visibility` of each face's predicted points (N, K, 3), with
    ``thresholds`` (min_nz, tolerance), per point or single (None: the single defaults)."""
    kw = {} if thresholds is None else {"min_nz": thresholds[0], "tolerance": thresholds[1]}
    return np.stack([face_visibility(p, triangles, **kw) for p in np.asarray(points, np.float64)])


#: The per-point thresholds' candidates (:func:`fit_point_thresholds`).
MIN_NZ_GRID = (-0.3, -0.2, -0.1, -0.05, 0.0, 0.05, 0.1, 0.2, 0.3)
TOLERANCE_GRID = (0.0, 0.01, 0.02, 0.05)


def fit_point_thresholds(nz: np.ndarray, margin: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per point, the (min_nz, tolerance) of MIN_NZ_GRID x TOLERANCE_GRID whose rule ``nz >
    min_nz and margin >= -tolerance`` agrees best with ``truth`` over the faces (features of
    :func:`visibility_features`, (N, K) each); ties go to the single defaults (FACING_MIN_NZ,
    FACE_TOLERANCE)."""
    from ..geometry.visibility import FACE_TOLERANCE, FACING_MIN_NZ

    ok = np.isfinite(nz).all(1) & np.isfinite(margin).all(1)
    nz, margin, truth = nz[ok], margin[ok], truth[ok]
    taus, tols = np.array(MIN_NZ_GRID), np.array(TOLERANCE_GRID)
    facing = nz[None] > taus[:, None, None]                              # (A, N, K)
    near = margin[None] >= -tols[:, None, None]                          # (B, N, K)
    score = ((facing[:, None] & near[None]) == truth[None, None]).sum(2).astype(np.float64)   # (A, B, K)
    score[MIN_NZ_GRID.index(FACING_MIN_NZ), TOLERANCE_GRID.index(FACE_TOLERANCE)] += 0.5
    best = score.reshape(-1, score.shape[-1]).argmax(0)
    return taus[best // len(tols)], tols[best % len(tols)]


def cross_validated(nz: np.ndarray, margin: np.ndarray, truth: np.ndarray, folds: int = 2,
                    seed: int = 0) -> np.ndarray:
    """(N, K) the per-point rule's visibility of each face with thresholds fitted on the other
    folds' faces (random folds of faces): what fitting them is worth on faces not fitted on."""
    fold = np.random.default_rng(seed).permutation(len(truth)) % folds
    out = np.zeros(truth.shape, bool)
    for k in range(folds):
        min_nz, tol = fit_point_thresholds(nz[fold != k], margin[fold != k], truth[fold != k])
        out[fold == k] = (nz[fold == k] > min_nz) & (margin[fold == k] >= -tol)
    return out


def agreement(predicted: np.ndarray, truth: np.ndarray, yaw: np.ndarray,
              faces: np.ndarray | None = None) -> dict:
    """Agreement (% of points) of (N, K) predicted and true visibility, over all points and per
    yaw bin, with the true hidden share and the predicted one, and the recall of hidden points;
    ``faces`` (N,) bool: only those faces (e.g. the ones predicted)."""
    keep = np.ones(len(truth), bool) if faces is None else np.asarray(faces, bool)
    bins = yaw_bin(yaw)

    def one(sel: np.ndarray) -> dict:
        p, t = predicted[sel & keep], truth[sel & keep]
        if not p.size:
            return {"faces": 0, "agreement": None, "hidden_true": None, "hidden_predicted": None,
                    "hidden_recall": None}
        hidden = ~t
        return {"faces": int(len(p)), "agreement": 100.0 * float((p == t).mean()),
                "hidden_true": 100.0 * float(hidden.mean()), "hidden_predicted": 100.0 * float((~p).mean()),
                "hidden_recall": 100.0 * float((~p)[hidden].mean()) if hidden.any() else None}

    return {"all": one(np.ones(len(truth), bool)),
            "bins": {name: one(bins == b) for b, name in enumerate(YAW_BIN_NAMES)}}


def landmark_triangles(landmark_set) -> np.ndarray:
    """The landmark set's triangles wound outward (what ``DenseFace.mesh_triangles`` holds)."""
    return outward_triangles(landmark_set.mean_shape, landmark_set.triangles)
