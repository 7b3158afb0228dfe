"""A dense landmark set: which mesh vertices, their 68 subset, flip permutation, triangles and
the BFM mean face at those vertices.

The definition is plain data (an ``.npz``) so inference needs no BFM. Coordinates of
predictions follow the order of ``vertex_ids``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DenseFaceError

DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_SET = "dense520"
REGION_NAMES = ("brow", "eye", "nose", "lips", "jaw", "cheek", "forehead")


@dataclass(frozen=True)
class LandmarkSet:
    """name: stable id, e.g. ``"dense520"``.
    vertex_ids (N,) BFM (53215-vertex, 3DDFA layout) vertex ids; the stable point ids are
    the positions 0..N-1 in this array.
    idx68 (68,) positions of the 68 iBUG landmarks within the N points.
    flip (N,) point i of a horizontally flipped face is point ``flip[i]`` of the original.
    triangles (T, 3) positions within the N points, for drawing and mesh export.
    region (N,) index into ``REGION_NAMES``.
    mean_shape (N, 3) the BFM mean face at the points, model units (y up, z towards the
    viewer); what head pose is measured against."""

    name: str
    vertex_ids: np.ndarray
    idx68: np.ndarray
    flip: np.ndarray
    triangles: np.ndarray
    region: np.ndarray
    info: dict
    mean_shape: np.ndarray

    @property
    def n_points(self) -> int:
        return len(self.vertex_ids)

    def region_mask(self, name: str) -> np.ndarray:
        return self.region == REGION_NAMES.index(name)

    def save(self, path: str | Path) -> None:
        from ..io.files import atomic_output

        with atomic_output(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, name=self.name, vertex_ids=self.vertex_ids, idx68=self.idx68,
                     flip=self.flip, triangles=self.triangles, region=self.region,
                     region_names=np.array(REGION_NAMES),
                     info_keys=np.array(list(self.info.keys())),
                     info_values=np.array([str(v) for v in self.info.values()]),
                     mean_shape=self.mean_shape.astype(np.float32))

    @classmethod
    def load(cls, path: str | Path) -> "LandmarkSet":
        path = Path(path)
        if not path.exists():
            raise DenseFaceError("landmark set file does not exist", path=path)
        try:
            d = np.load(path, allow_pickle=False)
            info = dict(zip(d["info_keys"].tolist(), d["info_values"].tolist()))
            s = cls(str(d["name"]), d["vertex_ids"].astype(np.int64), d["idx68"].astype(np.int64),
                    d["flip"].astype(np.int64), d["triangles"].astype(np.int32),
                    d["region"].astype(np.int8), info, d["mean_shape"].astype(np.float64))
        except DenseFaceError:
            raise
        except Exception as e:
            raise DenseFaceError(f"not a landmark set file ({type(e).__name__}: {e})", path=path) from None
        s.validate(path)
        return s

    def validate(self, path: str | Path | None = None) -> None:
        n = self.n_points
        ok = (self.idx68.shape == (68,) and self.flip.shape == (n,)
              and np.array_equal(np.sort(self.flip), np.arange(n))
              and self.idx68.min() >= 0 and self.idx68.max() < n
              and self.mean_shape.shape == (n, 3) and np.isfinite(self.mean_shape).all())
        if not ok:
            raise DenseFaceError("landmark set is inconsistent (idx68, flip or mean_shape)", path=path)


def load_landmark_set(name_or_path: str | Path = DEFAULT_SET) -> LandmarkSet:
    """A packaged set by name (``"dense520"``) or a set file by path."""
    p = Path(name_or_path)
    if p.suffix != ".npz":
        p = DATA_DIR / f"{name_or_path}.npz"
        if not p.exists():
            known = sorted(q.stem for q in DATA_DIR.glob("*.npz"))
            raise DenseFaceError(f"unknown landmark set '{name_or_path}' (known: {', '.join(known)})")
    return LandmarkSet.load(p)
