"""Evaluation: the benchmarks (AFLW2000-3D 68 points, AFLW 21 points, dense alignment, head
pose, 300-W), each one module with a class registered by ``@register_benchmark``
(:mod:`denseface.eval.protocol`), CED curves, the cost table and the loss ablation. Works with
any model: a torch checkpoint, an ONNX file, or a callable ``(image_rgb, box) -> (68, 2|3)``."""
from .aflw2000 import Aflw2000Config, evaluate_aflw2000
from ..metrics import bbox_size, ced_curve, nme_2d, nme_3d, nme_visible, yaw_bin
from .predictions import RunConfig
from .predictors import open_predictor
from .report import read_report, write_result

__all__ = ["Aflw2000Config", "evaluate_aflw2000", "bbox_size", "ced_curve", "nme_2d", "nme_3d",
           "nme_visible", "yaw_bin", "RunConfig", "open_predictor",
           "read_report", "write_result"]
