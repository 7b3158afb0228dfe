"""A z-buffered triangle rasteriser in numpy (no OpenGL, no GPU).

Frame: image pixels, x right, y down, OpenCV's 0-based pixel centres (pixel (i, j) is the point
x = j, y = i); z points towards the viewer, so the *largest* z wins the z-buffer. A pixel belongs
to a triangle when its centre lies inside it or on its edge (barycentric weights >= -eps).

Every triangle is expanded to the pixel centres of its bounding box at once (faces of the BFM have
sub-pixel triangles at crop sizes, so this costs a few candidates per triangle); the z-buffer is
one ``np.lexsort``. Registry rasterisers were looked at (pyrender and moderngl need an OpenGL
context, pytorch3d/nvdiffrast a GPU): none is light enough for this.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Largest number of (triangle, pixel) candidates expanded in one go (memory bound).
CHUNK_CANDIDATES = 4_000_000


@dataclass
class Raster:
    """triangle (H, W) int32: the visible triangle per pixel, -1 where none;
    weights (H, W, 3) float32: its barycentric weights at the pixel centre (0 where none);
    depth (H, W) float32: the interpolated z (-inf where none)."""

    triangle: np.ndarray
    weights: np.ndarray
    depth: np.ndarray

    @property
    def covered(self) -> np.ndarray:
        return self.triangle >= 0

    def interpolate(self, values: np.ndarray, triangles: np.ndarray) -> np.ndarray:
        """(V, C) per-vertex values -> (H, W, C) barycentric interpolation (0 where uncovered)."""
        tri = np.asarray(triangles)[np.maximum(self.triangle, 0)]            # (H, W, 3)
        v = np.asarray(values, np.float64)[tri]                               # (H, W, 3, C)
        out = np.einsum("hwk,hwkc->hwc", self.weights.astype(np.float64), v)
        out[~self.covered] = 0.0
        return out


def rasterize(vertices: np.ndarray, triangles: np.ndarray, height: int, width: int,
              eps: float = 1e-7) -> Raster:
    """Z-buffer ``triangles`` (T, 3) vertex ids over ``vertices`` (V, 3) (x, y pixels, z towards
    the viewer) into an image of ``height`` x ``width``. Degenerate (zero-area) triangles are
    skipped; triangles of either winding are drawn."""
    v = np.asarray(vertices, np.float64)
    tri = np.asarray(triangles, np.int64)
    tri_id = np.full(height * width, -1, np.int64)
    best_z = np.full(height * width, -np.inf)
    best_w = np.zeros((height * width, 3))
    xs, ys, zs = v[:, 0][tri], v[:, 1][tri], v[:, 2][tri]                  # (T, 3) each
    x0 = np.clip(np.ceil(xs.min(1)), 0, width)
    x1 = np.clip(np.floor(xs.max(1)), -1, width - 1)
    y0 = np.clip(np.ceil(ys.min(1)), 0, height)
    y1 = np.clip(np.floor(ys.max(1)), -1, height - 1)
    nx, ny = (x1 - x0 + 1).astype(np.int64), (y1 - y0 + 1).astype(np.int64)
    area = (xs[:, 1] - xs[:, 0]) * (ys[:, 2] - ys[:, 0]) - (xs[:, 2] - xs[:, 0]) * (ys[:, 1] - ys[:, 0])
    keep = np.flatnonzero((nx > 0) & (ny > 0) & (np.abs(area) > 1e-12) & np.isfinite(area))
    counts = nx[keep] * ny[keep]
    ends = np.cumsum(counts)
    start = 0
    while start < len(keep):
        base = ends[start - 1] if start else 0
        stop = int(np.searchsorted(ends, base + CHUNK_CANDIDATES, side="right"))
        stop = max(stop, start + 1)
        ids = keep[start:stop]
        cnt = counts[start:stop]
        t = np.repeat(ids, cnt)
        local = np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        nxt = nx[t]
        px = x0[t] + local % nxt
        py = y0[t] + local // nxt
        ax, bx, cx = xs[t, 0] - px, xs[t, 1] - px, xs[t, 2] - px
        ay, by, cy = ys[t, 0] - py, ys[t, 1] - py, ys[t, 2] - py
        inv = 1.0 / area[t]
        w0 = (bx * cy - cx * by) * inv
        w1 = (cx * ay - ax * cy) * inv
        w2 = 1.0 - w0 - w1
        inside = (w0 >= -eps) & (w1 >= -eps) & (w2 >= -eps)
        t, px, py = t[inside], px[inside].astype(np.int64), py[inside].astype(np.int64)
        w = np.stack([w0[inside], w1[inside], w2[inside]], 1)
        z = (w * zs[t]).sum(1)
        pix = py * width + px
        order = np.lexsort((-z, pix))                     # per pixel, the nearest first
        first = order[np.r_[True, pix[order][1:] != pix[order][:-1]]]
        pix, z, t, w = pix[first], z[first], t[first], w[first]
        better = z > best_z[pix]
        pix = pix[better]
        best_z[pix], tri_id[pix], best_w[pix] = z[better], t[better], w[better]
        start = stop
    return Raster(tri_id.reshape(height, width).astype(np.int32),
                  best_w.reshape(height, width, 3).astype(np.float32),
                  best_z.reshape(height, width).astype(np.float32))
