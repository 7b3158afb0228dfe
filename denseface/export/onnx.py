"""Export a regressor to ONNX with a dynamic batch and the config in the metadata."""
from __future__ import annotations

from pathlib import Path

from ..errors import OutputError
from ..io.files import atomic_output
from ..models.runners import ONNX_CONFIG_KEY


def store_weights_fp16(m, min_size: int = 64) -> None:
    """In place: float32 initializers of at least ``min_size`` values are stored as fp16 and
    cast back to float32 by a Cast node, so the file halves while every operation still runs
    in float32 (the only change is the weights' fp16 rounding)."""
    import numpy as np
    from onnx import helper, numpy_helper

    g = m.graph
    casts = []
    for init in list(g.initializer):
        if init.data_type != 1:  # FLOAT
            continue
        arr = numpy_helper.to_array(init)
        if arr.size < min_size:
            continue
        name = init.name
        half = numpy_helper.from_array(arr.astype(np.float16), name + "__fp16")
        g.initializer.remove(init)
        g.initializer.append(half)
        casts.append(helper.make_node("Cast", [name + "__fp16"], [name], to=1, name=name + "__cast"))
    for node in reversed(casts):
        g.node.insert(0, node)


def export_onnx(model, path: str | Path, opset: int = 17, weights_fp16: bool = False) -> Path:
    """Write ``model`` (a DenseRegressor) to ``path``; input "image" (B,3,S,S) RGB 0..255,
    output "points" (B,N,3) normalised crop coordinates, with the second head
    (``config.head_300w``) "landmarks68_300w" (B,68,2) in the same coordinates, and with the
    uncertainty head (``config.head_uncertainty``) "uncertainty" (B,N), each point's sigma as a
    fraction of the crop side. ``weights_fp16``
    stores the weights in fp16 (half the file) while computing in float32 (see
    store_weights_fp16)."""
    import onnx
    import torch

    from ..models.runners import output_names

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create folder ({e.strerror})", path=path.parent) from None
    model = model.float().eval().cpu()
    S = model.config.input_size
    x = torch.rand(1, 3, S, S) * 255
    names = list(output_names(model.config))
    graph = _AllOutputs(model) if len(names) > 1 else model
    with atomic_output(path) as tmp:
        torch.onnx.export(graph, (x,), str(tmp), input_names=["image"], output_names=names,
                          dynamic_axes={"image": {0: "batch"}, **{n: {0: "batch"} for n in names}},
                          opset_version=opset, dynamo=False)
        m = onnx.load(str(tmp))
        if weights_fp16:
            store_weights_fp16(m)
        entry = m.metadata_props.add()
        entry.key, entry.value = ONNX_CONFIG_KEY, model.config.to_json()
        onnx.save(m, str(tmp))
    return path


def _AllOutputs(model):
    """A module whose forward is ``model.forward_outputs`` (every head as a graph output)."""
    import torch

    class AllOutputs(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            return self.m.forward_outputs(x)

    return AllOutputs(model).eval()


def parity_max_abs_px(model, onnx_path: str | Path, crops) -> float:
    """Largest |torch - ONNX Runtime| over all predicted coordinates of every output, in crop
    pixels, for crops (B, S, S, 3) uint8 RGB."""
    import numpy as np

    from ..models.runners import OnnxRunner, TorchRunner

    a = TorchRunner(model).predict_outputs(crops)
    b = OnnxRunner(onnx_path).predict_outputs(crops)
    return max(float(np.abs(a[k].astype(np.float64) - b[k].astype(np.float64)).max()) for k in a)


def export_eye_stage(net, path: str | Path, opset: int = 17) -> Path:
    """Write the eye stage's network (denseface.models.eye_net.EyeNet) to ``path``: input "patch"
    (B, 3, H, W) RGB 0..255, output "eye_points" (B, 6, 2) patch pixels; its EyeConfig in the
    metadata (denseface.infer.eyes.CONFIG_KEY)."""
    import onnx
    import torch

    from ..infer.eyes import CONFIG_KEY

    path = Path(path)
    net = net.float().eval().cpu()
    c = net.config
    with atomic_output(path) as tmp:
        torch.onnx.export(net, (torch.rand(1, 3, c.height, c.width) * 255,), str(tmp), input_names=["patch"],
                          output_names=["eye_points"], dynamic_axes={"patch": {0: "batch"}, "eye_points": {0: "batch"}},
                          opset_version=opset, dynamo=False)
        m = onnx.load(str(tmp))
        entry = m.metadata_props.add()
        entry.key, entry.value = CONFIG_KEY, c.to_json()
        onnx.save(m, str(tmp))
    return path
