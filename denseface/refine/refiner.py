"""Refine a table of 3DMM fits (aflw_pl layout) with sparse human 2D landmarks.

Frames: fits map BFM model coordinates to crop pixels (x right, y down, z towards the viewer);
human points are crop pixels, NaN = not annotated. The output cameras keep the aflw_pl
convention that the mesh's smallest z is 0.

Per image status codes (``STATUS``): 0 refined; 1 too few usable points (initial fit kept);
2 the optimisation failed (non-finite, cost went up, or the mesh moved implausibly far;
initial fit kept); 3 the input fit itself holds NaN/inf (row kept as given, never
touched). ``doubtful`` flags every status but 0, and refined fits whose human points
still disagree (``residual_px``) or that moved far from the initial fit (``moved_px``).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import ConfigError, DenseFaceError
from ..mesh.bfm import mesh_min_z
from ..mesh.readers import FitTable
from .fitter import CAMERA_MODES, FitWeights, VertexData, fit_batch
from .mapping import LandmarkMapping, get_mapping

STATUS = {0: "refined", 1: "too few points (initial fit kept)", 2: "optimisation failed (initial fit kept)",
          3: "initial fit not finite (row kept as given)"}


@dataclass(frozen=True)
class RefineConfig:
    """Every knob of ``denseface data refine``; px are crop pixels."""

    mapping: str = "aflw21_fit"
    weights: FitWeights = field(default_factory=FitWeights)
    min_points: int = 5            # fewer usable human points: keep the initial fit, flag
    gate_px: float = 25.0          # drop a human point farther than this from the initial fit
    occlusion_cos: float = 0.5     # drop a point whose vertex faces away (normal . view < -this)
    anchor_stride: int = 24        # anchors: the 68 keypoints + every n-th dense520 vertex
    doubtful_residual_px: float = 3.5  # val: ~1.5 % of the images stay above it
    doubtful_move_px: float = 4.0      # val: < 1 % of the images move more
    max_move_px: float = 20.0      # a larger mean 68-point move counts as a failed fit
    batch_size: int = 1024

    def __post_init__(self) -> None:
        if self.weights.camera not in CAMERA_MODES:
            raise ConfigError(f"camera must be one of {CAMERA_MODES}, not {self.weights.camera!r}")
        if self.min_points < 1 or self.batch_size < 1 or self.weights.iterations < 1:
            raise ConfigError("min_points, batch_size and iterations must be positive")
        for name in ("huber_px", "anchor_weight", "prior_weight", "init_weight"):
            v = getattr(self.weights, name)
            if not np.isfinite(v) or v < 0 or (name == "huber_px" and v == 0):
                raise ConfigError(f"{name} must be a positive number, not {v}")

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class RefineResult:
    """The refined table and per-image diagnostics (row i = table row i)."""

    table: FitTable
    status: np.ndarray          # (N,) uint8, see STATUS
    doubtful: np.ndarray        # (N,) bool
    residual_px: np.ndarray     # (N,) mean distance of the used human points, final fit; NaN if none
    residual_init_px: np.ndarray  # (N,) the same under the initial fit
    n_points: np.ndarray        # (N,) human points used
    n_dropped: np.ndarray       # (N,) visible points dropped by the gates
    moved_px: np.ndarray        # (N,) mean 2D move of the 68 keypoints, initial -> final
    seconds: float = 0.0

    def extras(self) -> dict[str, np.ndarray]:
        """Arrays written next to the aflw_pl ones in the output labels.npz."""
        return dict(refine_status=self.status, doubtful=self.doubtful,
                    residual_px=self.residual_px.astype(np.float32),
                    residual_init_px=self.residual_init_px.astype(np.float32),
                    n_points=self.n_points.astype(np.int16), moved_px=self.moved_px.astype(np.float32))

    def summary(self) -> dict:
        refined = self.status == 0
        return {
            "images": int(len(self.status)),
            "refined": int(refined.sum()),
            "too_few_points": int((self.status == 1).sum()),
            "failed": int((self.status == 2).sum()),
            "input_not_finite": int((self.status == 3).sum()),
            "doubtful": int(self.doubtful.sum()),
            "points_dropped": int(self.n_dropped.sum()),
            "residual_init_px": float(np.nanmean(self.residual_init_px[refined])) if refined.any() else float("nan"),
            "residual_px": float(np.nanmean(self.residual_px[refined])) if refined.any() else float("nan"),
            "moved_px_mean": float(np.mean(self.moved_px[refined])) if refined.any() else float("nan"),
            "seconds": round(self.seconds, 1),
        }


def vertex_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Unit area-weighted vertex normals (V, 3) of a mesh, oriented with the face's front."""
    v = np.asarray(vertices, np.float64)
    tri = np.asarray(triangles, np.int64)
    fn = np.cross(v[tri[:, 1]] - v[tri[:, 0]], v[tri[:, 2]] - v[tri[:, 0]])
    n = np.zeros_like(v)
    for k in range(3):
        np.add.at(n, tri[:, k], fn)
    n /= np.linalg.norm(n, axis=1, keepdims=True).clip(1e-12)
    if n[np.argmax(v[:, 2]), 2] < 0:                 # the nose tip must face +z (the viewer)
        n = -n
    return n


def _project(V: VertexData, linear: np.ndarray, translation: np.ndarray, z: np.ndarray) -> np.ndarray:
    X = V.mean[None] + np.einsum("pdk,nk->npd", V.basis, z)
    return np.einsum("nij,npj->npi", linear[:, :2], X) + translation[:, None, :2]


class Refiner:
    """Holds the BFM-derived arrays for one mapping; :meth:`run` refines a FitTable."""

    def __init__(self, bfm, config: RefineConfig = RefineConfig(), mapping: LandmarkMapping | None = None,
                 dense_ids: np.ndarray | None = None):
        if bfm.shape_std is None or bfm.exp_std is None:
            raise DenseFaceError("the BFM has no coefficient std (param_whitening.pkl)", path=bfm.source)
        self.bfm, self.config = bfm, config
        self.mapping = mapping if mapping is not None else get_mapping(config.mapping, bfm)
        self.mapping.check(bfm.n_vertices)
        if dense_ids is None:
            from ..landmarks import load_landmark_set
            dense_ids = load_landmark_set().vertex_ids
        anchor_ids = np.unique(np.concatenate([bfm.keypoints68, np.asarray(dense_ids)[::config.anchor_stride]]))
        self.anchor_ids = anchor_ids
        self.G, self.point_ids = self.mapping.averaging_matrix()
        normals = vertex_normals(bfm.mean, bfm.triangles)
        pn = self.G @ normals[self.point_ids]
        self.point_normals = pn / np.linalg.norm(pn, axis=1, keepdims=True).clip(1e-12)

    def _vertex_data(self, ks: int, ke: int) -> tuple[VertexData, VertexData, VertexData, np.ndarray]:
        std = np.concatenate([self.bfm.shape_std[:ks], self.bfm.exp_std[:ke]]).astype(np.float64)
        pts = VertexData.from_bfm(self.bfm, self.G, self.point_ids, ks, ke, std)
        anc = VertexData.from_bfm(self.bfm, np.eye(len(self.anchor_ids)), self.anchor_ids, ks, ke, std)
        kp = self.bfm.keypoints68
        k68 = VertexData.from_bfm(self.bfm, np.eye(len(kp)), kp, ks, ke, std)
        return pts, anc, k68, std

    def usable_points(self, cameras: np.ndarray, init_points: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """(N, K) mask: annotated, facing the camera under the initial fit, within gate_px."""
        cfg = self.config
        seen = np.isfinite(targets).all(-1)
        L = np.asarray(cameras, np.float64)[:, :, :3]
        view = np.cross(L[:, 0], -L[:, 1])
        view /= np.linalg.norm(view, axis=1, keepdims=True).clip(1e-12)
        facing = np.einsum("kd,nd->nk", self.point_normals, view) >= -cfg.occlusion_cos
        err = np.linalg.norm(init_points - np.nan_to_num(targets), axis=-1)
        return seen & facing & (err <= cfg.gate_px)

    def _checked_targets(self, table: FitTable, points: np.ndarray | None) -> np.ndarray:
        """The target points (N, K, 2) as float64; DenseFaceError when they or the fits' sizes
        do not fit the mapping and the BFM."""
        targets = np.asarray(table.pts21 if points is None else points, np.float64)
        N, K = len(table), self.mapping.n_points
        if targets.shape != (N, K, 2):
            raise DenseFaceError(f"points are {targets.shape}, expected ({N}, {K}, 2) for mapping {self.mapping.name}")
        ks, ke = table.shape.shape[1], table.expression.shape[1]
        if ks > self.bfm.n_shape or ke > self.bfm.n_exp:
            raise DenseFaceError(f"fits have {ks}/{ke} coefficients, the BFM {self.bfm.n_shape}/{self.bfm.n_exp}")
        return targets

    def _fit_rows(self, todo: np.ndarray, pts, anc, start: tuple, fit_tgt: np.ndarray, fitted: tuple,
                  status: np.ndarray, progress: bool) -> None:
        """Fit the rows ``todo`` in batches from ``start`` (L0, t0, z0); write each fit that
        lowered its cost into ``fitted`` (L, t, z), mark the others failed (status 2)."""
        cfg, (L0, t0, z0), (L, t, z) = self.config, start, fitted
        batches = [todo[i:i + cfg.batch_size] for i in range(0, len(todo), cfg.batch_size)]
        if progress:
            from tqdm import tqdm
            batches = tqdm(batches, desc="refine", unit="batch")
        for b in batches:
            r = fit_batch(pts, anc, L0[b], t0[b], z0[b], fit_tgt[b], cfg.weights,
                          self.mapping.point_weights(cfg.weights.point_weight_power))
            ok = r.finite & (r.cost <= r.cost_init * (1 + 1e-9) + 1e-9)
            L[b[ok]], z[b[ok]] = r.linear[ok], r.z[ok]
            t[b[ok], :2] = r.translation[ok, :2]
            status[b[~ok]] = 2

    def run(self, table: FitTable, points: np.ndarray | None = None, progress: bool = False) -> RefineResult:
        """Refine every row of ``table`` with ``points`` (N, K, 2) (default: table.pts21)."""
        t_start = time.time()
        cfg = self.config
        targets = self._checked_targets(table, points)
        ks, ke = table.shape.shape[1], table.expression.shape[1]
        pts, anc, k68, std = self._vertex_data(ks, ke)
        cam0 = np.asarray(table.camera, np.float64)
        coef0 = np.concatenate([table.shape, table.expression], 1).astype(np.float64)
        input_ok = np.isfinite(cam0).all((1, 2)) & np.isfinite(coef0).all(1)
        cam0_safe = np.where(input_ok[:, None, None], cam0, np.eye(3, 4)[None])
        z0 = np.where(input_ok[:, None], coef0, 0.0) / std
        L0, t0 = cam0_safe[:, :, :3], cam0_safe[:, :, 3]
        init_pts = _project(pts, L0, t0, z0)
        usable = self.usable_points(cam0_safe, init_pts, targets) & input_ok[:, None]
        seen = np.isfinite(targets).all(-1)
        n_points = usable.sum(1)
        todo = np.flatnonzero((n_points >= cfg.min_points) & input_ok)

        L, t, z = L0.copy(), t0.copy(), z0.copy()
        status = np.where(n_points >= cfg.min_points, 0, 1).astype(np.uint8)
        status[~input_ok] = 3
        fit_tgt = np.where(usable[..., None], targets, np.nan)
        self._fit_rows(todo, pts, anc, (L0, t0, z0), fit_tgt, (L, t, z), status, progress)

        refined = status == 0
        # z: the aflw_pl convention (min z over the mesh is 0); unchanged rows keep theirs
        if refined.any():
            idx = np.flatnonzero(refined)
            t[idx, 2] = -mesh_min_z(self.bfm, L[idx, 2], z[idx, :ks] * std[:ks], z[idx, ks:] * std[ks:])

        k0 = _project(k68, L0, t0, z0)
        k1 = _project(k68, L, t, z)
        moved = np.linalg.norm(k1 - k0, axis=-1).mean(1)
        bad = refined & (~np.isfinite(moved) | (moved > cfg.max_move_px))
        L[bad], t[bad], z[bad] = L0[bad], t0[bad], z0[bad]
        status[bad] = 2
        moved[status != 0] = 0.0

        final_pts = _project(pts, L, t, z)

        def mean_err(p: np.ndarray) -> np.ndarray:
            e = np.where(usable, np.linalg.norm(p - np.nan_to_num(targets), axis=-1), np.nan)
            with np.errstate(invalid="ignore"):
                return np.where(n_points > 0, np.nansum(e, 1) / np.maximum(n_points, 1), np.nan)

        res, res0 = mean_err(final_pts), mean_err(init_pts)
        doubtful = (status != 0) | (res > cfg.doubtful_residual_px) | (moved > cfg.doubtful_move_px)

        camera = np.concatenate([L, t[:, :, None]], 2)
        camera[status != 0] = cam0[status != 0]
        coef = z * std
        coef[status != 0] = coef0[status != 0]
        out = FitTable(table.names, camera, coef[:, :ks], coef[:, ks:], table.pts21, table.yaw, table.roi_box)
        return RefineResult(out, status, doubtful, res, res0, n_points, (seen & ~usable).sum(1), moved,
                            seconds=time.time() - t_start)
