"""Model runners: run a network on batches of square RGB crops.

Every runner exposes ``config`` (a ModelConfig) and ``predict_crops(crops)`` where crops are
(B, S, S, 3) uint8 RGB with S = config.input_size, and returns (B, N, 3) float32 crop pixels.
ONNX Runtime is the default and needs no torch.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import DenseFaceError
from .codec import ModelConfig, decode_points

ONNX_CONFIG_KEY = "denseface_config"


def _to_nchw(crops: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(crops, np.float32).transpose(0, 3, 1, 2))


class OnnxRunner:
    """ONNX Runtime session of an exported model (config read from the file's metadata)."""

    def __init__(self, path: str | Path, threads: int | None = None, providers: list[str] | None = None):
        import onnxruntime as ort

        path = Path(path)
        if not path.exists():
            raise DenseFaceError("model file does not exist", path=path)
        so = ort.SessionOptions()
        if threads:
            so.intra_op_num_threads = threads
            so.inter_op_num_threads = 1
        so.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), so, providers=providers or ["CPUExecutionProvider"])
            meta = self.session.get_modelmeta().custom_metadata_map
            self.config = ModelConfig.from_dict(json.loads(meta[ONNX_CONFIG_KEY]))
        except KeyError:
            raise DenseFaceError("ONNX file has no denseface config metadata (export it with "
                                 "`denseface export`)", path=path) from None
        except Exception as e:
            raise DenseFaceError(f"cannot load ONNX model ({type(e).__name__})", path=path) from None
        self.input_name = self.session.get_inputs()[0].name
        self.path = path

    def forward(self, crops: np.ndarray) -> np.ndarray:
        """Raw normalised outputs (B, N, 3)."""
        out = self.session.run(None, {self.input_name: _to_nchw(crops)})[0]
        return out.reshape(len(crops), self.config.num_points, 3)

    def predict_crops(self, crops: np.ndarray) -> np.ndarray:
        return decode_points(self.forward(crops), self.config.input_size)


class TorchRunner:
    """A torch checkpoint or module, for evaluation during training and for parity tests."""

    def __init__(self, model, device: str = "cpu"):
        import torch

        from .regressor import load_model

        if isinstance(model, (str, Path)):
            model = load_model(model)
        self.model = model.to(device).eval()
        self.config: ModelConfig = model.config
        self.device = device
        self._torch = torch

    def forward(self, crops: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            x = torch.from_numpy(_to_nchw(crops)).to(self.device)
            return self.model(x).float().cpu().numpy()

    def predict_crops(self, crops: np.ndarray) -> np.ndarray:
        return decode_points(self.forward(crops), self.config.input_size)


def onnx_providers(device: str = "cpu") -> list[str]:
    """ONNX Runtime execution providers for a device name ("cpu", "cuda", "cuda:N")."""
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device.startswith("cuda"):
        import onnxruntime as ort

        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise DenseFaceError(f"device '{device}' asked for, but this onnxruntime has no CUDA "
                                 "provider (install onnxruntime-gpu) ")
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    raise DenseFaceError(f"unknown device '{device}' (expected cpu or cuda)")


def open_runner(model: str | Path | object | None = None, threads: int | None = None,
                device: str = "cpu"):
    """A runner for a registry name (denseface.models.registry, e.g. "dense520_mbv1_050"), a
    path (.onnx -> ONNX Runtime, .pt/.pth -> torch), a torch module, an existing runner, or None
    (the package default model). ``device``: "cpu" or "cuda"."""
    if hasattr(model, "predict_crops"):
        return model
    if model is None or isinstance(model, str):
        from .registry import resolve_model_path

        model = resolve_model_path(model)
    if isinstance(model, (str, Path)):
        p = Path(model)
        if p.suffix == ".onnx":
            return OnnxRunner(p, threads=threads, providers=onnx_providers(device))
        if p.suffix in (".pt", ".pth", ".ckpt"):
            return TorchRunner(p, device=device)
        if not p.exists():
            raise DenseFaceError("model file does not exist", path=p)
        raise DenseFaceError("unknown model file type (expected .onnx or .pt)", path=p)
    return TorchRunner(model, device=device)
