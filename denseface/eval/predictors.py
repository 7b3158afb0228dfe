"""Anything that gives 68 landmarks for a face: a denseface model (ONNX, torch) or a callable.

A predictor maps a batch of RGB uint8 images and one box per image ([x0, y0, x1, y1], OpenCV
pixels) to (B, 68, 3) image pixels (x right, y down, z towards the viewer in the same scale;
z is NaN when the model gives only 2D points).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Protocol, Sequence

import numpy as np

from ..errors import DenseFaceError
from ..infer.api import run_crops


class LandmarkPredictor(Protocol):
    name: str

    def predict(self, images: Sequence[np.ndarray], boxes: np.ndarray) -> np.ndarray:
        """images: B RGB uint8 (H, W, 3); boxes (B, 4) -> (B, 68, 3) image pixels."""


def idx68_for(config) -> np.ndarray:
    """Positions of the 68 iBUG points among a model's outputs, from its landmark set.

    Raises one clear error when the model's set is unknown, has no 68-point subset, or does
    not match the model's number of outputs."""
    from ..landmarks import load_landmark_set

    name = getattr(config, "landmark_set", None) or "?"
    try:
        lset = load_landmark_set(name)
    except DenseFaceError as e:
        raise DenseFaceError(f"the model's landmark set '{name}' has no 68-point iBUG subset that "
                             f"evaluation can use ({e.problem})") from None
    idx68 = np.asarray(getattr(lset, "idx68", np.zeros(0)), np.int64)
    if idx68.shape != (68,):
        raise DenseFaceError(f"the model's landmark set '{name}' lacks the 68-point iBUG subset")
    if lset.n_points != config.num_points:
        raise DenseFaceError(f"the model gives {config.num_points} points but its landmark set "
                             f"'{name}' has {lset.n_points}")
    return idx68


class RunnerPredictor:
    """A denseface runner (ONNX Runtime or torch): square crops of ``config.input_size`` from
    the boxes, one batched forward pass, the 68 subset mapped back to image pixels."""

    def __init__(self, runner, name: str):
        self.runner = runner
        self.name = name
        self.config = runner.config
        self.idx68 = idx68_for(runner.config)

    def predict(self, images: Sequence[np.ndarray], boxes: np.ndarray) -> np.ndarray:
        if len(images) == 0:
            return np.zeros((0, 68, 3))
        return np.asarray(run_crops(self.runner, images, boxes), np.float64)[:, self.idx68]


class CallablePredictor:
    """A Python function ``fn(image_rgb_uint8, box) -> (68, 2) or (68, 3)`` image pixels."""

    def __init__(self, fn: Callable[[np.ndarray, np.ndarray], np.ndarray], name: str | None = None):
        self.fn = fn
        self.name = name or getattr(fn, "__name__", type(fn).__name__)

    def predict(self, images: Sequence[np.ndarray], boxes: np.ndarray) -> np.ndarray:
        out = np.full((len(images), 68, 3), np.nan)
        for i, (img, box) in enumerate(zip(images, boxes)):
            p = np.asarray(self.fn(img, np.asarray(box, np.float64)), np.float64)
            if p.shape not in ((68, 2), (68, 3)):
                raise DenseFaceError(f"the model callable returned shape {p.shape}, expected "
                                     "(68, 2) or (68, 3)")
            out[i, :, :p.shape[1]] = p
        return out


def model_name(model) -> str:
    if model is None:
        from ..models.registry import DEFAULT_MODEL
        return DEFAULT_MODEL
    if isinstance(model, (str, Path)):
        return Path(model).name
    return getattr(model, "name", None) or type(model).__name__


def open_predictor(model=None, threads: int | None = None) -> LandmarkPredictor:
    """A predictor for a model path (.onnx / .pt), a torch module, a runner, None (the shipped
    default), an existing predictor, or a callable ``(image, box) -> 68 x 2|3``."""
    from ..models.runners import open_runner

    if hasattr(model, "predict") and hasattr(model, "name") and not hasattr(model, "predict_crops"):
        return model
    is_torch_module = type(model).__module__.startswith("torch") or hasattr(model, "state_dict")
    if callable(model) and not is_torch_module and not hasattr(model, "predict_crops") \
            and not isinstance(model, (str, Path)):
        return CallablePredictor(model)
    return RunnerPredictor(open_runner(model, threads=threads), model_name(model))
