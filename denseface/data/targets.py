"""Training targets: the landmark set's points from a fit, fast.

Targets are (N, 3) crop pixels: x right, y down, z towards the viewer on the same scale;
z keeps the fit's own offset (for aflw_pl, min z over
the whole mesh is 0)."""
from __future__ import annotations

import numpy as np

from ..mesh.bfm import BFM
from ..mesh.readers import FitTable


class TargetEncoder:
    """Precomputes the basis rows of a vertex subset, so a batch of targets is one matmul for
    the model points plus one batched 3x3 matmul for the cameras."""

    def __init__(self, bfm: BFM, vertex_ids: np.ndarray):
        self.ids = np.asarray(vertex_ids, np.int64)
        n = len(self.ids)
        self.n_shape, self.n_exp = bfm.n_shape, bfm.n_exp
        self.mean = bfm.mean[self.ids].astype(np.float64)                  # (N, 3)
        self.shape_basis = bfm.shape_basis[self.ids].astype(np.float64)    # (N, 3, Ks)
        self.exp_basis = bfm.exp_basis[self.ids].astype(np.float64)        # (N, 3, Ke)
        # (Ks + Ke, N * 3): coefficients @ basis_t gives the flattened xyz offsets
        self.basis_t = np.ascontiguousarray(
            np.concatenate([self.shape_basis, self.exp_basis], axis=2).reshape(n * 3, -1).T)
        self.mean_flat = self.mean.reshape(-1)

    def _coefficients(self, shape: np.ndarray, expression: np.ndarray) -> np.ndarray:
        """(B, ks), (B, ke) with ks <= Ks, ke <= Ke -> (B, Ks + Ke), zero-padded."""
        shape = np.atleast_2d(np.asarray(shape, np.float64))
        expression = np.atleast_2d(np.asarray(expression, np.float64))
        ks, ke = shape.shape[1], expression.shape[1]
        if ks > self.n_shape or ke > self.n_exp:
            raise ValueError(f"{ks} shape / {ke} expression coefficients, the model has "
                             f"{self.n_shape} / {self.n_exp}")
        if ks == self.n_shape and ke == self.n_exp:
            return np.concatenate([shape, expression], axis=1)
        coef = np.zeros((max(len(shape), len(expression)), self.n_shape + self.n_exp))
        coef[:, :ks] = shape
        coef[:, self.n_shape:self.n_shape + ke] = expression
        return coef

    def model_points(self, shape: np.ndarray, expression: np.ndarray) -> np.ndarray:
        """(B, Ks), (B, Ke) -> (B, N, 3) model coordinates."""
        coef = self._coefficients(shape, expression)
        return (coef @ self.basis_t + self.mean_flat).reshape(len(coef), -1, 3)

    def points(self, camera: np.ndarray, shape: np.ndarray, expression: np.ndarray) -> np.ndarray:
        """(B, 3, 4) cameras -> (B, N, 3) pixels."""
        m = self.model_points(shape, expression)
        camera = np.asarray(camera, np.float64).reshape(-1, 3, 4)
        return np.matmul(m, camera[:, :, :3].transpose(0, 2, 1)) + camera[:, None, :, 3]

    def table_points(self, table: FitTable, batch: int = 1024) -> np.ndarray:
        """Targets for every row of a fit table, (len, N, 3) float32."""
        out = np.empty((len(table), len(self.ids), 3), np.float32)
        for i in range(0, len(table), batch):
            sl = slice(i, i + batch)
            out[sl] = self.points(table.camera[sl], table.shape[sl], table.expression[sl])
        return out
