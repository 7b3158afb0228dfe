"""The dense landmark regressor: a backbone (timm by name, or 3DDFA's MobileNetV1) with an
N x 3 linear regression head, optionally factored to a low rank after training."""
from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from ..errors import DenseFaceError
from .checkpoints import read_torch_file
from .codec import ModelConfig
from .pretrained import TEACHER_BACKBONE, load_backbone_weights

#: Input normalisation per backbone family, (mean, std) on 0..255 RGB; ImageNet's otherwise.
_NORMALISATION = {TEACHER_BACKBONE: ((127.5,) * 3, (128.0,) * 3)}


def build_backbone(name: str, num_outputs: int) -> nn.Module:
    """A backbone with a ``num_outputs`` linear head: 3DDFA's MobileNetV1-0.5 by its name,
    anything else from timm."""
    if name == TEACHER_BACKBONE:
        from .mobilenet_v1 import MobileNetV1
        return MobileNetV1(width=0.5, num_classes=num_outputs)
    import timm
    try:
        return timm.create_model(name, pretrained=False, num_classes=num_outputs)
    except RuntimeError as e:
        raise DenseFaceError(f"unknown backbone '{name}' ({e})") from None


class LowRankHead(nn.Module):
    """A linear F -> M head factored through rank r, ``up(down(x))`` with no activation
    between: r * (F + M) multiply-adds instead of F * M (``factor_head`` builds one)."""

    def __init__(self, in_features: int, out_features: int, rank: int):
        super().__init__()
        self.down = nn.Linear(in_features, rank, bias=False)
        self.up = nn.Linear(rank, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.down(x))


def _classifier_name(net: nn.Module) -> str:
    """The attribute of ``net`` that holds its head (timm's ``classifier`` / ``fc``, ``fc_param``)."""
    head = net.get_classifier()
    return next(name for name, m in net.named_children() if m is head)


class UncertaintyHead(nn.Module):
    """Pooled features (B, F) -> each point's sigma (B, N) in normalised crop units (a fraction
    of the crop side): the per-axis standard deviation of an isotropic 2D Gaussian on the point's
    (x, y) error. A small MLP on the frozen features (denseface.train.uncertainty fits it); its
    output is positive by construction (exp of a log-sigma)."""

    def __init__(self, in_features: int, num_points: int, hidden: int = 64):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, num_points))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.exp(self.mlp(features))


def _head_inputs(head: nn.Module) -> int:
    """The number of features a head (nn.Linear or LowRankHead) reads."""
    return head.down.in_features if isinstance(head, LowRankHead) else head.in_features


class DenseRegressor(nn.Module):
    """(B, 3, S, S) RGB float 0..255 -> (B, N, 3) normalised crop coordinates (see codec)."""

    def __init__(self, config: ModelConfig, pretrained: str | Path | None = None,
                 teacher_dir: str | Path | None = None):
        super().__init__()
        self.config = config
        self.net = build_backbone(config.backbone, config.num_points * 3)
        self.pretrained_note = ""
        if pretrained:
            self.pretrained_note = load_backbone_weights(self.net, config.backbone, pretrained,
                                                         teacher_dir)
        if config.head_rank:
            full = self.head
            setattr(self.net, _classifier_name(self.net),
                    LowRankHead(full.in_features, full.out_features, config.head_rank))
        #: the second head (config.head_300w): a linear map from the N x 3 points to the 68 points
        #: of the human 300-W convention (x, y), both normalised crop coordinates; fitted in closed
        #: form (denseface.train.points_map), it never changes the points themselves
        self.head_300w = nn.Linear(config.num_points * 3, 68 * 2) if config.head_300w else None
        #: the third head (config.head_uncertainty): each point's expected error (UncertaintyHead),
        #: fitted on frozen features (denseface.train.uncertainty); it never changes the points
        self.head_uncertainty = (UncertaintyHead(_head_inputs(self.head), config.num_points)
                                 if config.head_uncertainty else None)
        self.register_buffer("mean", torch.tensor(config.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(config.std).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean) / self.std
        return self.net(x).view(-1, self.config.num_points, 3)   # a constant shape in ONNX

    def forward_both(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, S, S) -> the N x 3 points and, from the second head (``config.head_300w``), the
        68 points of the human 300-W convention (B, 68, 2), both normalised crop coordinates."""
        if self.head_300w is None:
            raise DenseFaceError("the model has no 300-W head (config.head_300w is false)")
        points = self.forward(x)
        return points, self.head_300w(points.flatten(1)).view(-1, 68, 2)

    def forward_outputs(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(B, 3, S, S) -> every output of the network, in the order of
        ``denseface.models.runners.output_names``: the N x 3 points; with ``config.head_300w``
        the 300-W 68 points (B, 68, 2); with ``config.head_uncertainty`` each point's sigma (B, N)
        in normalised crop units."""
        x = (x - self.mean) / self.std
        feats = self.net.forward_head(self.net.forward_features(x), pre_logits=True)
        points = self.head(feats).view(-1, self.config.num_points, 3)
        out = (points,)
        if self.head_300w is not None:
            out += (self.head_300w(points.flatten(1)).view(-1, 68, 2),)
        if self.head_uncertainty is not None:
            out += (self.head_uncertainty(feats),)
        return out

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) RGB 0..255 -> (B, F) pooled features, the head's input."""
        x = (x - self.mean) / self.std
        return self.net.forward_head(self.net.forward_features(x), pre_logits=True)

    @property
    def head(self) -> nn.Module:
        """The head, F -> N * 3: an nn.Linear, or a LowRankHead when ``config.head_rank``."""
        return self.net.get_classifier()


def factor_head(model: DenseRegressor, rank: int) -> DenseRegressor:
    """A copy of ``model`` whose linear head is replaced by its closest rank-``rank`` weights
    (truncated SVD, least squares in the weights), as a LowRankHead; ``config.head_rank``
    records it so the checkpoint and the ONNX file rebuild the same network."""
    head = model.head
    if not isinstance(head, nn.Linear):
        raise DenseFaceError("the model's head is already factored")
    W = head.weight.detach().double().cpu().numpy()
    if not 0 < rank < min(W.shape):
        raise DenseFaceError(f"head rank must be between 1 and {min(W.shape) - 1}, got {rank}")
    U, S, Vt = np.linalg.svd(W, full_matrices=False)
    low = LowRankHead(W.shape[1], W.shape[0], rank)
    with torch.no_grad():
        low.down.weight.copy_(torch.from_numpy(Vt[:rank]))
        low.up.weight.copy_(torch.from_numpy(U[:, :rank] * S[:rank]))
        low.up.bias.copy_(head.bias.detach())
    out = copy.deepcopy(model)
    setattr(out.net, _classifier_name(out.net), low.to(head.weight.device))
    out.config = dataclasses.replace(model.config, head_rank=rank)
    return out


def expand_head(model: DenseRegressor) -> DenseRegressor:
    """A copy of ``model`` with a factored head multiplied out into one nn.Linear (the same
    function; for fine-tuning a shipped model with the trainer's full head)."""
    head = model.head
    if not isinstance(head, LowRankHead):
        return model
    full = nn.Linear(head.down.in_features, head.up.out_features)
    with torch.no_grad():
        full.weight.copy_(head.up.weight @ head.down.weight)
        full.bias.copy_(head.up.bias)
    out = copy.deepcopy(model)
    setattr(out.net, _classifier_name(out.net), full.to(head.up.weight.device))
    out.config = dataclasses.replace(model.config, head_rank=0)
    return out


def create_model(backbone: str = "mobilenetv2_100", num_points: int = 520, input_size: int = 120,
                 landmark_set: str = "dense520", pretrained: str | Path | None = None,
                 teacher_dir: str | Path | None = None) -> DenseRegressor:
    """Create a regressor by backbone name (timm's mobilenetv2_100, resnet18, ..., or
    ``3ddfa_mobilenetv1_050``); ``pretrained``: see denseface.models.pretrained."""
    cfg = ModelConfig(backbone=backbone, input_size=input_size, num_points=num_points,
                      landmark_set=landmark_set)
    if backbone in _NORMALISATION:
        cfg.mean, cfg.std = _NORMALISATION[backbone]
    return DenseRegressor(cfg, pretrained, teacher_dir)


def save_checkpoint(model: DenseRegressor, path: str | Path, half: bool = False,
                    resume_state: dict | None = None, **meta) -> None:
    """Atomic save of weights plus the preprocessing config (loadable with weights_only), the one
    writer of every denseface checkpoint; ``half`` stores floating-point tensors in fp16
    (load_model casts them back to float32); ``resume_state``: the trainer's keys stored beside
    them in ``last.pt`` (optimiser, scheduler, scaler, RNG, epoch, history)."""
    from ..io.files import atomic_output
    path = Path(path)
    state = {k: (v.detach().cpu().half() if half and v.is_floating_point() else v.detach().cpu())
             for k, v in model.state_dict().items()}
    with atomic_output(path) as tmp:
        torch.save({**(resume_state or {}), "config": model.config.to_json(), "state_dict": state,
                    "meta": meta}, tmp)


def load_model(path: str | Path, map_location: str = "cpu") -> DenseRegressor:
    """Load a checkpoint written by save_checkpoint (or a trainer checkpoint)."""
    import json
    path = Path(path)
    ck = read_torch_file(path, "model")
    try:
        cfg = ModelConfig.from_dict(json.loads(ck["config"]))
        sd = ck["state_dict"]
        model = DenseRegressor(cfg)
        model.load_state_dict({k: (v.float() if v.is_floating_point() else v) for k, v in sd.items()})
    except DenseFaceError:
        raise
    except Exception as e:
        raise DenseFaceError(f"not a denseface checkpoint ({type(e).__name__})", path=path) from None
    return model.eval()
