"""Training targets: the landmark set's points from a fit, fast.

Targets are (N, 3) crop pixels: x right, y down, z towards the viewer on the same scale;
z keeps the fit's own offset (for aflw_pl, min z over
the whole mesh is 0)."""
from __future__ import annotations

import numpy as np

from ..mesh.bfm import BFM
from ..mesh.readers import FitTable


class TargetEncoder:
    """Precomputes the basis rows of a vertex subset, so a batch of targets is two matmuls."""

    def __init__(self, bfm: BFM, vertex_ids: np.ndarray):
        self.ids = np.asarray(vertex_ids, np.int64)
        self.mean = bfm.mean[self.ids].astype(np.float64)                  # (N, 3)
        self.shape_basis = bfm.shape_basis[self.ids].astype(np.float64)    # (N, 3, Ks)
        self.exp_basis = bfm.exp_basis[self.ids].astype(np.float64)        # (N, 3, Ke)

    def model_points(self, shape: np.ndarray, expression: np.ndarray) -> np.ndarray:
        """(B, Ks), (B, Ke) -> (B, N, 3) model coordinates."""
        shape = np.atleast_2d(shape)
        expression = np.atleast_2d(expression)
        ks, ke = shape.shape[1], expression.shape[1]
        return (self.mean[None] + np.einsum("nck,bk->bnc", self.shape_basis[..., :ks], shape)
                + np.einsum("nck,bk->bnc", self.exp_basis[..., :ke], expression))

    def points(self, camera: np.ndarray, shape: np.ndarray, expression: np.ndarray) -> np.ndarray:
        """(B, 3, 4) cameras -> (B, N, 3) pixels."""
        m = self.model_points(shape, expression)
        camera = np.asarray(camera, np.float64).reshape(-1, 3, 4)
        return np.einsum("bnk,bck->bnc", m, camera[:, :, :3]) + camera[:, None, :, 3]

    def table_points(self, table: FitTable, batch: int = 4096) -> np.ndarray:
        """Targets for every row of a fit table, (len, N, 3) float32."""
        out = np.empty((len(table), len(self.ids), 3), np.float32)
        for i in range(0, len(table), batch):
            sl = slice(i, i + batch)
            out[sl] = self.points(table.camera[sl], table.shape[sl], table.expression[sl])
        return out
