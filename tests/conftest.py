"""Shared fixtures. Data-dependent tests skip with a reason when ../shared is absent, torch tests
when torch, torchvision or timm is missing or broken (need_torch), so the light install
(``pip install -e ".[test]"``) runs the inference, CLI, I/O, geometry and web tests."""
from __future__ import annotations

import functools
import importlib

import pytest

from denseface.errors import first_line
from denseface.paths import shared_root

SHARED = shared_root()

#: what the torch tests need, all from the [train] extra (timm imports torchvision)
TORCH_MODULES = ("torch", "torchvision", "timm")


@functools.lru_cache(maxsize=None)
def torch_problem() -> str | None:
    """Why the tests that need torch cannot run here (None: they can): torch, torchvision or
    timm missing, or failing on import (a torch/torchvision mismatch raises RuntimeError, a
    half-installed torch OSError)."""
    for name in TORCH_MODULES:
        try:
            importlib.import_module(name)
        except Exception as e:     # any failure on import means: unusable here
            return (f"{name} is not usable here ({type(e).__name__}: {first_line(e, 120)}); "
                    "torch test skipped (the full test command installs the [dev] extra)")
    return None


def need_torch(module: bool = False) -> None:
    """Skip the test (``module``: the whole test module) unless torch, torchvision and timm import."""
    reason = torch_problem()
    if reason is not None:
        pytest.skip(reason, allow_module_level=module)


def need_modules(*names: str) -> None:
    """Skip the test unless each of the modules ``names`` (optional extras) imports."""
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as e:
            pytest.skip(f"{name} is not usable here ({type(e).__name__}: {first_line(e, 120)}): "
                        "test of an optional extra skipped")


def need_shared(*parts: str):
    """Skip the test unless shared/<parts> exists; return the path."""
    if SHARED is None:
        pytest.skip("no shared data folder (../shared or $DENSEFACE_SHARED): data test skipped")
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"{p} is missing: data test skipped")
    return p


@pytest.fixture(scope="session")
def bfm():
    from denseface.mesh import load_bfm
    return load_bfm(need_shared("models", "bfm_3ddfa_53215"))


@pytest.fixture(scope="session")
def landmark_set():
    from denseface.landmarks import load_landmark_set
    return load_landmark_set()


@pytest.fixture(scope="session")
def small_models(tmp_path_factory):
    """Small untrained ONNX models for inference plumbing tests, built without torch
    (tests.synthetic.tiny_onnx_model), so these tests run on the light install.

    onnx: a tiny random network at 64 px (seeded); mean_onnx: the same interface with a zero
    head whose bias is the mean face in the training crop, so it predicts the mean face for any
    input: exact geometry for frame tests."""
    import types

    from denseface.landmarks import load_landmark_set
    from denseface.models.codec import ModelConfig
    from tests.synthetic import mean_face_in_crop, tiny_onnx_model

    folder = tmp_path_factory.mktemp("small_models")
    ls = load_landmark_set()
    mean = mean_face_in_crop(ls.mean_shape, ls.idx68, 64, ModelConfig().roi_factor)
    return types.SimpleNamespace(onnx=tiny_onnx_model(folder / "small.onnx", 64, mean_points=mean),
                                 mean_onnx=tiny_onnx_model(folder / "mean_face.onnx", 64,
                                                           mean_points=mean, weight_scale=0.0),
                                 mean_crop_points=mean, input_size=64)


@pytest.fixture(scope="session")
def small_torch(tmp_path_factory):
    """A small untrained torch model (mobilenetv2_050 at 64 px, random init, seeded) as a
    checkpoint ``pt`` and its ONNX export ``onnx``: for export, parity and training tests.
    Skips when torch is missing or broken."""
    need_torch()
    import types

    import torch

    from denseface.export.onnx import export_onnx
    from denseface.models import create_model, save_checkpoint

    folder = tmp_path_factory.mktemp("small_torch")
    torch.manual_seed(0)
    model = create_model("mobilenetv2_050", input_size=64)
    save_checkpoint(model, folder / "small.pt")
    export_onnx(model, folder / "small.onnx")
    return types.SimpleNamespace(pt=folder / "small.pt", onnx=folder / "small.onnx", input_size=64)
