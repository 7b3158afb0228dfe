"""3DDFA-V2's MobileNetV1 (``models/mobilenet_v1.py``), layer names matching its weights.

The same module serves the teacher (62 3DMM parameters, ``fc_lm`` kept so its checkpoint loads
strictly) and denseface's fast backbone ``3ddfa_mobilenetv1_050`` (``fc_param`` sized to the
landmark outputs). It offers timm's feature interface (``forward_features``,
``forward_head(pre_logits=True)``, ``get_classifier``, ``num_features``) so the regressor and
the closed-form head treat it like any timm backbone.
"""
from __future__ import annotations

import torch
import torch.nn as nn


class DepthWiseBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv_dw = nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False)
        self.bn_dw = nn.BatchNorm2d(cin)
        self.conv_sep = nn.Conv2d(cin, cout, 1, 1, 0, bias=False)
        self.bn_sep = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn_dw(self.conv_dw(x)))
        return self.relu(self.bn_sep(self.conv_sep(x)))


_PLAN = ([("dw2_1", 32, 64, 1), ("dw2_2", 64, 128, 2), ("dw3_1", 128, 128, 1),
          ("dw3_2", 128, 256, 2), ("dw4_1", 256, 256, 1), ("dw4_2", 256, 512, 2)]
         + [(f"dw5_{i}", 512, 512, 1) for i in range(1, 6)]
         + [("dw5_6", 512, 1024, 2), ("dw6", 1024, 1024, 1)])


class MobileNetV1(nn.Module):
    """(B, 3, S, S) normalised input -> (B, num_classes). ``num_landmarks`` > 0 adds 3DDFA's
    unused ``fc_lm`` head (only so that the teacher's checkpoint loads strictly)."""

    def __init__(self, width: float = 0.5, num_classes: int = 62, num_landmarks: int = 0):
        super().__init__()
        c = lambda n: int(n * width)  # noqa: E731
        self.conv1 = nn.Conv2d(3, c(32), 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c(32))
        self.relu = nn.ReLU(inplace=True)
        for name, cin, cout, stride in _PLAN:
            setattr(self, name, DepthWiseBlock(c(cin), c(cout), stride))
        self.blocks = [name for name, *_ in _PLAN]
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.num_features = c(1024)
        self.fc_param = nn.Linear(self.num_features, num_classes)
        if num_landmarks:
            self.fc_lm = nn.Linear(self.num_features, num_landmarks)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        for name in self.blocks:
            x = getattr(self, name)(x)
        return x

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.avgpool(x).flatten(1)
        return x if pre_logits else self.fc_param(x)

    def get_classifier(self) -> nn.Linear:
        return self.fc_param

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))
