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


def _bucket_pairs(xs: np.ndarray, ys: np.ndarray, qx: np.ndarray, qy: np.ndarray,
                  cell: float) -> tuple[np.ndarray, np.ndarray]:
    """(query ids, triangle ids) of every query and triangle whose grid cells meet: triangle
    corners xs, ys (T, 3), queries qx, qy (P,), grid cells of side ``cell`` pixels."""
    ox, oy = min(xs.min(), qx.min()), min(ys.min(), qy.min())
    cx0 = np.floor((xs.min(1) - ox) / cell).astype(np.int64)
    cx1 = np.floor((xs.max(1) - ox) / cell).astype(np.int64)
    cy0 = np.floor((ys.min(1) - oy) / cell).astype(np.int64)
    cy1 = np.floor((ys.max(1) - oy) / cell).astype(np.int64)
    width = int(max(cx1.max(), np.floor((qx.max() - ox) / cell))) + 1
    nx, ny = cx1 - cx0 + 1, cy1 - cy0 + 1
    counts = nx * ny
    tri = np.repeat(np.arange(len(xs)), counts)
    local = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    keys = (cy0[tri] + local // nx[tri]) * width + cx0[tri] + local % nx[tri]
    order = np.argsort(keys, kind="stable")
    keys, tri = keys[order], tri[order]
    qkey = np.floor((qy - oy) / cell).astype(np.int64) * width + np.floor((qx - ox) / cell).astype(np.int64)
    lo, hi = np.searchsorted(keys, qkey, "left"), np.searchsorted(keys, qkey, "right")
    n = hi - lo
    q = np.repeat(np.arange(len(qx)), n)
    pos = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n) + np.repeat(lo, n)
    return q, tri[pos]


def _covering(vertices: np.ndarray, triangles: np.ndarray, xy: np.ndarray,
              above: np.ndarray | None = None, eps: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
    """Every (query, triangle) pair whose triangle's 2D projection holds the query point, as
    (query ids, the triangle's interpolated z at the query). A point on an edge or corner counts
    as inside (barycentric weights >= -eps); degenerate (zero-area) and non-finite triangles and
    non-finite queries take no part. ``above`` (P,): only triangles reaching above this z at
    some corner are tried for each query (a cheap cut before the inside test)."""
    v = np.asarray(vertices, np.float64)
    t = np.asarray(triangles, np.int64)
    q = np.asarray(xy, np.float64)[:, :2]
    xs, ys, zs = v[t, 0], v[t, 1], v[t, 2]
    area = (xs[:, 1] - xs[:, 0]) * (ys[:, 2] - ys[:, 0]) - (xs[:, 2] - xs[:, 0]) * (ys[:, 1] - ys[:, 0])
    keep = (np.abs(area) > 1e-12) & np.isfinite(area) & np.isfinite(zs).all(1)
    qid = np.flatnonzero(np.isfinite(q).all(1))
    if not keep.any() or not len(qid):
        return np.zeros(0, np.int64), np.zeros(0)
    if not keep.all():
        xs, ys, zs, area = xs[keep], ys[keep], zs[keep], area[keep]
    qx, qy = q[qid, 0], q[qid, 1]
    # cells about the size of a typical triangle: a few triangles per cell, a few cells each
    cell = max(float(np.mean(np.maximum(np.ptp(xs, 1), np.ptp(ys, 1)))), 1e-9)
    pi, ti = _bucket_pairs(xs, ys, qx, qy, cell)
    if above is not None:
        near = zs.max(1)[ti] > np.asarray(above, np.float64)[qid][pi]
        pi, ti = pi[near], ti[near]
    px, py = qx[pi], qy[pi]
    ax, bx, cx = xs[ti, 0] - px, xs[ti, 1] - px, xs[ti, 2] - px
    ay, by, cy = ys[ti, 0] - py, ys[ti, 1] - py, ys[ti, 2] - py
    inv = 1.0 / area[ti]
    w0 = (bx * cy - cx * by) * inv
    w1 = (cx * ay - ax * cy) * inv
    w2 = 1.0 - w0 - w1
    inside = (w0 >= -eps) & (w1 >= -eps) & (w2 >= -eps)
    ti, w0, w1, w2 = ti[inside], w0[inside], w1[inside], w2[inside]
    return qid[pi[inside]], w0 * zs[ti, 0] + w1 * zs[ti, 1] + w2 * zs[ti, 2]


def surface_depth(vertices: np.ndarray, triangles: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """The largest z (P,) of the surface of ``triangles`` (T, 3) over ``vertices`` (V, 3) along
    the line of sight through each of ``xy`` (P, 2): what an infinitely fine z-buffer holds
    there; -inf where no triangle covers it."""
    q, z = _covering(vertices, triangles, xy)
    out = np.full(len(xy), -np.inf)
    np.maximum.at(out, q, z)
    return out


def self_visible(vertices: np.ndarray, triangles: np.ndarray, tolerance: float,
                 ids: np.ndarray | None = None) -> np.ndarray:
    """Bool (V,) (or (len(ids),)): vertex i of the mesh (``vertices`` (V, 3) image pixels, z
    towards the viewer; ``triangles`` (T, 3)) is visible unless the mesh's surface at its (x, y)
    lies more than ``tolerance`` (pixels of z) in front of it (the z-buffer test). ``ids`` tests
    only those vertices. Non-finite vertices are not visible."""
    v = np.asarray(vertices, np.float64)
    p = v if ids is None else v[np.asarray(ids, np.int64)]
    q, z = _covering(v, triangles, p[:, :2], above=p[:, 2] + tolerance)
    hidden = np.bincount(q[z > p[q, 2] + tolerance], minlength=len(p)) > 0
    return np.isfinite(p).all(1) & ~hidden


def vertex_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Unit normals (V, 3) of a mesh's vertices: the area-weighted sum of the normals of the
    triangles around each (``np.cross(b - a, c - a)`` of each triangle (a, b, c), so the winding
    and the frame's handedness decide which way they point); zero for a vertex on no triangle."""
    v = np.asarray(vertices, np.float64)
    t = np.asarray(triangles, np.int64)
    fn = np.repeat(np.cross(v[t[:, 1]] - v[t[:, 0]], v[t[:, 2]] - v[t[:, 0]]), 3, axis=0)
    flat = t.reshape(-1)
    n = np.stack([np.bincount(flat, fn[:, k], len(v)) for k in range(3)], 1)
    norm = np.linalg.norm(n, axis=1, keepdims=True)
    return np.divide(n, norm, out=np.zeros_like(n), where=norm > 0)


#: The z-buffer tolerance of :func:`face_visibility`, as a fraction of the face's size
#: (sqrt(w * h) of its points' 2D box), and the least z of a visible point's unit normal. Chosen
#: on aflw_pl val (benchmarks/bench_visibility.py --val; docs/predict.md "Visibility").
FACE_TOLERANCE = 0.01
FACING_MIN_NZ = 0.0


def face_visibility(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Bool (N,): whether each of a face's points (N, 3) image pixels (x right, y down, z
    towards the viewer) is seen, or hidden by the face itself, in an orthographic view: a point
    is visible when its normal on the points' mesh ``triangles`` (T, 3), wound outward in a
    y-up frame (``geometry.meshes.outward_triangles``), faces the viewer (z of the unit normal
    > FACING_MIN_NZ) and the mesh is not in front of it (:func:`self_visible` with a tolerance
    of FACE_TOLERANCE x the face's size). All False for non-finite points."""
    from .meshes import to_export_frame

    p = np.asarray(points, np.float64)
    if not np.isfinite(p).all():
        return np.zeros(len(p), bool)
    size = float(np.sqrt(np.prod(np.ptp(p[:, :2], 0))))
    facing = vertex_normals(to_export_frame(p), triangles)[:, 2] > FACING_MIN_NZ
    visible = np.zeros(len(p), bool)
    visible[facing] = self_visible(p, triangles, FACE_TOLERANCE * size, np.flatnonzero(facing))
    return visible
