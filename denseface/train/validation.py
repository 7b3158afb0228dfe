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
def crop_outputs(model: DenseRegressor, images: np.ndarray, device: torch.device, forward=None,
                 batch: int = 128, channels_last: bool = False) -> list[np.ndarray]:
    """Each output of ``forward`` (default: ``model``; e.g. ``model.forward_both``) on the crops
    ``images`` (M, s, s, 3) uint8 RGB, one pass in batches, decoded to pixels of those crops
    (crops of another side than the model's are resized to it and back)."""
    model.eval()
    forward = forward or model
    S, in_size = model.config.input_size, images.shape[1]
    outs: list[list[np.ndarray]] = []
    for i in range(0, len(images), batch):
        x = torch.from_numpy(images[i:i + batch]).permute(0, 3, 1, 2).float().to(device)
        if in_size != S:
            x = torch.nn.functional.interpolate(x, size=(S, S), mode="bilinear", align_corners=False)
        y = forward(x.contiguous(memory_format=memory_format(channels_last)))
        outs.append([t.float().cpu().numpy() for t in (y if isinstance(y, tuple) else (y,))])
    return [decode_points(np.concatenate(parts), S) * (in_size / S) for parts in zip(*outs)]


def evaluate(model: DenseRegressor, val, idx68: np.ndarray, device: torch.device,
             batch: int = 128, channels_last: bool = False) -> dict:
    """Val NME (%) of 68 points vs labels and of 21 points vs human annotations."""
    (pred,) = crop_outputs(model, val.images, device, batch=batch, channels_last=channels_last)
    return split_scores(pred[:, idx68], val.points[:, idx68], val.table.pts21)


def evaluate_extra(model: DenseRegressor, human_val, closed_val, idx68: np.ndarray,
                   device: torch.device) -> dict:
    """Val scores on faces without 3D labels (denseface.train.extra_targets.PseudoLabelled, each
    may be None): :func:`openness_scores` on the held-out human faces, and on the held-out closed
    eyes the share read closed (EAR < 0.2) by each convention."""
    from ..metrics import eye_aspect_ratio, openness_scores

    out = {}
    if human_val is not None:
        pts, p300 = crop_outputs(model, human_val.images, device, model.forward_both)
        out.update(openness_scores(p300, pts[:, idx68], human_val.human68))
    if closed_val is not None:
        pts, p300 = crop_outputs(model, closed_val.images, device, model.forward_both)
        out["closed_read_closed_300w"] = float((eye_aspect_ratio(p300) < 0.2).mean())
        out["closed_read_closed_68"] = float((eye_aspect_ratio(pts[:, idx68]) < 0.2).mean())
    return out
