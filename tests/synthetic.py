"""Synthetic inputs for tests and benchmarks (not part of the library)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from denseface.errors import OutputError
from denseface.infer.pose import Y_FLIP


def mean_face_in_crop(mean_shape: np.ndarray, idx68: np.ndarray, size: int,
                      roi_factor: float = np.sqrt(2.0)) -> np.ndarray:
    """The mean face, frontal, placed in a ``size`` crop exactly as the training crop policy
    places a face: (N, 3) crop pixels (y down, z towards the viewer, min z = 0) whose 68-point
    box is centred with its longer side ``size / roi_factor``, so that
    ``roi_box_from_landmarks(points[idx68], roi_factor) == [0, 0, size, size]``."""
    p = np.asarray(mean_shape, np.float64) @ Y_FLIP
    lm = p[idx68, :2]
    lo, hi = lm.min(0), lm.max(0)
    s = size / roi_factor / (hi - lo).max()
    out = p * s
    out[:, :2] += size / 2.0 - s * 0.5 * (lo + hi)
    out[:, 2] -= out[:, 2].min()
    return out


def write_test_video(path: str | Path, frames: np.ndarray, fps: float = 25.0) -> Path:
    """Write RGB frames (T, H, W, 3) uint8 as an mp4 (mp4v)."""
    path = Path(path)
    t, h, w = frames.shape[:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        raise OutputError("cannot write video", path=path)
    for f in frames:
        writer.write(cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def tiny_onnx_model(path: str | Path, input_size: int = 64, seed: int = 0,
                    mean_points: np.ndarray | None = None, weight_scale: float = 0.05) -> Path:
    """A tiny untrained denseface ONNX model, built with the ``onnx`` helper API (no torch): the
    exported models' interface (input "image" (B, 3, S, S) RGB 0..255, output "points" (B, 520, 3)
    normalised crop coordinates, the config in the metadata) on a one-layer network: normalise,
    a 4x4 stride-4 convolution to 32 channels, ReLU, global average pooling and a linear head
    whose bias is ``mean_points`` (crop pixels; None: zero) and whose weights are seeded random
    values times ``weight_scale`` (0: the model predicts ``mean_points`` for any input)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from denseface.models.codec import ModelConfig, encode_points
    from denseface.models.runners import ONNX_CONFIG_KEY, POINTS

    config = ModelConfig(backbone="tiny_test_cnn", input_size=input_size)
    rng = np.random.default_rng(seed)
    n_out = config.num_points * 3
    bias = (np.zeros(n_out, np.float32) if mean_points is None
            else encode_points(mean_points, input_size).reshape(-1))
    weights = {
        "mean": np.asarray(config.mean, np.float32).reshape(1, 3, 1, 1),
        "std": np.asarray(config.std, np.float32).reshape(1, 3, 1, 1),
        "conv_w": rng.normal(0, 0.5, (32, 3, 4, 4)).astype(np.float32),
        "conv_b": np.zeros(32, np.float32),
        "head_w": (rng.normal(0, 1, (n_out, 32)) * weight_scale).astype(np.float32),
        "head_b": bias.astype(np.float32),
        "shape": np.array([-1, config.num_points, 3], np.int64),
    }
    nodes = [
        helper.make_node("Sub", ["image", "mean"], ["centred"]),
        helper.make_node("Div", ["centred", "std"], ["x"]),
        helper.make_node("Conv", ["x", "conv_w", "conv_b"], ["conv"], kernel_shape=[4, 4], strides=[4, 4]),
        helper.make_node("Relu", ["conv"], ["act"]),
        helper.make_node("GlobalAveragePool", ["act"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["features"]),
        helper.make_node("Gemm", ["features", "head_w", "head_b"], ["flat"], transB=1),
        helper.make_node("Reshape", ["flat", "shape"], [POINTS]),
    ]
    graph = helper.make_graph(
        nodes, "tiny_test_cnn",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, input_size, input_size])],
        [helper.make_tensor_value_info(POINTS, TensorProto.FLOAT, ["batch", config.num_points, 3])],
        [numpy_helper.from_array(v, k) for k, v in weights.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8     # readable by every supported onnxruntime (>= 1.17)
    entry = model.metadata_props.add()
    entry.key, entry.value = ONNX_CONFIG_KEY, config.to_json()
    onnx.checker.check_model(model)
    path = Path(path)
    onnx.save(model, str(path))
    return path
