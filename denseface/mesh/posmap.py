"""PRNet-compatible UV position maps.

A position map is a (S, S, 3) image in UV space whose pixel (row, col) holds the 3D point of
the mesh surface that maps to that UV pixel, in whatever frame the given vertices are in
(PRNet: crop pixels, x right, y down, z towards the viewer with min z = 0).

UV layout (face3d ``process_uv``, as PRNet): vertex ``i`` sits at pixel
``col = u_i * (S - 1)``, ``row = (S - 1) - v_i * (S - 1)`` with (u, v) from BFM_UV.mat.
Pixel centres are the integer coordinates. Each pixel inside a UV triangle is filled by
barycentric interpolation of the triangle's three vertices; where triangles overlap, the
first one in triangle order wins (face3d ``render_colors`` with a flat depth). Pixels
outside every triangle are 0.

PRNet's index files (``uv_kpt_ind.txt``, ``face_ind.txt``) address pixels of this layout.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DenseFaceError
from .bfm import BFM

#: PRNet's position-map side in pixels.
PRNET_SIZE = 256


@dataclass(frozen=True)
class UVRaster:
    """The pixel -> triangle table of a mesh in UV space.

    size: map side S in pixels.
    pixels (P,) flat pixel indices ``row * S + col`` covered by the mesh, ascending.
    vertex_ids (P, 3) the covering triangle's vertex ids.
    weights (P, 3) barycentric weights of those vertices at the pixel centre (sum 1).
    """

    size: int
    pixels: np.ndarray
    vertex_ids: np.ndarray
    weights: np.ndarray

    def mask(self) -> np.ndarray:
        """(S, S) bool: pixels the mesh covers."""
        m = np.zeros(self.size * self.size, bool)
        m[self.pixels] = True
        return m.reshape(self.size, self.size)


def uv_pixel_coords(uv: np.ndarray, size: int = PRNET_SIZE) -> np.ndarray:
    """(V, 2) UV in [0, 1] (v up) -> (V, 2) float64 pixel coordinates (col, row) of a
    ``size`` x ``size`` map, row 0 at the top (face3d ``process_uv``)."""
    uv = np.asarray(uv, np.float64)
    return np.stack([uv[:, 0] * (size - 1), (size - 1) - uv[:, 1] * (size - 1)], axis=1)


def rasterize_uv(pix: np.ndarray, triangles: np.ndarray, size: int, eps: float = 1e-9) -> UVRaster:
    """Build the pixel -> (triangle vertices, barycentric weights) table.

    pix (V, 2) vertex positions (col, row) in map pixels; triangles (T, 3) vertex ids.
    A pixel centre belongs to a triangle when all its barycentric weights are >= -eps."""
    tri = np.asarray(triangles, np.int64)
    corners = pix[tri]                                              # (T, 3, 2)
    lo = np.clip(np.ceil(corners.min(1) - eps), 0, size - 1).astype(np.int64)
    hi = np.clip(np.floor(corners.max(1) + eps), 0, size - 1).astype(np.int64)
    extent = hi - lo + 1                                            # (T, 2) cols, rows
    inside_map = (corners.max(1) >= -eps).all(1) & (corners.min(1) <= size - 1 + eps).all(1)
    count = np.where(inside_map & (extent > 0).all(1), extent[:, 0] * extent[:, 1], 0)

    # every (triangle, pixel of its bounding box) pair, in triangle order
    t_id = np.repeat(np.arange(len(tri)), count)
    local = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    cols = lo[t_id, 0] + local % extent[t_id, 0]
    rows = lo[t_id, 1] + local // extent[t_id, 0]

    a, b, c = corners[t_id, 0], corners[t_id, 1], corners[t_id, 2]
    e1, e2 = b - a, c - a
    p = np.stack([cols, rows], 1).astype(np.float64) - a
    den = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    ok = np.abs(den) > 1e-12
    den = np.where(ok, den, 1.0)
    w1 = (p[:, 0] * e2[:, 1] - p[:, 1] * e2[:, 0]) / den
    w2 = (e1[:, 0] * p[:, 1] - e1[:, 1] * p[:, 0]) / den
    w0 = 1.0 - w1 - w2
    hit = ok & (w0 >= -eps) & (w1 >= -eps) & (w2 >= -eps)

    flat = (rows * size + cols)[hit]
    # first triangle (in triangle order) per pixel: np.unique keeps first occurrences
    pixels, first = np.unique(flat, return_index=True)
    sel = np.flatnonzero(hit)[first]
    weights = np.clip(np.stack([w0[sel], w1[sel], w2[sel]], 1), 0.0, 1.0)
    weights /= weights.sum(1, keepdims=True)
    return UVRaster(size, pixels, tri[t_id[sel]], weights)


def uv_raster(bfm: BFM, size: int = PRNET_SIZE) -> UVRaster:
    """The BFM's UV raster table, computed once per (BFM, size) and cached on the BFM."""
    key = ("uv_raster", size)
    if key not in bfm._cache:
        if bfm.uv is None:
            raise DenseFaceError("the BFM has no UV coordinates (BFM_UV.mat) for position maps",
                                 path=bfm.source or None)
        bfm._cache[key] = rasterize_uv(uv_pixel_coords(bfm.uv, size), bfm.triangles, size)
    return bfm._cache[key]


def position_map(bfm: BFM, vertices: np.ndarray, size: int = PRNET_SIZE) -> np.ndarray:
    """(V, 3) mesh vertices (any frame) -> (size, size, 3) float64 position map; pixels the
    mesh does not cover are 0."""
    vertices = np.asarray(vertices, np.float64)
    if vertices.shape != (bfm.n_vertices, 3):
        raise ValueError(f"vertices are {vertices.shape}, expected ({bfm.n_vertices}, 3)")
    r = uv_raster(bfm, size)
    out = np.zeros((size * size, 3))
    out[r.pixels] = np.einsum("pk,pkc->pc", r.weights, vertices[r.vertex_ids])
    return out.reshape(size, size, 3)


def sample_rows_cols(posmap: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Values of a position map at integer pixels, (K, 3)."""
    return np.asarray(posmap)[np.asarray(rows, np.int64), np.asarray(cols, np.int64)]


def _read_int_table(path: str | Path, what: str) -> np.ndarray:
    path = Path(path)
    if not path.exists():
        raise DenseFaceError(f"{what} file does not exist", path=path)
    try:
        a = np.loadtxt(path)
    except Exception as e:
        raise DenseFaceError(f"cannot read {what} ({type(e).__name__}: {e})", path=path) from None
    if a.size == 0 or not np.isfinite(a).all() or not np.array_equal(a, np.round(a)) or (a < 0).any():
        raise DenseFaceError(f"{what} must hold non-negative integers", path=path)
    return a.astype(np.int64)


def read_uv_kpt_ind(path: str | Path, size: int = PRNET_SIZE) -> np.ndarray:
    """PRNet's ``uv_kpt_ind.txt`` (2 x 68: row 0 = column u, row 1 = row v) -> (68, 2) int
    (col, row); the landmarks are ``posmap[row, col]``."""
    a = _read_int_table(path, "uv_kpt_ind")
    if a.shape != (2, 68) or a.max() >= size:
        raise DenseFaceError(f"uv_kpt_ind is {a.shape}, expected (2, 68) pixels < {size}", path=path)
    return a.T.copy()


def read_face_ind(path: str | Path, size: int = PRNET_SIZE) -> np.ndarray:
    """PRNet's ``face_ind.txt``: sorted flat pixel indices ``row * size + col`` of the face
    pixels, (F,) int (43867 for PRNet's mask)."""
    a = _read_int_table(path, "face_ind").reshape(-1)
    if a.max() >= size * size or np.any(np.diff(a) <= 0):
        raise DenseFaceError(f"face_ind must be sorted unique pixel indices < {size * size}", path=path)
    return a
