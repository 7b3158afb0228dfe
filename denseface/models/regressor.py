"""The dense landmark regressor: a timm backbone with an N x 3 regression head."""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from ..errors import DenseFaceError
from .codec import ModelConfig


class DenseRegressor(nn.Module):
    """(B, 3, S, S) RGB float 0..255 -> (B, N, 3) normalised crop coordinates (see codec)."""

    def __init__(self, config: ModelConfig, pretrained: str | Path | None = None):
        super().__init__()
        import timm

        self.config = config
        try:
            self.net = timm.create_model(config.backbone, pretrained=False,
                                         num_classes=config.num_points * 3)
        except RuntimeError as e:
            raise DenseFaceError(f"unknown backbone '{config.backbone}' ({e})") from None
        if pretrained:
            load_backbone_weights(self.net, pretrained)
        self.register_buffer("mean", torch.tensor(config.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(config.std).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean) / self.std
        return self.net(x).view(x.shape[0], self.config.num_points, 3)


def load_backbone_weights(net: nn.Module, path: str | Path) -> None:
    """Load a local timm/ImageNet checkpoint into the backbone; the classifier is skipped."""
    path = Path(path)
    if not path.exists():
        raise DenseFaceError("pretrained weights file does not exist", path=path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file
        sd = load_file(str(path))
    else:
        sd = torch.load(path, map_location="cpu", weights_only=True)
        sd = sd.get("state_dict", sd) if isinstance(sd, dict) else sd
    own = net.state_dict()
    keep = {k: v for k, v in sd.items() if k in own and own[k].shape == v.shape}
    if not keep:
        raise DenseFaceError("no tensor in the file matches the backbone", path=path)
    net.load_state_dict(keep, strict=False)


def create_model(backbone: str = "mobilenetv2_100", num_points: int = 520, input_size: int = 120,
                 landmark_set: str = "dense520", pretrained: str | Path | None = None) -> DenseRegressor:
    """Create a regressor by timm backbone name (mobilenetv2_100, resnet18, resnet50, ...)."""
    cfg = ModelConfig(backbone=backbone, input_size=input_size, num_points=num_points,
                      landmark_set=landmark_set)
    return DenseRegressor(cfg, pretrained)


def save_checkpoint(model: DenseRegressor, path: str | Path, half: bool = False, **meta) -> None:
    """Atomic save of weights plus the preprocessing config (loadable with weights_only);
    ``half`` stores floating-point tensors in fp16 (load_model casts them back to float32)."""
    import os
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    state = {k: (v.detach().cpu().half() if half and v.is_floating_point() else v.detach().cpu())
             for k, v in model.state_dict().items()}
    torch.save({"config": model.config.to_json(), "state_dict": state, "meta": meta}, tmp)
    os.replace(tmp, path)


def load_model(path: str | Path, map_location: str = "cpu") -> DenseRegressor:
    """Load a checkpoint written by save_checkpoint (or a trainer checkpoint)."""
    import json
    path = Path(path)
    if not path.exists():
        raise DenseFaceError("model file does not exist", path=path)
    try:
        ck = torch.load(path, map_location=map_location, weights_only=True)
        cfg = ModelConfig.from_dict(json.loads(ck["config"]))
        sd = ck.get("state_dict") or ck["model"]
    except Exception as e:
        raise DenseFaceError(f"not a denseface checkpoint ({type(e).__name__}: {e})", path=path) from None
    model = DenseRegressor(cfg)
    model.load_state_dict({k: (v.float() if v.is_floating_point() else v) for k, v in sd.items()})
    return model.eval()
