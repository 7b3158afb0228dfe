"""Triangle meshes of faces: outward winding and the right-handed export frame.

Predictions live in image pixels (x right, y down, z towards the viewer): a left-handed frame,
in which a viewer shows meshes upside down and inside out. Exported meshes use
:func:`to_export_frame`: x right, **y up**, z towards the viewer (right-handed, the OpenGL
camera frame and the BFM's own), on the same pixel scale, with every triangle wound so that
its normal points out of the head (:func:`outward_triangles`).
"""
from __future__ import annotations

import numpy as np


def triangle_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Unnormalised normals (T, 3) by the right-hand rule (counter-clockwise = towards you)."""
    v = np.asarray(vertices, np.float64)
    t = np.asarray(triangles, np.int64)
    return np.cross(v[t[:, 1]] - v[t[:, 0]], v[t[:, 2]] - v[t[:, 0]])


def outward_triangles(model_vertices: np.ndarray, triangles: np.ndarray,
                      head_depth: float = 0.5) -> np.ndarray:
    """``triangles`` re-wound so each normal points away from the head's centre, judged on a
    frontal face in a right-handed frame (y up, z towards the viewer, e.g. the BFM mean shape).
    The centre is the vertices' centroid moved back by ``head_depth`` x the face's height."""
    v = np.asarray(model_vertices, np.float64)
    t = np.asarray(triangles, np.int64).copy()
    centre = v.mean(0) - np.array([0.0, 0.0, head_depth * np.ptp(v[:, 1])])
    outward = ((v[t].mean(1) - centre) * triangle_normals(v, t)).sum(1) >= 0
    t[~outward] = t[~outward][:, ::-1]
    return t


def to_export_frame(points_image: np.ndarray) -> np.ndarray:
    """Image pixels (x right, y down, z towards the viewer) -> the export frame (y up)."""
    p = np.array(points_image, np.float64, copy=True)
    p[..., 1] *= -1.0
    return p
