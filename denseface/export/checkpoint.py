"""A trained checkpoint -> the ONNX file that ships, the one path of `denseface export --format
onnx` and `benchmarks/model_family.py ship`: load, optionally factor the head and add the second
head, export, and measure the torch/ONNX parity on the same random crops.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import ConfigError

#: How many random crops the parity is measured on (seeded: every export is checked alike).
PARITY_CROPS = 4


def parity_crops(size: int, n: int = PARITY_CROPS) -> np.ndarray:
    """(n, size, size, 3) uint8 random crops, the same for every export (seed 0)."""
    return (np.random.default_rng(0).random((n, size, size, 3)) * 255).astype(np.uint8)


@dataclass(frozen=True)
class ExportedModel:
    """What :func:`export_checkpoint` wrote: the ONNX file, the fp16 torch checkpoint (None when
    not asked for), the torch/ONNX parity (max |diff| in crop pixels on :func:`parity_crops`),
    the second head's fit (None without one) and the model's crop side in pixels."""

    onnx_path: Path
    checkpoint_path: Path | None
    parity_px: float
    points_map_fit: dict | None
    input_size: int


def export_checkpoint(checkpoint: str | Path, out: str | Path, *, head_rank: int = 0,
                      points_map: Callable | None = None, opset: int = 17, weights_fp16: bool = False,
                      expect: tuple[str, int] | None = None,
                      checkpoint_out: str | Path | None = None) -> ExportedModel:
    """Export ``checkpoint`` to the ONNX file ``out``.

    ``head_rank`` > 0 factors the linear head first (models.regressor.factor_head);
    ``points_map``: ``model -> (model with the second head, its fit)``, the caller's
    (denseface.train.points_map.with_points_map: training sits above export); ``expect``: the
    (backbone, input size) the result must have (ConfigError otherwise, before anything is
    written); ``checkpoint_out``: also write the final model there as an fp16 torch checkpoint."""
    from ..models.regressor import factor_head, load_model, save_checkpoint
    from .onnx import export_onnx, parity_max_abs_px

    model = load_model(checkpoint)
    if head_rank:
        model = factor_head(model, head_rank)
    fit = None
    if points_map is not None:
        model, fit = points_map(model)
    got = (model.config.backbone, model.config.input_size)
    if expect is not None and tuple(expect) != got:
        raise ConfigError(f"{checkpoint} is a {got[0]} at {got[1]} px, not a {expect[0]} at {expect[1]} px")
    path = export_onnx(model, out, opset=opset, weights_fp16=weights_fp16)
    if checkpoint_out is not None:
        save_checkpoint(model, checkpoint_out, half=True, source=str(checkpoint))
    parity = parity_max_abs_px(model, path, parity_crops(model.config.input_size))
    return ExportedModel(Path(path), None if checkpoint_out is None else Path(checkpoint_out), parity, fit,
                         model.config.input_size)
