"""The eye stage's network: six eye points from an eye patch (denseface.geometry.eye_patch).

A small CNN (four blocks of two 3x3 convolutions, BatchNorm and ReLU, each halving the patch, then
a linear layer) from a ``width`` x ``height`` RGB patch (float 0..255) to the six points in patch
pixels (right eye's order p1..p6). Its :class:`EyeConfig` travels inside the checkpoint and the
ONNX file, as the main model's ModelConfig does.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

import torch
import torch.nn as nn


@dataclass
class EyeConfig:
    """Patch size and placement (the eye's corners ``1 / width_factor`` of the width apart), the
    input normalisation, and the channel widths of the four blocks."""

    kind: str = "eye_stage"
    width: int = 64
    height: int = 32
    width_factor: float = 2.0
    mean: float = 128.0
    std: float = 64.0
    channels: tuple[int, int, int, int] = (16, 32, 64, 96)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, d: dict) -> "EyeConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        d = {k: v for k, v in d.items() if k in known}
        if "channels" in d:
            d["channels"] = tuple(d["channels"])
        return cls(**d)


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.MaxPool2d(2))


class EyeNet(nn.Module):
    """(B, 3, height, width) RGB 0..255 -> (B, 6, 2) patch pixels."""

    def __init__(self, config: EyeConfig | None = None):
        super().__init__()
        self.config = c = config or EyeConfig()
        widths = (3, *c.channels)
        self.features = nn.Sequential(*[_block(a, b) for a, b in zip(widths, widths[1:])])
        self.head = nn.Linear(c.channels[-1] * (c.height // 16) * (c.width // 16), 12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.config
        return self.head(self.features((x - c.mean) / c.std).flatten(1)).view(-1, 6, 2)


def save_eye_net(net: EyeNet, path, **meta) -> None:
    from pathlib import Path

    from ..io.files import atomic_output
    with atomic_output(Path(path)) as tmp:
        torch.save({"config": net.config.to_json(), "state_dict": net.state_dict(), "meta": meta}, tmp)


def load_eye_net(path) -> EyeNet:
    from .checkpoints import read_torch_file
    ck = read_torch_file(path, "eye stage")
    net = EyeNet(EyeConfig.from_dict(json.loads(ck["config"])))
    net.load_state_dict(ck["state_dict"])
    return net.eval()
