"""Validation during training: the model's val scores in one pass over a split held in memory.

Frames: splits hold crops (M, S, S, 3) uint8 RGB and their points in crop pixels (x right, y
down); the network's normalised outputs are decoded with denseface.models.codec.
"""
from __future__ import annotations

import numpy as np
import torch

from ..data.dataset import split_scores
from ..models.codec import decode_points
from ..models.regressor import DenseRegressor


def memory_format(channels_last: bool) -> torch.memory_format:
    return torch.channels_last if channels_last else torch.contiguous_format


@torch.inference_mode()
def evaluate(model: DenseRegressor, val, idx68: np.ndarray, device: torch.device,
             batch: int = 128, channels_last: bool = False) -> dict:
    """Val NME (%) of 68 points vs labels and of 21 points vs human annotations."""
    model.eval()
    S = model.config.input_size
    preds = []
    for i in range(0, len(val.names), batch):
        x = torch.from_numpy(val.images[i:i + batch]).permute(0, 3, 1, 2).float().to(device)
        if x.shape[-1] != S:
            x = torch.nn.functional.interpolate(x, size=(S, S), mode="bilinear", align_corners=False)
        preds.append(model(x.contiguous(memory_format=memory_format(channels_last))).float().cpu().numpy())
    in_size = val.images.shape[1]
    pred = decode_points(np.concatenate(preds), S) * (in_size / S)
    return split_scores(pred[:, idx68], val.points[:, idx68], val.table.pts21)
