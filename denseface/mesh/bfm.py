"""Basel Face Model loading in the 3DDFA and face3d layouts.

Model coordinates: BFM units (micrometre-scale numbers), x to the subject's left
as seen by the camera (image right), y up, z towards the viewer. A :class:`Fit`'s
camera maps them to image pixels (y down).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DenseFaceError
from ..io.safe_pickle import load_arrays_pickle
from .fit import Fit


@dataclass(frozen=True)
class BFM:
    """A linear face model: ``mesh = mean + shape_basis @ a + exp_basis @ b``.

    Arrays:
      mean        (V, 3) float32, model coordinates (y up).
      shape_basis (V, 3, Ks) float32.
      exp_basis   (V, 3, Ke) float32.
      triangles   (T, 3) int32, 0-based vertex ids.
      keypoints68 (68,) int64 vertex ids of the 68 iBUG landmarks.
      uv          (V, 2) float32 texture coordinates in [0, 1] (u right, v up), or None.
      shape_std / exp_std  (Ks,), (Ke,) standard deviations of the coefficients, or None.
    """

    mean: np.ndarray
    shape_basis: np.ndarray
    exp_basis: np.ndarray
    triangles: np.ndarray
    keypoints68: np.ndarray
    uv: np.ndarray | None = None
    shape_std: np.ndarray | None = None
    exp_std: np.ndarray | None = None
    source: str = ""
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_vertices(self) -> int:
        return self.mean.shape[0]

    @property
    def n_shape(self) -> int:
        return self.shape_basis.shape[2]

    @property
    def n_exp(self) -> int:
        return self.exp_basis.shape[2]

    def model_vertices(self, shape: np.ndarray, expression: np.ndarray,
                       ids: np.ndarray | None = None) -> np.ndarray:
        """Mesh in model coordinates, (V, 3) or (len(ids), 3); coefficients may be shorter
        than the basis (the rest count as zero)."""
        shape = np.asarray(shape, np.float64).reshape(-1)
        expression = np.asarray(expression, np.float64).reshape(-1)
        if shape.size > self.n_shape or expression.size > self.n_exp:
            raise DenseFaceError(
                f"fit has {shape.size} shape / {expression.size} expression coefficients, "
                f"the model only {self.n_shape} / {self.n_exp}")
        sel = slice(None) if ids is None else ids
        v = self.mean[sel].astype(np.float64)
        if shape.size:
            v = v + self.shape_basis[sel][..., : shape.size] @ shape
        if expression.size:
            v = v + self.exp_basis[sel][..., : expression.size] @ expression
        return v

    def vertices(self, fit: Fit, ids: np.ndarray | None = None) -> np.ndarray:
        """Mesh in image pixels (x right, y down, z towards the viewer), float64 (N, 3)."""
        return fit.project(self.model_vertices(fit.shape, fit.expression, ids))

    def landmarks68(self, fit: Fit) -> np.ndarray:
        """The 68 landmark vertices in image pixels, (68, 3)."""
        return self.vertices(fit, self.keypoints68)

    def mirror_map(self) -> tuple[np.ndarray, np.ndarray]:
        """Left-right vertex permutation (nearest neighbour of the mirrored mean shape).

        Returns (perm, residual): vertex ``i`` mirrors to ``perm[i]``; ``residual[i]`` is the
        distance in model units between mirrored vertex i and vertex perm[i].
        """
        if "mirror" not in self._cache:
            from scipy.spatial import cKDTree

            m = self.mean.astype(np.float64)
            cx = 0.5 * (m[:, 0].min() + m[:, 0].max())
            mirrored = m.copy()
            mirrored[:, 0] = 2 * cx - mirrored[:, 0]
            dist, perm = cKDTree(m).query(mirrored)
            self._cache["mirror"] = (perm.astype(np.int64), dist)
        return self._cache["mirror"]


def _need(path: Path) -> Path:
    if not path.exists():
        raise DenseFaceError("missing BFM file", path=path)
    return path


def _loadmat(path: Path) -> dict:
    import scipy.io as sio

    try:
        return sio.loadmat(str(_need(path)))
    except DenseFaceError:
        raise
    except Exception as e:  # corrupt .mat
        raise DenseFaceError(f"cannot read .mat file ({type(e).__name__}: {e})", path=path) from None


def _check(cond: bool, problem: str, path: Path) -> None:
    if not cond:
        raise DenseFaceError(problem, path=path)


def load_bfm_3ddfa(folder: str | Path) -> BFM:
    """Load the 3DDFA layout: u_shp/u_exp (3V,1), w_shp_sim (3V,Ks), w_exp_sim (3V,Ke),
    xyz interleaved per vertex; tri.mat (1-based); keypoints_sim.npy; optional BFM_UV.mat
    and param_whitening.pkl."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DenseFaceError("BFM folder does not exist", path=folder)

    def npy(name: str) -> np.ndarray:
        p = _need(folder / name)
        try:
            return np.load(p)
        except Exception as e:
            raise DenseFaceError(f"cannot read .npy ({e})", path=p) from None

    u = npy("u_shp.npy").astype(np.float64) + npy("u_exp.npy").astype(np.float64)
    w_shp, w_exp = npy("w_shp_sim.npy"), npy("w_exp_sim.npy")
    n3 = u.size
    _check(n3 % 3 == 0, f"mean has {n3} values, not a multiple of 3", folder / "u_shp.npy")
    _check(w_shp.ndim == 2 and w_shp.shape[0] == n3,
           f"shape basis is {w_shp.shape}, expected ({n3}, K)", folder / "w_shp_sim.npy")
    _check(w_exp.ndim == 2 and w_exp.shape[0] == n3,
           f"expression basis is {w_exp.shape}, expected ({n3}, K)", folder / "w_exp_sim.npy")
    V = n3 // 3
    tri_mat = _loadmat(folder / "tri.mat")
    tri = next((v for k, v in tri_mat.items() if not k.startswith("__")), None)
    _check(tri is not None and tri.ndim == 2 and 3 in tri.shape, "no (3, T) triangle array",
           folder / "tri.mat")
    tri = (tri if tri.shape[1] == 3 else tri.T).astype(np.int64) - 1
    _check(tri.min() >= 0 and tri.max() < V, f"triangle ids outside 0..{V - 1}", folder / "tri.mat")
    kp = npy("keypoints_sim.npy").reshape(-1)
    _check(kp.size == 204 and kp.max() < n3, f"keypoints_sim has {kp.size} entries, expected 204",
           folder / "keypoints_sim.npy")
    uv = None
    if (folder / "BFM_UV.mat").exists():
        uvm = _loadmat(folder / "BFM_UV.mat")
        uv = np.asarray(uvm.get("UV"), np.float32)
        _check(uv.shape == (V, 2), f"UV is {uv.shape}, expected ({V}, 2)", folder / "BFM_UV.mat")
    shape_std = exp_std = None
    if (folder / "param_whitening.pkl").exists():
        wh = load_arrays_pickle(folder / "param_whitening.pkl")
        _check(isinstance(wh, dict) and "param_std" in wh, "no 'param_std' array",
               folder / "param_whitening.pkl")
        std = np.asarray(wh["param_std"], np.float64).reshape(-1)
        if std.size == 12 + w_shp.shape[1] + w_exp.shape[1]:
            shape_std, exp_std = std[12:12 + w_shp.shape[1]], std[12 + w_shp.shape[1]:]
    return BFM(
        mean=u.reshape(V, 3).astype(np.float32),
        shape_basis=w_shp.reshape(V, 3, -1).astype(np.float32),
        exp_basis=w_exp.reshape(V, 3, -1).astype(np.float32),
        triangles=tri.astype(np.int32),
        keypoints68=(kp[::3] // 3).astype(np.int64),
        uv=uv, shape_std=shape_std, exp_std=exp_std, source=str(folder),
    )


def mesh_min_z(bfm: "BFM", linear_z: np.ndarray, shapes: np.ndarray, exps: np.ndarray, chunk: int = 512) -> np.ndarray:
    """Smallest z over the whole mesh per fit: min over vertices of ``linear_z[i] @ vertex``,
    (N,) from the cameras' (N, 3) z rows and the fits' coefficients (N, ks), (N, ke). Used to
    put min z at 0, the aflw_pl convention."""
    ks, ke = shapes.shape[1], exps.shape[1]
    V = bfm.n_vertices
    basis = np.concatenate([bfm.shape_basis[..., :ks], bfm.exp_basis[..., :ke]], -1)   # (V,3,D)
    flat = basis.reshape(V, -1).astype(np.float32)                                       # (V, 3D)
    mean = bfm.mean.astype(np.float32)
    out = np.empty(len(linear_z))
    coef = np.concatenate([shapes, exps], 1)
    for i in range(0, len(linear_z), chunk):
        l = np.asarray(linear_z[i:i + chunk], np.float64)
        c = coef[i:i + chunk]
        outer = (l[:, :, None] * c[:, None, :]).reshape(len(l), -1).astype(np.float32)     # (n, 3D)
        z = mean @ l.T.astype(np.float32) + flat @ outer.T                                  # (V, n)
        out[i:i + chunk] = z.min(0)
    return out


def load_bfm_face3d(path: str | Path) -> BFM:
    """Load face3d's BFM.mat (struct 'model': shapeMU, shapePC (3V,199), shapeEV, expMU,
    expPC (3V,29), expEV, tri (T,3) 1-based, kpt_ind (68,) 1-based)."""
    path = Path(path)
    m = _loadmat(path)
    _check("model" in m, "no 'model' struct (face3d BFM.mat layout expected)", path)
    model = m["model"][0, 0]
    names = model.dtype.names or ()

    def get(key: str) -> np.ndarray:
        _check(key in names, f"model struct lacks '{key}'", path)
        return np.asarray(model[key])

    mu = get("shapeMU").astype(np.float64).reshape(-1) + get("expMU").astype(np.float64).reshape(-1)
    n3 = mu.size
    spc, epc = get("shapePC"), get("expPC")
    _check(spc.shape[0] == n3 and epc.shape[0] == n3,
           f"bases {spc.shape}/{epc.shape} disagree with mean ({n3},)", path)
    V = n3 // 3
    tri = get("tri").astype(np.int64)
    tri = (tri if tri.shape[1] == 3 else tri.T) - 1
    kp = get("kpt_ind").astype(np.int64).reshape(-1) - 1
    _check(kp.size == 68, f"kpt_ind has {kp.size} entries, expected 68", path)
    return BFM(
        mean=mu.reshape(V, 3).astype(np.float32),
        shape_basis=spc.reshape(V, 3, -1).astype(np.float32),
        exp_basis=epc.reshape(V, 3, -1).astype(np.float32),
        triangles=tri.astype(np.int32), keypoints68=kp,
        shape_std=np.sqrt(np.abs(get("shapeEV").reshape(-1))),
        exp_std=np.sqrt(np.abs(get("expEV").reshape(-1))), source=str(path),
    )


def load_bfm(path: str | Path | None = None) -> BFM:
    """Load a BFM from a 3DDFA-layout folder or a face3d BFM.mat; default: the shared one."""
    if path is None:
        from ..paths import default_bfm_dir

        path = default_bfm_dir()
    path = Path(path)
    if path.is_dir():
        return load_bfm_3ddfa(path)
    if path.suffix == ".mat":
        return load_bfm_face3d(path)
    raise DenseFaceError("not a BFM folder (3DDFA layout) or BFM.mat (face3d layout)", path=path)
