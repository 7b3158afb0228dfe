"""Closed-form initialisation of the regression head (ridge regression on frozen features).

With a trained backbone (the teacher's, or ImageNet's) a linear head fitted in closed form to
the train split's targets is already a good regressor (for the teacher's backbone it
reproduces the teacher), so fine-tuning starts from there instead of from a random head.
"""
from __future__ import annotations

import numpy as np
import torch

from ..data.augment import AugmentConfig
from ..data.dataset import LandmarkDataset, LoadedSplit
from ..models.regressor import DenseRegressor


@torch.inference_mode()
def pooled_features(model: DenseRegressor, dataset, batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Features (M, F) float64 and flattened targets (M, N * 3) of every item of ``dataset``
    (model in eval mode, no augmentation beyond the dataset's own)."""
    model.eval()
    feats, targets = [], []
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch, shuffle=False, num_workers=0)
    for x, y, _ in loader:
        feats.append(model.features(x.float()).double().numpy())
        targets.append(y.reshape(len(y), -1).double().numpy())
    return np.concatenate(feats), np.concatenate(targets)


def ridge_solve(F: np.ndarray, Y: np.ndarray, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """argmin_W,b |F W + b - Y|^2 + lam * M * |W|^2 (bias not penalised; ``lam`` per sample, so
    it does not depend on the number of rows). Returns W (F, K) and b (K,)."""
    mu_f, mu_y = F.mean(0), Y.mean(0)
    Fc, Yc = F - mu_f, Y - mu_y
    A = Fc.T @ Fc + lam * len(F) * np.eye(F.shape[1])
    W = np.linalg.solve(A, Fc.T @ Yc)
    return W, mu_y - mu_f @ W


def fit_ridge_head(model: DenseRegressor, split: LoadedSplit, flip: np.ndarray,
                   lam: float, flips: bool = True) -> dict:
    """Set the model's head to the ridge fit on ``split`` (each crop plus, with ``flips``, its
    mirror image through the points' permutation ``flip``), resized to the model's input
    without augmentation. Returns fit statistics (training RMSE in crop pixels)."""
    ds = LandmarkDataset(split, flip, model.config.input_size,
                         AugmentConfig(enabled=False), flip_double=flips)
    F, Y = pooled_features(model, ds)
    W, b = ridge_solve(F, Y, lam)
    head = model.head
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(W.T).to(head.weight.dtype))
        head.bias.copy_(torch.from_numpy(b).to(head.bias.dtype))
    resid = (F @ W + b - Y) * model.config.input_size
    return {"samples": len(F), "features": F.shape[1], "rmse_px": float(np.sqrt((resid ** 2).mean()))}
