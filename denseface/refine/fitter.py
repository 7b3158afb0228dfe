"""Batched robust 3DMM fitting to sparse 2D landmarks (Levenberg-Marquardt, analytic Jacobian).

Per image the fit minimises, over camera pose/scale/translation and the shape and expression
coefficients (in units of the bases' std, ``z = c / std``)::

    sum_j w_j huber(|p_j - h_j|)                  human points h_j (crop px), visible only
  + anchor_weight * mean_a |p_a - p0_a|^2         the initial fit's projection of anchor vertices
  + prior_weight * |z|^2                          the 3DMM prior (bases' std)
  + init_weight * |z - z0|^2                      closeness to the initial coefficients

``huber(e) = e^2`` for ``e <= huber_px`` and ``2 huber_px e - huber_px^2`` beyond (px^2);
``w_j`` weighs noisy points down (``point_weight_power``, the mapping's ``sigma_px``).
The anchors are the 68 keypoints and a few of the dense 520 vertices, placed where the initial
fit projects them. The weights were chosen on aflw_pl val by leave-points-out (docs/refinement.md).
The camera is ``pixels = L @ model + t`` with ``L = e^ls * L_base @ exp([w]x)``: a model-space
rotation and a scale applied to a base 3x3 matrix. ``camera="similarity"`` starts from the
nearest scaled rotation to the initial camera (``L_base = s * diag(1, -1, 1) @ R``, scaled
orthographic, as 3DDFA's cameras are meant to be); ``camera="affine"`` keeps the initial
camera's affine linear part and only rotates/scales the model under it. Frames: model
coordinates (BFM, y up) -> crop pixels (x right, y down, z towards the viewer).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CAMERA_MODES = ("similarity", "affine")


@dataclass(frozen=True)
class FitWeights:
    """Weights of the objective (see the module docstring); px units."""

    huber_px: float = 3.0
    anchor_weight: float = 5.0
    prior_weight: float = 0.1
    init_weight: float = 0.0
    camera: str = "similarity"
    point_weight_power: float = 1.0   # human point j weighs (sigma_j^-2 / mean)^power (mapping.sigma_px)
    iterations: int = 10
    threads: int = 1    # torch CPU threads; 1 is fastest on a shared 2-core machine
    single_precision: bool = True     # float32: 3x faster, refined points within 0.001 px of float64


@dataclass
class VertexData:
    """Model-space points as ``mean + basis @ z``: mean (P, 3), basis (P, 3, Ks+Ke) scaled by std."""

    mean: np.ndarray
    basis: np.ndarray

    @classmethod
    def from_bfm(cls, bfm, averaging: np.ndarray, vertex_ids: np.ndarray, n_shape: int, n_exp: int,
                 std: np.ndarray) -> "VertexData":
        """Points = averaging (P, U) @ vertices[vertex_ids (U,)]; std (Ks+Ke,) coefficient std."""
        ids = np.asarray(vertex_ids, np.int64)
        mean = np.einsum("pu,ud->pd", averaging, bfm.mean[ids].astype(np.float64))
        basis = np.concatenate([bfm.shape_basis[ids][..., :n_shape], bfm.exp_basis[ids][..., :n_exp]], -1)
        basis = np.einsum("pu,udk->pdk", averaging, basis.astype(np.float64)) * std
        return cls(mean, basis)


def nearest_similarity(linear: np.ndarray) -> np.ndarray:
    """(N, 3, 3) affine linear parts (rows x, y-down, z) -> nearest ``s * diag(1,-1,1) @ R``.

    R's first two rows are the orthonormal polar factor of the x and (un-flipped) y rows, its
    third their cross product; s is the mean singular value of the 2x3 part."""
    A = np.asarray(linear, np.float64)
    M = np.stack([A[:, 0], -A[:, 1]], 1)                     # (N, 2, 3), y up
    U, S, Vt = np.linalg.svd(M, full_matrices=False)
    R2 = U @ Vt
    r3 = np.cross(R2[:, 0], R2[:, 1])
    s = S.mean(1)
    return s[:, None, None] * np.stack([R2[:, 0], -R2[:, 1], r3], 1)


def _skew(v):
    """(..., 3) -> (..., 3, 3) with skew(v) @ u = v x u."""
    import torch

    z = torch.zeros_like(v[..., 0])
    return torch.stack([torch.stack([z, -v[..., 2], v[..., 1]], -1),
                        torch.stack([v[..., 2], z, -v[..., 0]], -1),
                        torch.stack([-v[..., 1], v[..., 0], z], -1)], -2)


def _rodrigues(w):
    """(..., 3) axis-angle -> (..., 3, 3) rotation."""
    import torch

    theta = torch.linalg.norm(w, dim=-1, keepdim=True)[..., None]          # (..., 1, 1)
    K = _skew(w)
    small = theta < 1e-8
    safe = torch.where(small, torch.ones_like(theta), theta)
    a = torch.where(small, 1.0 - theta ** 2 / 6.0, torch.sin(safe) / safe)
    b = torch.where(small, 0.5 - theta ** 2 / 24.0, (1.0 - torch.cos(safe)) / safe ** 2)
    eye = torch.eye(3, dtype=w.dtype).expand(K.shape)
    return eye + a * K + b * (K @ K)


def _huber_cost(err, delta: float):
    """Huber on distances (px) in px^2: e^2 inside, 2 delta e - delta^2 outside."""
    import torch

    return torch.where(err <= delta, err ** 2, 2.0 * delta * err - delta ** 2)


@dataclass
class FitResult:
    """linear (N,3,3), translation (N,3) with z = 0 (set later), z (N, Ks+Ke) coefficients/std,
    cost_init / cost (N,) objective values, finite (N,) whether the optimisation stayed finite."""

    linear: np.ndarray
    translation: np.ndarray
    z: np.ndarray
    cost_init: np.ndarray
    cost: np.ndarray
    finite: np.ndarray


def fit_batch(points: VertexData, anchors: VertexData, linear0: np.ndarray, translation0: np.ndarray,
              z0: np.ndarray, targets: np.ndarray, weights: FitWeights,
              point_weights: np.ndarray | None = None) -> FitResult:
    """Fit one batch.

    points: the mapped landmark points (K); anchors: A anchor points; linear0 (N,3,3) and
    translation0 (N,3): the initial cameras; z0 (N, D) initial coefficients / std;
    targets (N, K, 2) human points in crop px, NaN = unused; point_weights (K,) multiply each
    human point's Huber cost (default 1).
    """
    import torch

    if weights.camera not in CAMERA_MODES:
        raise ValueError(f"camera must be one of {CAMERA_MODES}")
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, weights.threads))
    try:
        return _fit_batch(points, anchors, linear0, translation0, z0, targets, weights, point_weights)
    finally:
        torch.set_num_threads(threads)


def _fit_batch(points: VertexData, anchors: VertexData, linear0: np.ndarray, translation0: np.ndarray,
               z0: np.ndarray, targets: np.ndarray, weights: FitWeights,
               point_weights: np.ndarray | None) -> FitResult:
    """Damped Gauss-Newton (Levenberg-Marquardt per face) on :class:`_BatchProblem`; a face
    stops when its cost no longer falls."""
    import torch

    pb = _BatchProblem(points, anchors, linear0, translation0, z0, targets, weights, point_weights)
    Lb, tb, Z = pb.start()
    N, dt = pb.Z0.shape[0], pb.dt
    cost, parts = pb.cost_of(Lb, tb, Z)
    cost_init = cost.clone()
    mu = torch.full((N,), 1e-3, dtype=dt)
    active = torch.ones(N, dtype=torch.bool)
    for _ in range(weights.iterations):
        Lb_new, tb_new, Z_new = pb.step(Lb, tb, Z, parts, mu)
        cost_new, parts_new = pb.cost_of(Lb_new, tb_new, Z_new)
        better = torch.isfinite(cost_new) & (cost_new < cost) & active
        rel = (cost - cost_new) / cost.clamp_min(1e-12)
        Lb = torch.where(better[:, None, None], Lb_new, Lb)
        tb = torch.where(better[:, None], tb_new, tb)
        Z = torch.where(better[:, None], Z_new, Z)
        cost = torch.where(better, cost_new, cost)
        parts = tuple(torch.where(better.view(-1, *([1] * (a.dim() - 1))), b, a)
                      for a, b in zip(parts, parts_new))
        mu = torch.where(better, mu / 3.0, mu * 4.0).clamp(1e-9, 1e9)
        active = active & ~(better & (rel < 1e-7)) & (mu < 1e8)
        if not bool(active.any()):
            break
    translation = torch.cat([tb, torch.zeros(N, 1, dtype=dt)], 1)
    finite = torch.isfinite(Lb).all((1, 2)) & torch.isfinite(tb).all(1) & torch.isfinite(Z).all(1)
    return FitResult(Lb.numpy(), translation.numpy(), Z.numpy(), cost_init.numpy(), cost.numpy(),
                     finite.numpy())


class _BatchProblem:
    """The fixed tensors of one batch fit: every point (the K human points, then the A anchors)
    with its model-space mean and basis, its 2D target (the human points; the anchors' initial
    projection, the "teacher" the fit stays close to), and the weights of the objective."""

    def __init__(self, points: VertexData, anchors: VertexData, linear0: np.ndarray,
                 translation0: np.ndarray, z0: np.ndarray, targets: np.ndarray, weights: FitWeights,
                 point_weights: np.ndarray | None):
        import torch

        self.torch, self.weights = torch, weights
        self.dt = dt = torch.float32 if weights.single_precision else torch.float64
        T = lambda a: torch.as_tensor(np.asarray(a), dtype=dt)  # noqa: E731
        self.T = T
        mh, Bh, ma, Ba = T(points.mean), T(points.basis), T(anchors.mean), T(anchors.basis)
        self.linear0, self.L0, self.t0, self.Z0 = linear0, T(linear0), T(translation0), T(z0)
        H = T(np.nan_to_num(targets))
        vis = torch.as_tensor(np.isfinite(targets).all(-1))
        pw = T(np.ones(targets.shape[1]) if point_weights is None else point_weights)
        self.visf = vis.to(dt) * pw
        N, D = self.Z0.shape
        A = ma.shape[0]
        # the anchors' initial projection: the "teacher" the fit stays close to
        self.Xa0 = ma + (Ba @ self.Z0.T).permute(2, 0, 1)
        self.Ya = self.Xa0 @ self.L0[:, :2].transpose(1, 2) + self.t0[:, None, :2]
        self.lam_a = weights.anchor_weight / A
        self.delta = weights.huber_px
        self.K = K = mh.shape[0]
        self.P = P = K + A
        self.D = D
        self.m_all = torch.cat([mh, ma], 0)                                  # (P, 3)
        self.B_all = torch.cat([Bh, Ba], 0)                                  # (P, 3, D)
        self.B_flat = self.B_all.permute(1, 0, 2).reshape(3, P * D)          # (3, P*D)
        self.Y_all = torch.cat([H, self.Ya], 1)                              # (N, P, 2)
        self.anchor_w = torch.full((N, A), self.lam_a, dtype=dt)
        self.reg_diag = torch.zeros(6 + D, dtype=dt)
        self.reg_diag[6:] = weights.prior_weight + weights.init_weight

    def start(self):
        """The first camera (linear part, 2D translation) and coefficients."""
        if self.weights.camera == "similarity":
            Lb = self.T(nearest_similarity(self.linear0))
            # translation: least squares on the anchors with the similarity camera
            tb = (self.Ya - self.Xa0 @ Lb[:, :2].transpose(1, 2)).mean(1)
        else:
            Lb = self.L0.clone()
            tb = self.t0[:, :2].clone()
        return Lb, tb, self.Z0.clone()

    def project(self, Lb, tb, Z):
        X = self.m_all + (self.B_all @ Z.T).permute(2, 0, 1)                 # (N, P, 3)
        p = X @ Lb[:, :2].transpose(1, 2) + tb[:, None]                      # (N, P, 2)
        return X, p

    def cost_of(self, Lb, tb, Z):
        w, K = self.weights, self.K
        X, p = self.project(Lb, tb, Z)
        e = self.torch.linalg.norm(p - self.Y_all, dim=-1)                   # (N, P)
        c = (_huber_cost(e[:, :K], self.delta) * self.visf).sum(1) + self.lam_a * (e[:, K:] ** 2).sum(1)
        c = c + w.prior_weight * (Z ** 2).sum(1) + w.init_weight * ((Z - self.Z0) ** 2).sum(1)
        return c, (X, p, e)

    def jacobian(self, Lb, X):
        """d p / d (w, ls, t, z) at the current point: (N, P*2, 6 + D), rows (point, x/y)."""
        torch, P, D = self.torch, self.P, self.D
        n = X.shape[0]
        L2 = Lb[:, :2]                                                       # (n, 2, 3)
        Jw = torch.stack([torch.linalg.cross(X, L2[:, i, None].expand_as(X), dim=-1) for i in range(2)], 2)
        Jls = (X @ L2.transpose(1, 2))[..., None]                            # (n, P, 2, 1)
        Jt = torch.eye(2, dtype=self.dt).expand(n, P, 2, 2)
        Jz = (L2 @ self.B_flat).view(n, 2, P, D).permute(0, 2, 1, 3)         # (n, P, 2, D)
        return torch.cat([Jw, Jls, Jt, Jz], -1).reshape(n, P * 2, 6 + D)

    def step(self, Lb, tb, Z, parts, mu):
        """One damped Gauss-Newton step from the current point (IRLS weights of the Huber loss
        per human point; anchors weigh lam_a) -> the candidate (Lb, tb, Z)."""
        torch, w, K, P = self.torch, self.weights, self.K, self.P
        N, n_par = self.Z0.shape[0], 6 + self.D
        X, p, e = parts
        wh = torch.where(e[:, :K] <= self.delta, torch.ones_like(e[:, :K]),
                         self.delta / e[:, :K].clamp_min(1e-12)) * self.visf
        wt = torch.cat([wh, self.anchor_w], 1).repeat_interleave(2, dim=1)   # (N, P*2)
        J = self.jacobian(Lb, X)
        r = (p - self.Y_all).reshape(N, P * 2)
        Jw_ = J * wt[..., None]
        Hm = Jw_.transpose(1, 2) @ J
        g = (Jw_.transpose(1, 2) @ r[..., None])[..., 0]
        g[:, 6:] += w.prior_weight * Z + w.init_weight * (Z - self.Z0)
        Hm = Hm + torch.diag_embed(self.reg_diag.expand(N, n_par))
        damp = mu[:, None] * (torch.diagonal(Hm, dim1=1, dim2=2) + 1e-6)
        step = -torch.linalg.solve(Hm + torch.diag_embed(damp), g[..., None])[..., 0]
        step = torch.nan_to_num(step, nan=0.0, posinf=0.0, neginf=0.0)
        dw, dls, dtr, dz = step[:, :3], step[:, 3], step[:, 4:6], step[:, 6:]
        return torch.exp(dls)[:, None, None] * (Lb @ _rodrigues(dw)), tb + dtr, Z + dz
