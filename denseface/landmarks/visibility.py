"""A landmark set's per-point visibility thresholds (``Face.visibility``), as package data.

``<set name>_visibility.json`` beside the set's file holds, for each of its N points, the least
z of the point's unit normal (``min_nz``) and the z-buffer tolerance as a fraction of the face's
size (``tolerance``) of :func:`denseface.geometry.visibility.face_visibility`. They are fitted on
aflw_pl val (``python benchmarks/bench_visibility.py --write-thresholds``,
denseface.eval.visibility.fit_point_thresholds): the BFM's fine geometry, which the points' mesh
cannot show, hides some points more often than the mesh says (the inner lips, under the chin).
A set without the file uses one pair for every point (FACING_MIN_NZ, FACE_TOLERANCE).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import DenseFaceError
from ..geometry.visibility import FACE_TOLERANCE, FACING_MIN_NZ
from .landmark_set import DATA_DIR, LandmarkSet


def thresholds_path(name: str) -> Path:
    return DATA_DIR / f"{name}_visibility.json"


def visibility_thresholds(landmark_set: LandmarkSet) -> tuple[np.ndarray, np.ndarray]:
    """(min_nz (N,), tolerance (N,)) of a landmark set: its packaged per-point file, else the
    single pair for every point."""
    n, path = landmark_set.n_points, thresholds_path(landmark_set.name)
    if not path.is_file():
        return np.full(n, FACING_MIN_NZ), np.full(n, FACE_TOLERANCE)
    try:
        d = json.loads(path.read_text())
        min_nz, tol = np.asarray(d["min_nz"], np.float64), np.asarray(d["tolerance"], np.float64)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DenseFaceError(f"not a visibility thresholds file ({type(e).__name__})", path=path) from None
    if min_nz.shape != (n,) or tol.shape != (n,) or not np.isfinite(min_nz).all() or not np.isfinite(tol).all():
        raise DenseFaceError(f"the visibility thresholds are not {n} finite pairs", path=path)
    return min_nz, tol


def save_visibility_thresholds(landmark_set: LandmarkSet, min_nz: np.ndarray, tolerance: np.ndarray,
                               source: str) -> Path:
    """Write a set's per-point thresholds (package data; ``source`` says how they were made)."""
    from ..io.files import atomic_write

    body = {"landmark_set": landmark_set.name, "source": source,
            "min_nz": [float(v) for v in min_nz], "tolerance": [float(v) for v in tolerance]}
    return atomic_write(thresholds_path(landmark_set.name), json.dumps(body) + "\n")
