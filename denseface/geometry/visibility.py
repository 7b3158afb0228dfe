"""Which points of a face are seen and which are hidden by the face itself (self-occlusion),
in numpy, for an orthographic view along z.

Frame: image pixels, x right, y down, OpenCV's 0-based pixel centres; z points towards the
viewer on the same scale, so along the line of sight through (x, y) the surface with the
*largest* z is the one seen.

:func:`surface_depth` is exact (no pixel grid): it finds, for each query (x, y), every triangle
whose 2D projection contains it and keeps the largest interpolated z. Triangles are bucketed by
the cells of a square grid their bounding boxes touch, so each query tests a handful of them.
:func:`self_visible` is the same search as a z-buffer test of a mesh's own vertices: a vertex
is hidden when the surface at its (x, y) is more than ``tolerance`` nearer the viewer.
:func:`face_visibility` is what ``Face.visibility`` holds: that test on a face's predicted points
and their mesh, and the points' normals facing the viewer.
"""
from __future__ import annotations

import numpy as np

from .meshes import to_export_frame


def _bucket_pairs(x0: np.ndarray, x1: np.ndarray, y0: np.ndarray, y1: np.ndarray,
                  qx: np.ndarray, qy: np.ndarray, cell: float) -> tuple[np.ndarray, np.ndarray]:
    """(query ids, triangle ids) of every query and triangle whose grid cells meet: triangle
    bounding boxes x0, x1, y0, y1 (T,), queries qx, qy (P,), grid cells of side ``cell``."""
    ox, oy = min(x0.min(), qx.min()), min(y0.min(), qy.min())
    cx0 = ((x0 - ox) // cell).astype(np.int64)
    cx1 = ((x1 - ox) // cell).astype(np.int64)
    cy0 = ((y0 - oy) // cell).astype(np.int64)
    cy1 = ((y1 - oy) // cell).astype(np.int64)
    qcx, qcy = ((qx - ox) // cell).astype(np.int64), ((qy - oy) // cell).astype(np.int64)
    width = int(max(cx1.max(), qcx.max())) + 1
    nx = cx1 - cx0 + 1
    counts = nx * (cy1 - cy0 + 1)
    starts = np.cumsum(counts) - counts
    tri = np.repeat(np.arange(len(x0)), counts)
    local = np.arange(int(starts[-1] + counts[-1])) - starts[tri]
    keys = (cy0[tri] + local // nx[tri]) * width + cx0[tri] + local % nx[tri]
    small = int(keys.max(initial=0)) < 1 << 16 and int(qcy.max()) * width + width <= 1 << 16
    order = np.argsort(keys.astype(np.uint16) if small else keys, kind="stable")   # uint16: a radix sort
    keys, tri = keys[order], tri[order]
    qkey = qcy * width + qcx
    lo, hi = np.searchsorted(keys, qkey, "left"), np.searchsorted(keys, qkey, "right")
    n = hi - lo
    q = np.repeat(np.arange(len(qx)), n)
    pos = np.arange(int(n.sum())) + np.repeat(lo - (np.cumsum(n) - n), n)
    return q, tri[pos]


def _covering(vertices: np.ndarray, triangles: np.ndarray, xy: np.ndarray,
              above: np.ndarray | None = None, eps: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
    """Every (query, triangle) pair whose triangle's 2D projection holds the query point, as
    (query ids, the triangle's interpolated z at the query). A point on an edge or corner counts
    as inside (barycentric weights >= -eps); degenerate (zero-area) and non-finite triangles and
    non-finite queries take no part. ``above`` (P,): only triangles reaching above this z at
    some corner are tried for each query (a cheap cut before the inside test). Per-corner
    columns, not (T, 3) arrays: numpy's reductions over a short last axis are slow."""
    v = np.asarray(vertices, np.float64)
    t = np.asarray(triangles, np.int64)
    q = np.asarray(xy, np.float64)[:, :2]
    (xa, ya, za), (xb, yb, zb), (xc, yc, zc) = (v[t[:, k]].T for k in range(3))
    area = (xb - xa) * (yc - ya) - (xc - xa) * (yb - ya)
    keep = (np.abs(area) > 1e-12) & np.isfinite(area + za + zb + zc)
    qid = np.flatnonzero(np.isfinite(q[:, 0] + q[:, 1]))
    if not keep.any() or not len(qid):
        return np.zeros(0, np.int64), np.zeros(0)
    if not keep.all():
        xa, ya, za, xb, yb, zb, xc, yc, zc, area = (a[keep] for a in (xa, ya, za, xb, yb, zb, xc, yc, zc, area))
    qx, qy = q[qid, 0], q[qid, 1]
    x0, x1 = np.minimum(np.minimum(xa, xb), xc), np.maximum(np.maximum(xa, xb), xc)
    y0, y1 = np.minimum(np.minimum(ya, yb), yc), np.maximum(np.maximum(ya, yb), yc)
    # cells about the size of a typical triangle: a few triangles per cell, a few cells each
    cell = max(float(np.mean(np.maximum(x1 - x0, y1 - y0))), 1e-9)
    pi, ti = _bucket_pairs(x0, x1, y0, y1, qx, qy, cell)
    if above is not None:
        near = np.maximum(np.maximum(za, zb), zc)[ti] > np.asarray(above, np.float64)[qid][pi]
        pi, ti = pi[near], ti[near]
    px, py = qx[pi], qy[pi]
    ax, bx, cx = xa[ti] - px, xb[ti] - px, xc[ti] - px
    ay, by, cy = ya[ti] - py, yb[ti] - py, yc[ti] - py
    inv = 1.0 / area[ti]
    w0 = (bx * cy - cx * by) * inv
    w1 = (cx * ay - ax * cy) * inv
    w2 = 1.0 - w0 - w1
    inside = (w0 >= -eps) & (w1 >= -eps) & (w2 >= -eps)
    ti, w0, w1, w2 = ti[inside], w0[inside], w1[inside], w2[inside]
    return qid[pi[inside]], w0 * za[ti] + w1 * zb[ti] + w2 * zc[ti]


def surface_depth(vertices: np.ndarray, triangles: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """The largest z (P,) of the surface of ``triangles`` (T, 3) over ``vertices`` (V, 3) along
    the line of sight through each of ``xy`` (P, 2): what an infinitely fine z-buffer holds
    there; -inf where no triangle covers it."""
    q, z = _covering(vertices, triangles, xy)
    out = np.full(len(xy), -np.inf)
    np.maximum.at(out, q, z)
    return out


def self_visible(vertices: np.ndarray, triangles: np.ndarray, tolerance,
                 ids: np.ndarray | None = None) -> np.ndarray:
    """Bool (V,) (or (len(ids),)): vertex i of the mesh (``vertices`` (V, 3) image pixels, z
    towards the viewer; ``triangles`` (T, 3)) is visible unless the mesh's surface at its (x, y)
    lies more than ``tolerance`` (pixels of z; one number, or one per tested vertex) in front of
    it (the z-buffer test). ``ids`` tests only those vertices. Non-finite vertices are not
    visible."""
    v = np.asarray(vertices, np.float64)
    p = v if ids is None else v[np.asarray(ids, np.int64)]
    above = p[:, 2] + tolerance
    q, z = _covering(v, triangles, p[:, :2], above=above)
    hidden = np.bincount(q[z > above[q]], minlength=len(p)) > 0
    return np.isfinite(p[:, 0] + p[:, 1] + p[:, 2]) & ~hidden


def vertex_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Unit normals (V, 3) of a mesh's vertices: the area-weighted sum of the normals of the
    triangles around each (the cross product (b - a) x (c - a) of each triangle (a, b, c), so
    the winding and the frame's handedness decide which way they point); zero for a vertex on no
    triangle."""
    v = np.asarray(vertices, np.float64)
    t = np.asarray(triangles, np.int64)
    a, b, c = (v[t[:, k]].T for k in range(3))
    (ux, uy, uz), (wx, wy, wz) = b - a, c - a
    flat = t.reshape(-1)
    n = np.stack([np.bincount(flat, np.repeat(f, 3), len(v))
                  for f in (uy * wz - uz * wy, uz * wx - ux * wz, ux * wy - uy * wx)], 1)
    norm = np.sqrt(n[:, 0] * n[:, 0] + n[:, 1] * n[:, 1] + n[:, 2] * n[:, 2])[:, None]
    return np.divide(n, norm, out=np.zeros_like(n), where=norm > 0)


#: The default z-buffer tolerance of :func:`face_visibility`, as a fraction of the face's size
#: (sqrt(w * h) of its points' 2D box), and the least z of a visible point's unit normal: the
#: best single pair on aflw_pl val (benchmarks/bench_visibility.py). A landmark set may carry
#: its own per point (denseface.landmarks.visibility).
FACE_TOLERANCE = 0.01
FACING_MIN_NZ = 0.0


def face_visibility(points: np.ndarray, triangles: np.ndarray, min_nz=FACING_MIN_NZ,
                    tolerance=FACE_TOLERANCE) -> np.ndarray:
    """Bool (N,): whether each of a face's points (N, 3) image pixels (x right, y down, z
    towards the viewer) is seen, or hidden by the face itself, in an orthographic view: a point
    is visible when its normal on the points' mesh ``triangles`` (T, 3), wound outward in a
    y-up frame (``geometry.meshes.outward_triangles``), faces the viewer (z of the unit normal
    > ``min_nz``) and the mesh is not in front of it (:func:`self_visible` with a tolerance of
    ``tolerance`` x the face's size). ``min_nz`` and ``tolerance``: one number or one per point
    (N,). All False for non-finite points."""
    p = np.asarray(points, np.float64)
    if not np.isfinite(p).all():
        return np.zeros(len(p), bool)
    size = float(np.sqrt(np.prod(np.ptp(p[:, :2], 0))))
    facing = np.flatnonzero(vertex_normals(to_export_frame(p), triangles)[:, 2] > min_nz)
    tol = np.broadcast_to(np.asarray(tolerance, np.float64) * size, (len(p),))[facing]
    visible = np.zeros(len(p), bool)
    visible[facing] = self_visible(p, triangles, tol, facing)
    return visible
