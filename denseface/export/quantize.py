"""Smaller/faster variants of an exported ONNX model: fp16 and int8 (ONNX Runtime tools).

- fp16: ``onnxruntime.transformers.float16.convert_float_to_float16`` with float32 inputs and
  outputs kept (Cast nodes at the borders), so runners feed it exactly like the fp32 model.
- int8 dynamic: weights int8, activations quantised on the fly (``quantize_dynamic``); needs no
  data.
- int8 static: QDQ format, per-channel int8 weights, activation ranges calibrated on real face
  crops (``quantize_static``, MinMax), e.g. 200 training crops.

Every variant keeps the denseface config metadata, so ``open_runner`` reads it as usual.
"""
from __future__ import annotations

import logging
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..errors import DenseFaceError, OutputError
from ..io.files import atomic_output
from ..models.runners import ONNX_CONFIG_KEY

INT8_MODES = ("dynamic", "static")


def _load(path: str | Path):
    import onnx

    path = Path(path)
    if not path.exists():
        raise DenseFaceError("ONNX file does not exist", path=path)
    try:
        return onnx.load(str(path))
    except Exception as e:
        raise DenseFaceError(f"not an ONNX file ({type(e).__name__})", path=path) from None


def _metadata(model) -> dict[str, str]:
    return {p.key: p.value for p in model.metadata_props}


def _save_with_metadata(model, path: Path, metadata: dict[str, str]) -> Path:
    import onnx

    del model.metadata_props[:]
    for k, v in metadata.items():
        e = model.metadata_props.add()
        e.key, e.value = k, v
    with atomic_output(path) as tmp:
        onnx.save(model, str(tmp))
    return path


def unfold_fp16_storage(model) -> int:
    """In place: undo ``store_weights_fp16`` (fp16 initializer -> Cast to float32) by turning
    each such pair back into a float32 initializer, so the quantisers see plain weights.
    Returns the number of weights unfolded."""
    import numpy as np
    from onnx import TensorProto, numpy_helper

    g = model.graph
    fp16 = {i.name: i for i in g.initializer if i.data_type == TensorProto.FLOAT16}
    casts = [n for n in g.node if n.op_type == "Cast" and len(n.input) == 1 and n.input[0] in fp16
             and any(a.name == "to" and a.i == TensorProto.FLOAT for a in n.attribute)]
    for node in casts:
        half = fp16[node.input[0]]
        g.initializer.append(numpy_helper.from_array(
            numpy_helper.to_array(half).astype(np.float32), node.output[0]))
        g.node.remove(node)
    used = {i for n in g.node for i in n.input}
    for name, init in fp16.items():
        if name not in used:
            g.initializer.remove(init)
    return len(casts)


def convert_fp16(src: str | Path, dst: str | Path) -> Path:
    """Write an fp16 copy of ``src`` (float32 I/O kept)."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = _load(src)
    meta = _metadata(model)
    unfold_fp16_storage(model)
    half = convert_float_to_float16(model, keep_io_types=True)
    return _save_with_metadata(half, Path(dst), meta)


class CropReader:
    """Calibration data for quantize_static: batches of crops (B, S, S, 3) uint8 RGB."""

    def __init__(self, crops: np.ndarray, input_name: str, batch: int = 16):
        x = np.asarray(crops, np.float32).transpose(0, 3, 1, 2)
        self._batches = iter([{input_name: np.ascontiguousarray(x[i:i + batch])}
                              for i in range(0, len(x), batch)])

    def get_next(self):
        return next(self._batches, None)


def load_crops(folder: str | Path, size: int, count: int = 200, seed: int = 0) -> np.ndarray:
    """``count`` images from a folder (sorted, then a fixed random pick), resized to size x size
    RGB uint8: calibration data for static int8 (e.g. aflw_pl/train/images)."""
    import cv2

    from ..io.images import read_image, to_rgb

    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not files:
        raise DenseFaceError("no .jpg/.png images for calibration", path=folder)
    pick = np.random.default_rng(seed).permutation(len(files))[:count]
    crops = [cv2.resize(to_rgb(read_image(files[i])), (size, size), interpolation=cv2.INTER_AREA)
             for i in sorted(pick)]
    return np.stack(crops)


def quantize_int8(src: str | Path, dst: str | Path, mode: str = "dynamic",
                  calibration_crops: np.ndarray | None = None) -> Path:
    """Write an int8 copy of ``src``: ``mode`` "dynamic" (no data) or "static" (QDQ, needs
    ``calibration_crops`` (B, S, S, 3) uint8 RGB)."""
    import onnx
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType,
                                          quantize_dynamic, quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if mode not in INT8_MODES:
        raise DenseFaceError(f"unknown int8 mode '{mode}' (expected one of {INT8_MODES})")
    src, dst = Path(src), Path(dst)
    model = _load(src)
    meta = _metadata(model)
    try:
        scratch = tempfile.TemporaryDirectory(dir=dst.parent, prefix=".denseface_quantize_")
    except OSError as e:
        raise OutputError(f"cannot write ({e.strerror})", path=dst) from None
    pre, tmp = Path(scratch.name) / "pre.onnx", Path(scratch.name) / "q.onnx"
    try:
        with _quiet_root_logger():
            if unfold_fp16_storage(model):  # weights stored as fp16 + Cast: plain float32 first
                onnx.save(model, str(tmp))
                src = tmp
            # shape inference + graph optimisation first (ORT's recommended pre-processing)
            quant_pre_process(str(src), str(pre))
            if mode == "dynamic":
                quantize_dynamic(str(pre), str(tmp), weight_type=QuantType.QInt8, per_channel=True)
            else:
                if calibration_crops is None or len(calibration_crops) == 0:
                    raise DenseFaceError("static int8 quantisation needs calibration crops "
                                         "(--calib-images DIR)")
                reader = CropReader(calibration_crops, model.graph.input[0].name)
                quantize_static(str(pre), str(tmp), reader, quant_format=QuantFormat.QDQ,
                                per_channel=True, activation_type=QuantType.QInt8,
                                weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax)
        q = onnx.load(str(tmp))
    except OSError as e:
        raise OutputError(f"cannot write ({e.strerror})", path=dst) from None
    finally:
        scratch.cleanup()
    return _save_with_metadata(q, dst, meta)


@contextmanager
def _quiet_root_logger():
    """onnxruntime.quantization warns through the root logger; keep the CLI output clean."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def variant_path(path: str | Path, tag: str) -> Path:
    """Y.onnx -> Y.<tag>.onnx"""
    p = Path(path)
    return p.with_name(f"{p.stem}.{tag}{p.suffix or '.onnx'}")


def has_config(path: str | Path) -> bool:
    return ONNX_CONFIG_KEY in _metadata(_load(path))
