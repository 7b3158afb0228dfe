"""A full BFM mesh from predicted dense 3D points (numpy only, no torch).

The 520 points a denseface model predicts are BFM vertices seen in the image, so the rest of the
mesh follows from a 3DMM fit to them. Per face this solves, over a 3x4 affine camera ``[A | t]``
and the whitened coefficients ``z = c / std`` (40 shape, 10 expression)::

    sum_i w_i |W (A (m_i + B_i z) + t - p_i)|^2  +  prior * |z|^2

p_i (N, 3) are the predicted points in image pixels (x right, y down, z towards the viewer; z has
an arbitrary offset, which t_z absorbs), m_i and B_i the BFM mean and the std-scaled bases at the
points' vertices, W = diag(1, 1, z_weight) and w_i fixed per-point weights (default 1). The prior
is the Tikhonov term of the refine fitter (denseface.refine.fitter) on the coefficients in units
of the BFM's std (``BFM.shape_std`` / ``exp_std``); the shape coefficients may have their own
weight (``shape_prior``: a stiffer identity leaves the expression to the expression components,
:data:`EXPRESSION_FIT`).

Solver. The problem is bilinear (camera x coefficients). It starts from the mean face and its
least-squares camera, then takes damped Gauss-Newton steps on all 12 + D unknowns jointly
(plain alternation, camera then coefficients, converges far more slowly on this problem: 30
alternations still leave a 0.2 px median error on noise-free points). Every quantity a step needs
is a moment of the points: ``sum_i w_i m_i m_i^T``, ``sum_i w_i m_i B_i``, ``sum_i w_i B_i[j]^T
B_i[k]``, ... depend only on the BFM and the point set and are computed once in
:class:`PointFitter`; the moments involving the points (``sum_i w_i p_i m_i^T``, ``sum_i w_i p_i
B_i``) are computed once per face. A step then costs O(D^2), independent of N.

Scale. The data term is measured in *normalised pixels*: the points are shifted to their centroid
and scaled so that the sqrt(w*h) of their 2D box is :data:`REF_SIZE` (100) before fitting, so
``prior`` means the same for a face of 60 or 600 pixels.

Output: a :class:`denseface.mesh.fit.Fit` whose camera maps model coordinates to the *image
pixels of the input points* (same frame, z on the same scale with the same offset), and the full
53215-vertex mesh through :meth:`PointFitter.mesh` (BFM mean + bases: one (D,) x (D, 3V) float32
product, the cost that dominates: about 1.5-3 ms on one core).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .fit import Fit

#: The points' 2D box size sqrt(w*h) the data term is measured at (normalised pixels).
REF_SIZE = 100.0


@dataclass(frozen=True)
class PointFitConfig:
    """prior: Tikhonov weight on |c / std|^2 (normalised px^2 units, see the module docstring);
    shape_prior: the weight on the shape coefficients' part (None: ``prior``);
    iterations: Gauss-Newton steps at most; z_weight: weight of the z residual relative to x and
    y; n_shape / n_exp: coefficients fitted (at most the BFM's)."""

    prior: float = 0.1
    iterations: int = 8
    z_weight: float = 1.0
    n_shape: int = 40
    n_exp: int = 10
    shape_prior: float | None = None

    def __post_init__(self) -> None:
        if self.prior < 0 or self.iterations < 1 or self.z_weight < 0 or (self.shape_prior or 0) < 0:
            raise ValueError("prior, shape_prior and z_weight must be >= 0 and iterations >= 1")


#: The fit ``Face.expression`` comes from (denseface.infer): much stiffer than the default's, on
#: the shape (shape_prior 100) and the expression (prior 30) alike, chosen on aflw_pl val by the
#: expression displacement error against its fits (benchmarks/bench_expression.py, the sweep in
#: benchmarks/results/expression.json): with the default fit's free identity part of an
#: expression is fitted as the face's shape, and the coefficients the points hardly determine
#: are kept near the neutral face instead of following the points' noise.
EXPRESSION_FIT = PointFitConfig(prior=30.0, shape_prior=100.0)


@dataclass(frozen=True)
class _Moments:
    """Per-face moments of the normalised points q_i: sum w q (3,), sum w q m^T (3, 3),
    QB[r, k] = sum w q[r] B[k] (3, 3, D), sum w q^T W^2 q."""

    sq: np.ndarray
    Qm: np.ndarray
    QB: np.ndarray
    qq: float


@dataclass(frozen=True)
class PointFitResult:
    """fit: camera to the input frame plus coefficients; rms_px: RMS 3D residual over the points
    (input pixels, z weighted as in the fit); iterations: Gauss-Newton steps taken."""

    fit: Fit
    rms_px: float
    iterations: int


class PointFitter:
    """Everything that depends only on the BFM and the point set, computed once.

    bfm: a denseface.mesh.BFM with shape_std / exp_std; vertex_ids (N,) the points' BFM vertex
    ids (``LandmarkSet.vertex_ids``); point_weights (N,) optional fixed weights (default 1)."""

    def __init__(self, bfm, vertex_ids: np.ndarray, config: PointFitConfig = PointFitConfig(),
                 point_weights: np.ndarray | None = None):
        if bfm.shape_std is None or bfm.exp_std is None:
            raise ValueError("the BFM has no coefficient std (param_whitening.pkl) for the prior")
        ks, ke = min(config.n_shape, bfm.n_shape), min(config.n_exp, bfm.n_exp)
        self.config = config
        self.bfm = bfm
        self.n_shape, self.n_exp = ks, ke
        self.vertex_ids = np.asarray(vertex_ids, np.int64)
        n = len(self.vertex_ids)
        self.std = np.concatenate([np.asarray(bfm.shape_std[:ks], np.float64),
                                   np.asarray(bfm.exp_std[:ke], np.float64)])
        self.mean = bfm.mean[self.vertex_ids].astype(np.float64)                       # (N, 3)
        basis = np.concatenate([bfm.shape_basis[self.vertex_ids][..., :ks],
                                bfm.exp_basis[self.vertex_ids][..., :ke]], -1).astype(np.float64)
        self.basis = basis * self.std                                                    # (N, 3, D)
        w = np.ones(n) if point_weights is None else np.asarray(point_weights, np.float64)
        if w.shape != (n,) or (w < 0).any() or w.sum() <= 0:
            raise ValueError(f"point_weights must be ({n},) non-negative, not all zero")
        self.w = w
        m, B = self.mean, self.basis
        self.sw = float(w.sum())
        self.sm = w @ m                                                   # (3,)
        self.Smm = m.T @ (w[:, None] * m)                                 # (3, 3)
        self.sB = np.einsum("i,ikd->kd", w, B)                            # (3, D)
        self.Pm = np.einsum("i,ic,ikd->ckd", w, m, B, optimize=True)      # (3, 3, D)
        self.M = np.einsum("i,ijd,ike->jkde", w, B, B, optimize=True)     # (3, 3, D, D)
        self.wB = w[:, None, None] * B                                    # for the per-face moments
        self.W2 = np.array([1.0, 1.0, config.z_weight ** 2])
        shape_prior = config.prior if config.shape_prior is None else config.shape_prior
        self.prior = np.concatenate([np.full(ks, shape_prior), np.full(ke, config.prior)])   # (D,)
        self._full = None    # (D, 3V) float32 bases for the full mesh, built on first use

    # ---------------------------------------------------------------- fitting
    def fit(self, points: np.ndarray) -> PointFitResult:
        """Fit to (N, 3) points in image pixels; see the module docstring."""
        P = np.asarray(points, np.float64)
        if P.shape != self.mean.shape:
            raise ValueError(f"points must be {self.mean.shape}, got {P.shape}")
        if not np.isfinite(P).all():
            raise ValueError("points hold NaN or inf")
        cfg = self.config
        centre = P.mean(0)
        wh = P[:, :2].max(0) - P[:, :2].min(0)
        k = REF_SIZE / float(np.sqrt(max(wh[0] * wh[1], 1e-12)))
        Q = (P - centre) * k                                            # normalised pixels
        wq = self.w[:, None] * Q
        mom = _Moments(sq=wq.sum(0), Qm=wq.T @ self.mean,
                       QB=np.einsum("ir,ikd->rkd", wq, self.basis, optimize=True),
                       qq=float(np.sum(wq * Q * self.W2)))
        D = len(self.std)
        z = np.zeros(D)
        A, t = self._camera(z, mom)
        cost = self._cost(A, t, z, mom)
        mu = 1e-4
        it = 0
        for it in range(1, cfg.iterations + 1):
            H, g = self._normal_equations(A, t, z, mom)
            scale = np.diag(H).copy()
            improved = False
            for _ in range(6):                          # Levenberg-Marquardt damping
                step = np.linalg.solve(H + mu * np.diag(scale + 1e-9), -g)
                A2 = A + step[:9].reshape(3, 3)
                t2, z2 = t + step[9:12], z + step[12:]
                c2 = self._cost(A2, t2, z2, mom)
                if c2 <= cost:
                    improved = True
                    rel = (cost - c2) / max(cost, 1e-12)
                    A, t, z, cost = A2, t2, z2, c2
                    mu = max(mu / 10.0, 1e-9)
                    break
                mu *= 10.0
            if not improved or rel < 1e-10:
                break
        rms = float(np.sqrt(max(cost - z @ (self.prior * z), 0.0) / (self.sw * 3))) / k
        cam = np.concatenate([A / k, (t / k + centre)[:, None]], 1)
        c = z * self.std
        return PointFitResult(Fit(cam, c[:self.n_shape], c[self.n_shape:]), rms, it)

    def _sums(self, z: np.ndarray, mom: _Moments):
        """sum w X X^T (3, 3), sum w X (3,), sum w q X^T (3, 3), T[c, k] = sum w X[c] B[k] (3, 3, D)."""
        Pz = self.Pm @ z                                                  # (3, 3): sum w m[c] (B z)[k]
        T = self.Pm + np.einsum("ckde,d->cke", self.M, z)                 # (3, 3, D)
        Sxx = self.Smm + Pz.T + T @ z                                     # T @ z = Pz + z M z
        sx = self.sm + self.sB @ z
        QX = mom.Qm + mom.QB @ z
        return Sxx, sx, QX, T

    def _cost(self, A, t, z, mom) -> float:
        Sxx, sx, QX, _ = self._sums(z, mom)
        W2 = self.W2
        data = (np.sum(W2[:, None] * (A @ Sxx) * A) + 2.0 * (W2 * t) @ (A @ sx) + self.sw * np.sum(W2 * t * t)
                - 2.0 * np.sum(W2[:, None] * A * QX) - 2.0 * (W2 * t) @ mom.sq + mom.qq)
        return float(data + z @ (self.prior * z))

    def _camera(self, z, mom) -> tuple[np.ndarray, np.ndarray]:
        """The least-squares camera for fixed coefficients."""
        Sxx, sx, QX, _ = self._sums(z, mom)
        mx, mq = sx / self.sw, mom.sq / self.sw
        C = Sxx - self.sw * np.outer(mx, mx)
        R = QX - self.sw * np.outer(mq, mx)
        A = np.linalg.solve(C, R.T).T
        return A, mq - A @ mx

    def _normal_equations(self, A, t, z, mom) -> tuple[np.ndarray, np.ndarray]:
        """Gauss-Newton H (12 + D square) and gradient over (vec A row-major, t, z), half scale."""
        Sxx, sx, QX, T = self._sums(z, mom)
        W2 = self.W2
        D = len(z)
        n = 12 + D
        H = np.zeros((n, n))
        g = np.zeros(n)
        for r in range(3):
            sl = slice(3 * r, 3 * r + 3)
            H[sl, sl] = W2[r] * Sxx
            H[sl, 9 + r] = W2[r] * sx
            H[9 + r, sl] = W2[r] * sx
            H[9 + r, 9 + r] = W2[r] * self.sw
        AT = np.einsum("rk,ckd->rcd", A, T)                               # (3, 3, D)
        H_az = (W2[:, None, None] * AT).reshape(9, D)
        H_tz = W2[:, None] * (A @ self.sB)                                # (3, D)
        G = A.T @ (W2[:, None] * A)
        H_zz = np.tensordot(G, self.M, axes=([0, 1], [0, 1])) + np.diag(self.prior)
        H[:9, 12:], H[12:, :9] = H_az, H_az.T
        H[9:12, 12:], H[12:, 9:12] = H_tz, H_tz.T
        H[12:, 12:] = H_zz
        E = A @ Sxx + np.outer(t, sx) - QX                                # sum w e X^T (3, 3)
        g[:9] = (W2[:, None] * E).reshape(-1)
        g[9:12] = W2 * (A @ sx + self.sw * t - mom.sq)
        WA = W2[:, None] * A
        g[12:] = (np.einsum("kc,ckd->d", G, T) + (WA.T @ t) @ self.sB
                  - np.einsum("rk,rkd->d", WA, mom.QB) + self.prior * z)
        return H, g

    # ---------------------------------------------------------------- full mesh
    def _full_basis(self) -> tuple[np.ndarray, np.ndarray]:
        if self._full is None:
            b = self.bfm
            B = np.concatenate([b.shape_basis[..., :self.n_shape], b.exp_basis[..., :self.n_exp]], -1)
            flat = B.reshape(-1, B.shape[-1])                                          # (3V, D)
            self._full = (np.ascontiguousarray(flat.T, dtype=np.float32),
                          b.mean.reshape(-1).astype(np.float32))
        return self._full

    def mesh(self, fit: Fit) -> np.ndarray:
        """The fit's full mesh (V, 3) float64 in the fit's (input) pixel frame."""
        basis_t, mean = self._full_basis()
        c = np.concatenate([np.asarray(fit.shape, np.float64), np.asarray(fit.expression, np.float64)])
        if c.size != basis_t.shape[0]:
            c = np.concatenate([np.pad(fit.shape, (0, self.n_shape - fit.shape.size)),
                                np.pad(fit.expression, (0, self.n_exp - fit.expression.size))])
        X = (mean + c.astype(np.float32) @ basis_t).reshape(-1, 3)                   # float32
        cam = fit.camera
        return X @ cam[:, :3].T.astype(np.float32) + cam[:, 3].astype(np.float32)

    def fit_mesh(self, points: np.ndarray) -> tuple[np.ndarray, PointFitResult]:
        """(V, 3) full mesh in the points' frame and the fit."""
        r = self.fit(points)
        return self.mesh(r.fit).astype(np.float64), r


def point_fitter(bfm, landmark_set, config: PointFitConfig | None = None) -> PointFitter:
    """The :class:`PointFitter` of a landmark set (anything with ``name`` and ``vertex_ids``,
    e.g. denseface.landmarks.LandmarkSet) on ``bfm``, built once and cached on the BFM."""
    cfg = config or PointFitConfig()
    key = ("point_fitter", landmark_set.name, cfg)
    if key not in bfm._cache:
        bfm._cache[key] = PointFitter(bfm, landmark_set.vertex_ids, cfg)
    return bfm._cache[key]


def fit_points(points: np.ndarray, bfm, landmark_set, config: PointFitConfig | None = None) -> Fit:
    """The BFM fit (camera to the points' image frame, 40 + 10 coefficients) of (N, 3) points."""
    return point_fitter(bfm, landmark_set, config).fit(points).fit


def full_mesh(points: np.ndarray, bfm, landmark_set, config: PointFitConfig | None = None) -> np.ndarray:
    """The full BFM mesh (53215, 3) in image pixels fitted to predicted (520, 3) points (same frame
    and z offset as the points). ``bfm``: a loaded denseface.mesh.BFM (its folder is never shipped;
    load it with ``denseface.mesh.load_bfm(path)``)."""
    return point_fitter(bfm, landmark_set, config).fit_mesh(points)[0]
