"""Build a dense landmark set from the BFM, following Basak et al. 2023 §3.1.

1. 19 seeds from the 68 landmarks: the 17 jaw points, the nose-bridge top (27) and the
   nose tip (30).
2. Three rounds of Delaunay-centroid insertion in UV space: triangulate the current points'
   UV coordinates, add each triangle's centroid (snapped to the nearest mesh vertex in UV).
3. The paper's manual Blender picks are replaced by a deterministic completion: the 68
   landmarks are added, then symmetric farthest-point sampling on the mean face (3D,
   geodesic-free Euclidean) adds points, each with its mirror partner, until N.

Every insertion adds the point's mirror partner too, so the set is mirror-symmetric and a
horizontal flip is a permutation of it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial import Delaunay, cKDTree

from ..mesh.bfm import BFM
from .ibug68 import FLIP_68, GROUPS_68
from .landmark_set import REGION_NAMES, LandmarkSet

SEEDS_68 = tuple(range(17)) + (27, 30)
MM = 1000.0  # BFM model units per millimetre


def outer_boundary(triangles: np.ndarray) -> np.ndarray:
    """Vertex ids on the mesh's outer boundary (the longest boundary loop)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    e = np.sort(np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]]), 1)
    uniq, counts = np.unique(e, axis=0, return_counts=True)
    b = uniq[counts == 1]
    n = int(triangles.max()) + 1
    g = coo_matrix((np.ones(len(b)), (b[:, 0], b[:, 1])), shape=(n, n))
    _, lab = connected_components(g, directed=False)
    bv = np.unique(b)
    labs, cnt = np.unique(lab[bv], return_counts=True)
    return bv[lab[bv] == labs[np.argmax(cnt)]]


class _SymmetricSet:
    """An ordered vertex set that adds mirror partners and skips near-duplicates."""

    def __init__(self, bfm: BFM, min_dist: float):
        self.pos = bfm.mean.astype(np.float64)
        self.mirror, _ = bfm.mirror_map()
        self.cx = 0.5 * (self.pos[:, 0].min() + self.pos[:, 0].max())
        self.min_dist = min_dist
        self.ids: list[int] = []

    def _near(self, v: int) -> bool:
        if not self.ids:
            return False
        d = np.linalg.norm(self.pos[self.ids] - self.pos[v], axis=1)
        return bool(d.min() < self.min_dist)

    def add(self, v: int, force: bool = False, mirror: bool = True) -> None:
        for u in ((v, int(self.mirror[v])) if mirror else (v,)):
            if u in self.ids:
                continue
            if force or not self._near(u):
                self.ids.append(u)

    def is_midline(self, v: int) -> bool:
        return abs(self.pos[v, 0] - self.cx) < self.min_dist / 2


def face_region(bfm: BFM, face_mask: np.ndarray | None, border_mm: float = 6.0,
                erode_px: int = 3) -> np.ndarray:
    """Boolean (V,) mask of the vertices points may be sampled from.

    With ``face_mask`` (PRNet's 256x256 UV face mask, the region the paper samples from: forehead
    to chin, cheek to cheek, no ears or neck), a vertex qualifies when its UV pixel lies inside
    the mask eroded by ``erode_px``. Without it, every vertex farther than ``border_mm`` from the
    mesh's outer boundary qualifies."""
    if face_mask is not None:
        import cv2

        m = (np.asarray(face_mask) > 0).astype(np.uint8)
        if erode_px:
            m = cv2.erode(m, np.ones((2 * erode_px + 1,) * 2, np.uint8))
        from ..mesh.posmap import uv_pixel_coords

        size = m.shape[0]
        if m.shape != (size, size):
            raise ValueError(f"the UV face mask must be square, got {m.shape[1]}x{m.shape[0]}")
        pix = np.clip(np.round(uv_pixel_coords(bfm.uv, size)).astype(int), 0, size - 1)
        return m[pix[:, 1], pix[:, 0]] > 0
    pos = bfm.mean.astype(np.float64)
    d_border, _ = cKDTree(pos[outer_boundary(bfm.triangles)]).query(pos)
    return d_border > border_mm * MM


def build_landmark_set(bfm: BFM, n_points: int = 520, rounds: int = 3,
                       face_mask: np.ndarray | None = None, border_mm: float = 6.0,
                       name: str | None = None) -> LandmarkSet:
    """Build the set deterministically (no randomness); see face_region for ``face_mask``."""
    if bfm.uv is None:
        raise ValueError("the BFM needs UV coordinates (BFM_UV.mat) to build a landmark set")
    kp = bfm.keypoints68
    pos = bfm.mean.astype(np.float64)
    uv = bfm.uv.astype(np.float64)
    cand = np.flatnonzero(face_region(bfm, face_mask, border_mm))
    uv_tree = cKDTree(uv[cand])

    s = _SymmetricSet(bfm, min_dist=2.0 * MM)
    for k in SEEDS_68:  # the 68 landmarks are symmetric among themselves (FLIP_68)
        s.add(int(kp[k]), force=True, mirror=False)
    n_seed = len(s.ids)
    for _ in range(rounds):
        tri = Delaunay(uv[s.ids])
        cent = uv[np.asarray(s.ids)][tri.simplices].mean(1)
        _, j = uv_tree.query(cent)
        for v in cand[j]:
            s.add(int(v))
    n_delaunay = len(s.ids)
    for k in range(68):
        s.add(int(kp[k]), force=True, mirror=False)
    if len(s.ids) > n_points:
        raise ValueError(f"n_points={n_points} is below the {len(s.ids)} points of the seed stages")

    _farthest_points(s, pos, cand, n_points)
    ids = np.asarray(s.ids, np.int64)
    idx68 = np.array([int(np.flatnonzero(ids == kp[k])[0]) for k in range(68)])
    flip, flip_res = _flip_permutation(pos[ids], s.cx, idx68)
    triangles = _triangulate(uv[ids])
    region = _regions(pos, ids, kp)
    p = pos[ids]
    dd, _ = cKDTree(p).query(p, k=2)
    info = {
        "n_seed": n_seed, "n_after_delaunay": n_delaunay, "rounds": rounds,
        "min_spacing_mm": round(float(dd[:, 1].min() / MM), 3),
        "median_spacing_mm": round(float(np.median(dd[:, 1]) / MM), 3),
        "flip_residual_max_mm": round(float(flip_res.max() / MM), 3),
        "flip_residual_median_mm": round(float(np.median(flip_res) / MM), 3),
        "bfm": Path(bfm.source).name or "unknown",
        "region": "PRNet UV face mask" if face_mask is not None else f"mesh minus {border_mm} mm border",
    }
    return LandmarkSet(name or f"dense{n_points}", ids, idx68, flip, triangles, region, info,
                       bfm.mean[ids].astype(np.float32).astype(np.float64))


def _farthest_points(s: "_SymmetricSet", pos: np.ndarray, cand: np.ndarray, n_points: int) -> None:
    """Symmetric farthest-point sampling over the candidates ``cand`` (vertex ids; ``pos``
    the mean shape's vertices): add points (with their mirrors) to ``s`` until it has ``n_points``."""
    d = np.linalg.norm(pos[cand][:, None, :] - pos[s.ids][None], axis=2).min(1)
    while len(s.ids) < n_points:
        order = np.argsort(-d)
        remaining = n_points - len(s.ids)
        pick = None
        for j in order[:2000]:
            v = int(cand[j])
            pair = 1 if (s.is_midline(v) or s.mirror[v] == v) else 2
            if pair <= remaining:
                pick = v
                break
        if pick is None:
            raise ValueError("could not complete the set symmetrically")
        before = len(s.ids)
        if s.is_midline(pick):
            s.ids.append(pick)
        else:
            s.add(pick, force=True)
        for u in s.ids[before:]:
            d = np.minimum(d, np.linalg.norm(pos[cand] - pos[u], axis=1))


def _flip_permutation(p: np.ndarray, cx: float, idx68: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Optimal assignment of each point to the point nearest its mirror image, with the 68
    landmarks fixed to the standard iBUG flip."""
    m = p.copy()
    m[:, 0] = 2 * cx - m[:, 0]
    cost = np.linalg.norm(m[:, None] - p[None], axis=2)
    big = cost.max() * 10
    for k in range(68):
        a, b = idx68[k], idx68[FLIP_68[k]]
        cost[a, :] = big
        cost[:, b] = big
        cost[a, b] = 0.0
    _, flip = linear_sum_assignment(cost)
    res = np.linalg.norm(m - p[flip], axis=1)
    return flip.astype(np.int64), res


def _triangulate(uv: np.ndarray) -> np.ndarray:
    return Delaunay(uv).simplices.astype(np.int32)


def _regions(pos: np.ndarray, ids: np.ndarray, kp: np.ndarray, radius_mm: float = 12.0) -> np.ndarray:
    """forehead above the brows; else the 68-group of the nearest landmark within radius;
    else cheek."""
    group_of = np.empty(68, np.int8)
    for gname, rng in GROUPS_68.items():
        group_of[list(rng)] = REGION_NAMES.index(gname)
    lm = pos[kp]
    brow_y = lm[list(GROUPS_68["brow"]), 1].mean()
    p = pos[ids]
    dist, near = cKDTree(lm).query(p)
    region = np.where(dist < radius_mm * MM, group_of[near], REGION_NAMES.index("cheek")).astype(np.int8)
    region[(p[:, 1] > brow_y + 5 * MM) & (dist > 6 * MM)] = REGION_NAMES.index("forehead")
    return region
