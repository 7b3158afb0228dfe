"""The paper authors' published 520-point list (Basak et al. 2023), mapped onto the BFM.

Their file (``vertices_520_sel_from_blender.txt``, one number per line) holds indices into
PRNet's ``face_ind`` pixels: entry ``k`` means the UV pixel ``face_ind[k]`` (flat index
``row * 256 + col``) of a 256x256 PRNet position map. We map each such pixel onto the BFM
vertex nearest to it in UV pixel space (layout of :mod:`denseface.mesh.posmap`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from ..errors import DenseFaceError
from ..mesh.bfm import BFM
from ..mesh.posmap import PRNET_SIZE, read_face_ind, uv_pixel_coords


@dataclass(frozen=True)
class PaperLandmarks:
    """A face_ind-indexed point list mapped onto BFM vertices.

    face_index (N,) the file's entries (indices into face_ind).
    uv_pixels (N, 2) int (col, row) of those pixels in the 256x256 map.
    vertex_ids (N,) nearest BFM vertex in UV pixel space.
    uv_distance (N,) distance in UV pixels between a pixel and its vertex.
    idx68 (68,) positions of the 68 landmarks within the N points, or None."""

    face_index: np.ndarray
    uv_pixels: np.ndarray
    vertex_ids: np.ndarray
    uv_distance: np.ndarray
    idx68: np.ndarray | None = None

    @property
    def n_points(self) -> int:
        return len(self.vertex_ids)


def read_index_list(path: str | Path, upper: int, what: str = "index list") -> np.ndarray:
    """A text file of non-negative integers (any whitespace layout, numpy's ``%.18e`` included),
    each below ``upper`` -> (N,) int64."""
    path = Path(path)
    if not path.exists():
        raise DenseFaceError(f"{what} file does not exist", path=path)
    try:
        a = np.loadtxt(path, ndmin=1).reshape(-1)
    except Exception as e:
        raise DenseFaceError(f"cannot read {what} ({type(e).__name__}: {e})", path=path) from None
    if a.size == 0:
        raise DenseFaceError(f"{what} is empty", path=path)
    if not np.isfinite(a).all() or not np.array_equal(a, np.round(a)):
        raise DenseFaceError(f"{what} must hold integers", path=path)
    if a.min() < 0 or a.max() >= upper:
        raise DenseFaceError(f"{what} entries must lie in 0..{upper - 1}, found {int(a.min())}..{int(a.max())}",
                             path=path)
    return a.astype(np.int64)


def write_index_list(path: str | Path, indices: np.ndarray) -> None:
    """Write indices one per line in the authors' format (numpy ``savetxt`` default, ``%.18e``)."""
    np.savetxt(path, np.asarray(indices, np.float64).reshape(-1, 1))


def _default_face_ind() -> Path:
    from ..paths import shared_path

    return shared_path("data", "paper_520", "face_ind.txt")


def load_paper_set(path: str | Path, bfm: BFM, face_ind_path: str | Path | None = None,
                   idx68_path: str | Path | None = None, size: int = PRNET_SIZE) -> PaperLandmarks:
    """Load a face_ind-indexed list (the authors' 520) and map it onto ``bfm``'s vertices.

    face_ind_path defaults to the shared ``data/paper_520/face_ind.txt``; ``idx68_path``
    (e.g. ``vertices_68_fil_520.txt``) optionally gives the 68 landmarks' positions."""
    if bfm.uv is None:
        raise DenseFaceError("the BFM has no UV coordinates (BFM_UV.mat)", path=bfm.source or None)
    face_ind = read_face_ind(face_ind_path or _default_face_ind(), size)
    face_index = read_index_list(path, len(face_ind), "face_ind index list")
    flat = face_ind[face_index]
    uv_pixels = np.stack([flat % size, flat // size], 1)
    dist, vid = cKDTree(uv_pixel_coords(bfm.uv, size)).query(uv_pixels.astype(np.float64))
    idx68 = None
    if idx68_path is not None:
        idx68 = read_index_list(idx68_path, len(face_index), "68-landmark position list")
        if idx68.size != 68:
            raise DenseFaceError(f"68-landmark position list has {idx68.size} entries", path=idx68_path)
    return PaperLandmarks(face_index, uv_pixels, vid.astype(np.int64), dist, idx68)


def face_indices_of_vertices(bfm: BFM, vertex_ids: np.ndarray, face_ind: np.ndarray,
                             size: int = PRNET_SIZE) -> np.ndarray:
    """The inverse mapping, for exporting a set in the authors' format: each vertex's UV
    position rounded to a pixel, as an index into ``face_ind``; -1 where that pixel is not
    one of the face pixels."""
    pix = np.rint(uv_pixel_coords(bfm.uv, size)[np.asarray(vertex_ids, np.int64)]).astype(np.int64)
    flat = pix[:, 1] * size + pix[:, 0]
    pos = np.minimum(np.searchsorted(face_ind, flat), len(face_ind) - 1)
    return np.where(face_ind[pos] == flat, pos, -1)
