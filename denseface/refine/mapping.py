"""Landmark-to-mesh mappings: which BFM vertices a 2D annotation scheme's points correspond to.

A :class:`LandmarkMapping` is data: for each annotated point, a tuple of BFM vertex ids whose
average is that point (model coordinates, so the mapped point follows shape, expression and
pose). Three mappings are provided for the 53215-vertex 3DDFA BFM:

- ``ibug68``: the 68 iBUG points as the BFM's ``keypoints68`` vertices (3DDFA's
  ``keypoints_sim.npy``). The jaw points are fixed vertices (3DDFA's convention, the one
  AFLW2000-3D's ``pt3d_68`` uses), not the silhouette points a 2D annotator would click in a
  profile view; :func:`silhouette_jaw` gives the silhouette variant for 2D 68-point data.
- ``aflw21_3ddfa``: AFLW-21 by the 3DDFA benchmark's 68 -> 21 mapping
  (``denseface.landmarks.ibug68.AFLW21_FROM_68``): eye and mouth centres average 6 / 8 of the
  68 vertices, the ear lobes are jaw points 2 and 14, the nose left/right points are the
  nostril bases 31 and 35, the chin is jaw point 8.
- ``aflw21_fit`` (the default for fitting): one vertex per AFLW point, chosen from data
  (``AFLW21_FIT_VERTICES``): near the 3DDFA vertex, the vertex whose projection under the
  teacher's fits lies closest to the human clicks over aflw_pl *train* (see
  :func:`derive_vertex_mapping` and docs/refinement.md). It corrects the anatomical mismatch
  of the 3DDFA mapping (AFLW's nose points are the alar wings, its ear points the ear lobes,
  its chin the front of the chin), which would otherwise pull the fitted mesh 2-5 px out of
  shape.

Occlusion: AFLW's annotators left self-occluded points out (NaN), so AFLW-21 needs no
contour convention; the far-side ear is annotated in < 1 % of faces beyond 30 degrees yaw.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DenseFaceError
from ..landmarks.ibug68 import AFLW21_FROM_68, AFLW21_NAMES

#: aflw21_fit's vertex ids (53215-vertex 3DDFA BFM), AFLW order. Derived once on aflw_pl train
#: (17,080 teacher fits and human clicks) by ``derive_vertex_mapping(..., radius=15000,
#: clip_px=10, flip=AFLW21_FLIP)``; left-right pairs are mirror vertices. docs/refinement.md
#: lists each point's move from the 3DDFA point and its score.
AFLW21_FIT_VERTICES: tuple[int, ...] = (
    38868, 39724, 40157, 40896, 41333, 42197,      # brows
    1572, 4151, 5701, 10716, 12132, 14712,         # eyes: corner, centre, corner (x2)
    20386, 5747, 8192, 10632, 34262,               # ear lobe, nose wing, nose tip, nose wing, ear lobe
    5914, 8348, 10541, 47910,                      # mouth corner, centre, corner; chin
)
#: The derivation's score of each aflw21_fit point: the teacher's robust RMS distance (px, 120-px
#: crops, errors clipped at 10 px) to the human clicks on aflw_pl train; pairs share their score.
#: It measures how noisy each point's clicks (and the teacher there) are: fits can weigh points by it.
AFLW21_FIT_SIGMA_PX: tuple[float, ...] = tuple(float(np.sqrt(v)) for v in (
    19.85, 15.13, 12.38, 12.38, 15.13, 19.85, 8.27, 8.41, 6.82, 6.82, 8.41, 8.27,
    23.40, 10.61, 12.08, 10.61, 23.40, 10.01, 11.68, 10.01, 18.53))
#: The same score for the 3DDFA mapping's points (same data, same clipping).
AFLW21_3DDFA_SIGMA_PX: tuple[float, ...] = tuple(float(np.sqrt(v)) for v in (
    18.16, 18.96, 16.11, 15.34, 19.04, 25.71, 9.80, 7.83, 6.97, 7.89, 9.24, 12.97,
    31.38, 22.00, 12.08, 27.05, 39.13, 12.33, 12.99, 10.60, 28.61))
#: Number of BFM vertices the fixed vertex ids above belong to.
FIT_MAPPING_N_VERTICES = 53215

IBUG68_NAMES = tuple(f"ibug68_{i:02d}" for i in range(68))


@dataclass(frozen=True)
class LandmarkMapping:
    """names (K,) point names; groups (K,) tuples of BFM vertex ids, each point = their mean;
    sigma_px (K,) optional typical click-to-fit distance of each point (px, 120-px crops)."""

    name: str
    names: tuple[str, ...]
    groups: tuple[tuple[int, ...], ...]
    sigma_px: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if len(self.names) != len(self.groups):
            raise DenseFaceError(f"mapping {self.name}: {len(self.names)} names, {len(self.groups)} groups")
        if any(len(g) == 0 for g in self.groups):
            raise DenseFaceError(f"mapping {self.name}: a point has no vertices")
        if self.sigma_px is not None and (len(self.sigma_px) != len(self.groups) or min(self.sigma_px) <= 0):
            raise DenseFaceError(f"mapping {self.name}: sigma_px needs {len(self.groups)} positive values")

    def point_weights(self, power: float) -> np.ndarray:
        """(K,) relative weights ``(sigma^-2 / mean(sigma^-2))**power``; ones without sigma_px."""
        if self.sigma_px is None or power == 0:
            return np.ones(self.n_points)
        inv = np.asarray(self.sigma_px, np.float64) ** -2
        return (inv / inv.mean()) ** power

    @property
    def n_points(self) -> int:
        return len(self.groups)

    def vertex_ids(self) -> np.ndarray:
        """All distinct vertex ids the mapping uses, sorted."""
        return np.unique(np.concatenate([np.asarray(g, np.int64) for g in self.groups]))

    def averaging_matrix(self, vertex_ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(G (K, U), ids (U,)): point k = G[k] @ vertices[ids]."""
        ids = self.vertex_ids() if vertex_ids is None else np.asarray(vertex_ids, np.int64)
        pos = {int(v): i for i, v in enumerate(ids)}
        G = np.zeros((self.n_points, len(ids)))
        for k, g in enumerate(self.groups):
            for v in g:
                G[k, pos[int(v)]] += 1.0 / len(g)
        return G, ids

    def check(self, n_vertices: int) -> None:
        """Raise unless every vertex id exists in a mesh of ``n_vertices``."""
        ids = self.vertex_ids()
        if ids.min() < 0 or ids.max() >= n_vertices:
            raise DenseFaceError(f"mapping {self.name} uses vertex ids outside 0..{n_vertices - 1}")

    def apply(self, vertices: np.ndarray) -> np.ndarray:
        """(..., V, D) mesh -> (..., K, D) mapped points."""
        v = np.asarray(vertices)
        return np.stack([v[..., list(g), :].mean(-2) for g in self.groups], -2)


def ibug68(keypoints68: np.ndarray) -> LandmarkMapping:
    """The 68 iBUG points as single vertices (``BFM.keypoints68``)."""
    kp = np.asarray(keypoints68, np.int64).reshape(-1)
    if kp.size != 68:
        raise DenseFaceError(f"keypoints68 has {kp.size} ids, expected 68")
    return LandmarkMapping("ibug68", IBUG68_NAMES, tuple((int(v),) for v in kp))


def aflw21_3ddfa(keypoints68: np.ndarray) -> LandmarkMapping:
    """AFLW-21 by the 3DDFA benchmark's 68 -> 21 mapping, as vertex groups."""
    kp = np.asarray(keypoints68, np.int64).reshape(-1)
    groups = tuple(tuple(int(kp[i]) for i in ids) for ids in AFLW21_FROM_68)
    return LandmarkMapping("aflw21_3ddfa", AFLW21_NAMES, groups, AFLW21_3DDFA_SIGMA_PX)


def aflw21_fit(n_vertices: int = FIT_MAPPING_N_VERTICES) -> LandmarkMapping:
    """AFLW-21 by the data-derived vertices ``AFLW21_FIT_VERTICES`` (53215-vertex BFM only)."""
    if n_vertices != FIT_MAPPING_N_VERTICES:
        raise DenseFaceError(
            f"aflw21_fit is defined for the {FIT_MAPPING_N_VERTICES}-vertex 3DDFA BFM, this one has "
            f"{n_vertices} vertices; use aflw21_3ddfa")
    if len(AFLW21_FIT_VERTICES) != 21:
        raise DenseFaceError("aflw21_fit vertices are not defined")
    return LandmarkMapping("aflw21_fit", AFLW21_NAMES, tuple((int(v),) for v in AFLW21_FIT_VERTICES),
                           AFLW21_FIT_SIGMA_PX)


MAPPINGS = ("aflw21_fit", "aflw21_3ddfa", "ibug68")


def get_mapping(name: str, bfm) -> LandmarkMapping:
    """A mapping by name for ``bfm`` (a :class:`denseface.mesh.BFM`)."""
    if name == "aflw21_fit":
        m = aflw21_fit(bfm.n_vertices)
    elif name == "aflw21_3ddfa":
        m = aflw21_3ddfa(bfm.keypoints68)
    elif name == "ibug68":
        m = ibug68(bfm.keypoints68)
    else:
        raise DenseFaceError(f"unknown landmark mapping {name!r}; use one of {MAPPINGS}")
    m.check(bfm.n_vertices)
    return m


#: Left-right partner of each AFLW-21 point (a point on the midline is its own partner).
AFLW21_FLIP = (5, 4, 3, 2, 1, 0, 11, 10, 9, 8, 7, 6, 16, 15, 14, 13, 12, 19, 18, 17, 20)


def candidate_vertices(mean: np.ndarray, centre: np.ndarray, radius: float) -> np.ndarray:
    """Vertex ids of the (V, 3) model-space mesh ``mean`` within ``radius`` (model units)
    of the model-space point ``centre``."""
    d = np.linalg.norm(np.asarray(mean, np.float64) - np.asarray(centre, np.float64), axis=1)
    return np.flatnonzero(d <= radius)


def _click_scores(bfm, fits: tuple[np.ndarray, np.ndarray, np.ndarray], target: np.ndarray,
                  groups: list[tuple[int, ...]], clip_px: float, chunk: int = 256) -> np.ndarray:
    """Sum over images of ``min(|proj(group) - target|, clip_px)**2`` for each vertex group."""
    cam, sh, ex = fits
    mean = bfm.mean.astype(np.float64)
    out = np.zeros(len(groups))
    sizes = np.array([len(g) for g in groups])
    for size in np.unique(sizes):
        which = np.flatnonzero(sizes == size)
        for i in range(0, len(which), chunk):
            sel = which[i:i + chunk]
            ids = np.array([groups[j] for j in sel], np.int64)          # (c, size)
            flat = ids.reshape(-1)
            X = (mean[flat][None] + np.einsum("vdk,nk->nvd", bfm.shape_basis[flat][..., :sh.shape[1]], sh)
                 + np.einsum("vdk,nk->nvd", bfm.exp_basis[flat][..., :ex.shape[1]], ex))
            P = np.einsum("nij,nvj->nvi", cam[:, :2, :3], X) + cam[:, None, :2, 3]
            P = P.reshape(len(cam), len(sel), size, 2).mean(2)
            err = np.linalg.norm(P - target[:, None], axis=-1)
            out[sel] = (np.minimum(err, clip_px) ** 2).sum(0)
    return out


def derive_vertex_mapping(bfm, cameras: np.ndarray, shapes: np.ndarray, expressions: np.ndarray,
                          points: np.ndarray, base: LandmarkMapping, radius: float = 15000.0,
                          clip_px: float = 10.0, flip: tuple[int, ...] | None = AFLW21_FLIP,
                          midline_tol: float = 1500.0) -> tuple[tuple[tuple[int, ...], ...], np.ndarray, np.ndarray]:
    """Pick, for each point of ``base``, the vertex whose projection best matches 2D clicks.

    cameras (N,3,4), shapes (N,Ks), expressions (N,Ke): fits (model -> crop pixels), e.g. the
    teacher's; points (N,K,2) crop pixels, NaN = missing. Candidates: the base group itself
    and every vertex within ``radius`` model units (BFM: micrometres) of the base point on the
    mean face. Score: the mean of ``min(error_px, clip_px)**2`` over the images where the
    point is annotated (robust to the few gross annotation errors). With ``flip`` (each
    point's left-right partner) a candidate is scored together with its mirror vertex on the
    partner point, so the chosen pair is symmetric; midline points keep to vertices within
    ``midline_tol`` of the face's symmetry plane.

    Returns (groups (K,), score of the choice (K,), score of the base group (K,)), px^2.
    """
    cameras = np.asarray(cameras, np.float64)
    points = np.asarray(points, np.float64)
    shapes, expressions = np.asarray(shapes, np.float64), np.asarray(expressions, np.float64)
    mean = bfm.mean.astype(np.float64)
    mirror = bfm.mirror_map()[0] if flip is not None else None
    mid_x = 0.5 * (mean[:, 0].min() + mean[:, 0].max())
    K = base.n_points

    def score(k: int, groups: list[tuple[int, ...]]) -> tuple[np.ndarray, int]:
        seen = np.isfinite(points[:, k, 0])
        fits = (cameras[seen], shapes[seen], expressions[seen])
        return _click_scores(bfm, fits, points[seen, k], groups, clip_px), int(seen.sum())

    chosen: list[tuple[int, ...] | None] = [None] * K
    best, base_score = np.zeros(K), np.zeros(K)
    for k in range(K):
        if chosen[k] is not None:
            continue
        group = tuple(int(v) for v in base.groups[k])
        cand = candidate_vertices(mean, mean[list(group)].mean(0), radius)
        partner = k if flip is None else flip[k]
        if partner == k and flip is not None:
            cand = cand[np.abs(mean[cand, 0] - mid_x) <= midline_tol]
        groups = [group] + [(int(v),) for v in cand]
        total, n = score(k, groups)
        if partner != k:
            pgroup = tuple(int(v) for v in base.groups[partner])
            mirrored = [pgroup] + [(int(mirror[v]),) for v in cand]
            ptotal, pn = score(partner, mirrored)
            total, n = total + ptotal, n + pn
            base_score[partner] = ptotal[0] / max(pn, 1)
        j = int(np.argmin(total))
        chosen[k] = groups[j]
        best[k] = total[j] / max(n, 1)
        base_score[k] = score(k, [group])[0][0] / max(int(np.isfinite(points[:, k, 0]).sum()), 1)
        if partner != k:
            chosen[partner] = base.groups[partner] if j == 0 else (int(mirror[groups[j][0]]),)
            best[partner] = best[k]
    return tuple(chosen), best, base_score


def silhouette_jaw(bfm, camera: np.ndarray, shape: np.ndarray, expression: np.ndarray,
                   band: float = 4000.0, min_turn_deg: float = 10.0) -> np.ndarray:
    """68 vertex ids with the jaw points moved to the silhouette on the side of the face that
    turns away from the camera (the contour convention of 2D 68-point annotations such as
    300W's); the other points, and the side facing the camera, keep ``keypoints68``.

    camera (3, 4) maps model coordinates to pixels. For jaw point j on the turned-away side
    (yaw beyond ``min_turn_deg``), the candidates are the cheek vertices within ``band``
    model units of the fixed vertex's height (model y), between 30 % and 100 % of its distance
    from the midline and not behind it; the one projecting furthest out in the image wins."""
    kp = np.asarray(bfm.keypoints68, np.int64).copy()
    cam = np.asarray(camera, np.float64)
    X = bfm.model_vertices(shape, expression)
    view = np.cross(cam[0, :3], -cam[1, :3])
    view /= np.linalg.norm(view)                          # model-space direction to the viewer
    if abs(view[0]) < np.sin(np.radians(min_turn_deg)):
        return kp
    away = -np.sign(view[0])                              # model x side turned away
    chin = X[kp[8]]
    img_out = np.sign(away * cam[0, 0]) or 1.0            # image x direction of that side
    img_x = X @ cam[0, :3]
    for j in list(range(0, 8)) + list(range(9, 17)):
        v = X[kp[j]]
        reach = away * (v[0] - chin[0])
        if reach <= 0:                                    # this jaw point is on the facing side
            continue
        off = away * (X[:, 0] - chin[0])
        sel = np.flatnonzero((np.abs(X[:, 1] - v[1]) <= band) & (off >= 0.3 * reach) & (off <= reach)
                             & (X[:, 2] >= v[2]))
        if sel.size:
            best = sel[np.argmax(img_out * img_x[sel])]
            if img_out * (img_x[best] - img_x[kp[j]]) > 0:
                kp[j] = int(best)
    return kp
