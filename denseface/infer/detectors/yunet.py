"""``"yunet"``: OpenCV's ``FaceDetectorYN`` with a YuNet ONNX file that the user gives
(``model_path=`` / ``--detector-model``, e.g. ``face_detection_yunet.onnx`` of the OpenCV Zoo,
MIT). No well-kept registry package bundles the file, so it is never a default.

Boxes ``[x0, y0, x1, y1]`` float image pixels (x right, y down) and 5 keypoints.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ...errors import ConfigError
from ...geometry.boxes import BoxToCrop
from .base import Detection, DetectorUnavailable, _check_rgb, make_config, opencv_threads, sorted_by_score


@dataclass
class YuNetConfig:
    """``cv2.FaceDetectorYN`` settings; ``model_path`` is a YuNet ONNX file (OpenCV Zoo).
    ``threads``: OpenCV threads while detecting (None: OpenCV's current setting; the previous
    value is restored)."""

    score_threshold: float = 0.6
    threads: int | None = None
    model_path: str = ""
    nms_threshold: float = 0.3
    top_k: int = 5000


class YuNetDetector:
    """YuNet through OpenCV's FaceDetectorYN; also returns 5 keypoints per face."""

    name = "yunet"
    Config = YuNetConfig
    # Calibrated by `python benchmarks/compare_detectors.py --calibrate` (docs/detectors.md).
    crop_mapping = BoxToCrop(scale=1.294, shift_x=-0.002, shift_y=0.138)

    def __init__(self, config: YuNetConfig | None = None, **options):
        self.config = c = make_config(self.name, YuNetConfig, config, options)
        path = Path(c.model_path) if c.model_path else None
        if path is None:
            raise ConfigError("the 'yunet' detector needs a YuNet ONNX file: pass "
                              "--detector-model PATH (e.g. face_detection_yunet.onnx from the OpenCV Zoo)")
        if not path.is_file():
            raise DetectorUnavailable("YuNet model file does not exist", path=path)
        try:
            self.net = cv2.FaceDetectorYN.create(str(path), "", (320, 320), float(c.score_threshold),
                                                 c.nms_threshold, c.top_k)
        except cv2.error as e:
            raise DetectorUnavailable(f"cannot load the YuNet model ({str(e).strip().splitlines()[-1]})",
                                      path=path) from None
        self._lock = threading.Lock()  # one input size and one forward pass at a time

    def detect(self, image_rgb: np.ndarray) -> list[Detection]:
        image_rgb = _check_rgb(image_rgb)
        h, w = image_rgb.shape[:2]
        with self._lock, opencv_threads(self.config.threads):
            self.net.setInputSize((w, h))
            _, faces = self.net.detect(cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))
        out = []
        for f in (faces if faces is not None else []):
            x, y, bw, bh = (float(v) for v in f[:4])
            out.append(Detection(np.array([x, y, x + bw, y + bh]), float(f[14]),
                                 np.asarray(f[4:14], np.float64).reshape(5, 2), "yunet"))
        return sorted_by_score(out, self.config.score_threshold)
