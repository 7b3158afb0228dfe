"""Shared fixtures. Data-dependent tests skip with a reason when ../shared is absent."""
from __future__ import annotations

import pytest

from denseface.paths import shared_root

SHARED = shared_root()


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
    """Small untrained models for inference plumbing tests (until the shipped model lands).

    pt / onnx: mobilenetv2_050 at 64 px, random init (seeded).
    mean_onnx: the same network with a zero head whose bias is the mean face in the training
    crop, so it predicts the mean face for any input: exact geometry for frame tests."""
    import types

    import numpy as np
    import onnx
    import torch
    from onnx import numpy_helper

    from denseface.export.onnx import export_onnx
    from tests.synthetic import mean_face_in_crop
    from denseface.landmarks import load_landmark_set
    from denseface.models import create_model, encode_points, save_checkpoint

    folder = tmp_path_factory.mktemp("small_models")
    torch.manual_seed(0)
    model = create_model("mobilenetv2_050", input_size=64)
    save_checkpoint(model, folder / "small.pt")
    export_onnx(model, folder / "small.onnx")
    ls = load_landmark_set()
    mean = mean_face_in_crop(ls.mean_shape, ls.idx68, 64, model.config.roi_factor)
    graph = onnx.load(str(folder / "small.onnx"))  # same network: zero head, bias = mean face
    (gemm,) = [n for n in graph.graph.node if n.op_type == "Gemm"]
    for init in graph.graph.initializer:
        if init.name == gemm.input[1]:
            init.CopyFrom(numpy_helper.from_array(np.zeros_like(numpy_helper.to_array(init)), init.name))
        elif init.name == gemm.input[2]:
            init.CopyFrom(numpy_helper.from_array(encode_points(mean, 64).reshape(-1), init.name))
    onnx.save(graph, str(folder / "mean_face.onnx"))
    return types.SimpleNamespace(pt=folder / "small.pt", onnx=folder / "small.onnx",
                                 mean_onnx=folder / "mean_face.onnx", mean_crop_points=mean,
                                 input_size=64)
