"""Landmark losses on normalised coordinates, measured in pixels at a reference crop size.

Predictions and targets are (B, N, 3) normalised crop coordinates (``p / S - 0.5``). Each loss
first converts the error to pixels of a ``ref_size`` crop, so ``w`` and ``epsilon`` of the Wing
loss are in pixels at that size (the paper: w=15, epsilon=3 at 256 px), whatever the input size.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Literal

import torch
import torch.nn as nn

from annotated_types import Ge, Gt

from .errors import ConfigError


class WingLoss(nn.Module):
    """Wing loss (Feng et al. 2018): w*ln(1+|x|/eps) for |x|<w, else |x|-C. x in ref pixels."""

    def __init__(self, w: float = 15.0, epsilon: float = 3.0, ref_size: float = 256.0):
        super().__init__()
        self.w, self.epsilon, self.ref_size = w, epsilon, ref_size
        self.C = w - w * math.log(1 + w / epsilon)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        x = (pred - target).abs() * self.ref_size
        return torch.where(x < self.w, self.w * torch.log1p(x / self.epsilon), x - self.C).mean()


class PixelL1(nn.Module):
    def __init__(self, ref_size: float = 256.0):
        super().__init__()
        self.ref_size = ref_size

    def forward(self, pred, target):
        return ((pred - target).abs() * self.ref_size).mean()


class PixelMSE(nn.Module):
    """Mean squared error in ref pixels over the chosen points (all when ``index`` is None)."""

    def __init__(self, ref_size: float = 256.0, index: torch.Tensor | None = None):
        super().__init__()
        self.ref_size = ref_size
        self.register_buffer("index", index if index is not None else torch.empty(0, dtype=torch.long),
                             persistent=False)

    def forward(self, pred, target):
        if self.index.numel():
            pred, target = pred[:, self.index], target[:, self.index]
        return (((pred - target) * self.ref_size) ** 2).mean()


class WeightedSum(nn.Module):
    def __init__(self, terms: dict[str, tuple[float, nn.Module]]):
        super().__init__()
        self.weights = {k: w for k, (w, _) in terms.items()}
        self.terms = nn.ModuleDict({k: m for k, (_, m) in terms.items()})

    def forward(self, pred, target):
        return sum(self.weights[k] * m(pred, target) for k, m in self.terms.items())


LOSS_NAMES = ("hybrid", "wing", "l1", "l2", "wing+l2")


@dataclass
class LossConfig:
    """name: "hybrid" (wing_weight x Wing on all points + mse_weight x MSE on the 68 subset,
    the paper's 1.5/0.5), "wing", "l1", "l2" (MSE on all points), "wing+l2" (hybrid with MSE
    on all points)."""

    __pydantic_config__ = {"extra": "forbid", "strict": True}
    name: Literal["hybrid", "wing", "l1", "l2", "wing+l2"] = "hybrid"
    wing_w: Annotated[float, Gt(0)] = 15.0
    wing_epsilon: Annotated[float, Gt(0)] = 3.0
    ref_size: Annotated[float, Gt(0)] = 256.0
    wing_weight: Annotated[float, Ge(0)] = 1.5
    mse_weight: Annotated[float, Ge(0)] = 0.5


def build_loss(cfg: LossConfig, idx68) -> nn.Module:
    if cfg.name not in LOSS_NAMES:
        raise ConfigError(f"loss.name: unknown loss '{cfg.name}' (known: {', '.join(LOSS_NAMES)})")
    wing = WingLoss(cfg.wing_w, cfg.wing_epsilon, cfg.ref_size)
    idx = torch.as_tensor(idx68, dtype=torch.long)
    if cfg.name == "wing":
        return wing
    if cfg.name == "l1":
        return PixelL1(cfg.ref_size)
    if cfg.name == "l2":
        return PixelMSE(cfg.ref_size)
    mse = PixelMSE(cfg.ref_size, idx if cfg.name == "hybrid" else None)
    return WeightedSum({"wing": (cfg.wing_weight, wing), "mse": (cfg.mse_weight, mse)})


class WeightedPointsLoss(nn.Module):
    """The hybrid loss with a weight per point, plus the second head's term: for faces with and
    without 3D labels in one batch (denseface.data.dataset.WeightedDataset).

    ``wing_weight`` x Wing (mean over x, y, z) on all N points and ``mse_weight`` x MSE on the 68
    subset, each point's term times its weight and averaged over the batch's points (weights of 1
    give ``build_loss``'s "hybrid" exactly); plus ``head_300w_weight`` x Wing on the second head's
    (x, y), weighted the same way. Inputs are normalised crop coordinates."""

    def __init__(self, cfg: LossConfig, idx68, head_300w_weight: float):
        super().__init__()
        self.cfg, self.head_300w_weight = cfg, head_300w_weight
        self.register_buffer("idx68", torch.as_tensor(idx68, dtype=torch.long), persistent=False)
        self.C = cfg.wing_w - cfg.wing_w * math.log(1 + cfg.wing_w / cfg.wing_epsilon)

    def _wing(self, pred, target):
        x = (pred - target).abs() * self.cfg.ref_size
        w, eps = self.cfg.wing_w, self.cfg.wing_epsilon
        return torch.where(x < w, w * torch.log1p(x / eps), x - self.C).mean(-1)

    def forward(self, pred, target, weight, pred_300w, target_300w, weight_300w):
        c = self.cfg
        wing = (self._wing(pred, target) * weight).mean()
        err = ((pred[:, self.idx68] - target[:, self.idx68]) * c.ref_size) ** 2
        mse = (err.mean(-1) * weight[:, self.idx68]).mean()
        head = (self._wing(pred_300w, target_300w) * weight_300w).mean()
        return c.wing_weight * wing + c.mse_weight * mse + self.head_300w_weight * head
