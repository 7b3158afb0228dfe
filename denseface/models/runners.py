"""Model runners: run a network on batches of square RGB crops.

Every runner exposes ``config`` (a ModelConfig), ``predict_crops(crops)`` where crops are
(B, S, S, 3) uint8 RGB with S = config.input_size, returning (B, N, 3) float32 crop pixels, and
``predict_outputs(crops)``, every output of the network in crop pixels by name: ``"points"``;
for models with the second head (``config.head_300w``), ``"landmarks68_300w"`` (B, 68, 2); for
models with the uncertainty head (``config.head_uncertainty``), ``"uncertainty"`` (B, N), each
point's sigma in crop pixels (:func:`decode_output`).
ONNX Runtime is the default and needs no torch.
"""
from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DenseFaceError
from .codec import ModelConfig, decode_points

ONNX_CONFIG_KEY = "denseface_config"
#: Names of the network's outputs (the ONNX graph's, and the runners' dictionary keys).
POINTS, LANDMARKS68_300W, UNCERTAINTY = "points", "landmarks68_300w", "uncertainty"


def output_names(config: ModelConfig) -> tuple[str, ...]:
    """The network's outputs, in graph order: the points, then the heads the config names."""
    return ((POINTS,) + ((LANDMARKS68_300W,) if config.head_300w else ())
            + ((UNCERTAINTY,) if getattr(config, "head_uncertainty", False) else ()))


def decode_output(name: str, values: np.ndarray, input_size: int) -> np.ndarray:
    """One raw network output -> crop pixels: coordinates through the codec (decode_points); a
    sigma (``"uncertainty"``, a fraction of the crop side) scaled by the crop side."""
    if name == UNCERTAINTY:
        return np.asarray(values, np.float32) * input_size
    return decode_points(values, input_size)


def model_landmark_set(config: ModelConfig):
    """The landmark set a model's config names, checked against the model: the model predicts
    the set's points (``num_points``), and ``.idx68`` are the 68 iBUG points among them. The one
    check of the model contract that prediction and evaluation share; DenseFaceError otherwise."""
    from ..landmarks import load_landmark_set

    name = getattr(config, "landmark_set", None) or "?"
    try:
        lset = load_landmark_set(name)
    except DenseFaceError as e:
        raise DenseFaceError(f"the model's landmark set '{name}' is unknown here: no point layout "
                             f"and no 68-point iBUG subset to read its outputs with ({e.problem})") from None
    if lset.n_points != config.num_points:
        raise DenseFaceError(f"the model predicts {config.num_points} points but its landmark set "
                             f"'{name}' has {lset.n_points}")
    return lset


def landmark_set_of(runner):
    """A runner's checked landmark set (:func:`model_landmark_set`): the one it carries, else
    (any object with ``config`` and ``predict_crops``) checked now."""
    lset = getattr(runner, "landmark_set", None)
    return lset if lset is not None else model_landmark_set(runner.config)


class _CarriesLandmarkSet:
    """A runner's ``landmark_set``, checked against its config on first use."""

    @cached_property
    def landmark_set(self):
        return model_landmark_set(self.config)


def _to_nchw(crops: np.ndarray) -> np.ndarray:
    """(B, S, S, 3) crops -> (B, 3, S, S) float32, converted and transposed in one copy."""
    crops = np.asarray(crops)
    out = np.empty((crops.shape[0], crops.shape[3], crops.shape[1], crops.shape[2]), np.float32)
    np.copyto(out, crops.transpose(0, 3, 1, 2), casting="unsafe")
    return out


class OnnxRunner(_CarriesLandmarkSet):
    """ONNX Runtime session of an exported model (config read from the file's metadata)."""

    def __init__(self, path: str | Path, threads: int | None = None, providers: list[str] | None = None):
        import onnxruntime as ort

        path = Path(path)
        if not path.exists():
            raise DenseFaceError("model file does not exist", path=path)
        so = ort.SessionOptions()
        # level "all" (ONNX Runtime's default, kept on purpose): its layout optimisations make the
        # convolutions several times faster than "extended" (benchmarks/bench_ort_options.py)
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
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
        missing = set(output_names(self.config)) - {o.name for o in self.session.get_outputs()}
        if missing:
            raise DenseFaceError(f"the ONNX graph lacks the output(s) {', '.join(sorted(missing))} "
                                 "that its config names", path=path)
        self.input_name = self.session.get_inputs()[0].name
        self.path = path

    def forward(self, crops: np.ndarray) -> np.ndarray:
        """Raw normalised outputs (B, N, 3)."""
        out = self.session.run([POINTS], {self.input_name: _to_nchw(crops)})[0]
        return out.reshape(len(crops), self.config.num_points, 3)

    def predict_crops(self, crops: np.ndarray) -> np.ndarray:
        return decode_points(self.forward(crops), self.config.input_size)

    def predict_outputs(self, crops: np.ndarray) -> dict[str, np.ndarray]:
        names = output_names(self.config)
        out = self.session.run(list(names), {self.input_name: _to_nchw(crops)})
        return {k: decode_output(k, v, self.config.input_size) for k, v in zip(names, out)}


class TorchRunner(_CarriesLandmarkSet):
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

    def predict_outputs(self, crops: np.ndarray) -> dict[str, np.ndarray]:
        torch = self._torch
        with torch.inference_mode():
            x = torch.from_numpy(_to_nchw(crops)).to(self.device)
            out = self.model.forward_outputs(x)
        S = self.config.input_size
        return {k: decode_output(k, v.float().cpu().numpy(), S) for k, v in zip(output_names(self.config), out)}


def onnx_providers(device: str = "cpu") -> list[str]:
    """ONNX Runtime execution providers for a device name ("cpu", "cuda", "cuda:N")."""
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device.startswith("cuda"):
        import onnxruntime as ort

        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise ConfigError(f"device '{device}' asked for, but this onnxruntime has no CUDA "
                              "provider (install onnxruntime-gpu)")
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    raise ConfigError(f"unknown device '{device}' (expected cpu, cuda or cuda:N)")


def open_runner(model: str | Path | object | None = None, threads: int | None = None,
                device: str = "cpu"):
    """A runner for a registry name (denseface.models.registry, e.g. "dense520_mbv1_050"), a
    path (.onnx -> ONNX Runtime, .pt/.pth -> torch), a torch module, an existing runner, or None
    (the package default model). ``device``: "cpu" or "cuda"."""
    if hasattr(model, "predict_crops"):
        return model
    from .registry import ONNX_SUFFIXES, TORCH_SUFFIXES, resolve_model_path

    if model is None or isinstance(model, str):
        model = resolve_model_path(model)
    if isinstance(model, (str, Path)):
        p = Path(model)
        if p.suffix in ONNX_SUFFIXES:
            return OnnxRunner(p, threads=threads, providers=onnx_providers(device))
        if p.suffix in TORCH_SUFFIXES:
            return TorchRunner(p, device=device)
        if not p.exists():
            raise DenseFaceError("model file does not exist", path=p)
        raise DenseFaceError("unknown model file type (expected .onnx or .pt)", path=p)
    return TorchRunner(model, device=device)
