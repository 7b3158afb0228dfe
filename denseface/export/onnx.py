"""Export a regressor to ONNX with a dynamic batch and the config in the metadata."""
from __future__ import annotations

from pathlib import Path

from ..errors import OutputError
from ..infer.runner import ONNX_CONFIG_KEY


def export_onnx(model, path: str | Path, opset: int = 17) -> Path:
    """Write ``model`` (a DenseRegressor) to ``path``; input "image" (B,3,S,S) RGB 0..255,
    output "points" (B,N,3) normalised crop coordinates."""
    import onnx
    import torch

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create folder ({e.strerror})", path=path.parent) from None
    model = model.float().eval().cpu()
    S = model.config.input_size
    x = torch.rand(1, 3, S, S) * 255
    tmp = path.with_suffix(".tmp.onnx")
    torch.onnx.export(model, (x,), str(tmp), input_names=["image"], output_names=["points"],
                      dynamic_axes={"image": {0: "batch"}, "points": {0: "batch"}},
                      opset_version=opset, dynamo=False)
    m = onnx.load(str(tmp))
    entry = m.metadata_props.add()
    entry.key, entry.value = ONNX_CONFIG_KEY, model.config.to_json()
    onnx.save(m, str(tmp))
    tmp.replace(path)
    return path


def parity_max_abs_px(model, onnx_path: str | Path, crops) -> float:
    """Largest |torch - ONNX Runtime| over all predicted coordinates, in crop pixels, for crops
    (B, S, S, 3) uint8 RGB."""
    import numpy as np

    from ..infer.runner import OnnxRunner, TorchRunner

    a = TorchRunner(model).predict_crops(crops)
    b = OnnxRunner(onnx_path).predict_crops(crops)
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max())
