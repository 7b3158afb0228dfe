"""The shipped default model (ONNX for predict, torch checkpoint for fine-tuning)."""
from __future__ import annotations

from pathlib import Path

from ..errors import DenseFaceError

WEIGHTS_DIR = Path(__file__).resolve().parent
DEFAULT_ONNX = WEIGHTS_DIR / "denseface_mbv2_dense520.onnx"
DEFAULT_TORCH = WEIGHTS_DIR / "denseface_mbv2_dense520.pt"


def default_onnx_path() -> Path:
    if not DEFAULT_ONNX.exists():
        raise DenseFaceError("the shipped default model is missing from this install; "
                             "pass --model PATH", path=DEFAULT_ONNX)
    return DEFAULT_ONNX


def default_torch_path() -> Path:
    if not DEFAULT_TORCH.exists():
        raise DenseFaceError("the shipped torch checkpoint is missing from this install",
                             path=DEFAULT_TORCH)
    return DEFAULT_TORCH
