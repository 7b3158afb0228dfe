"""``"haar"``: OpenCV's Haar cascades from the opencv-python wheel (the last resort of
``"default"``).

Frontal + profile cascade, the profile one also on the mirrored image (the cascade only knows
one direction), merged by NMS. Boxes ``[x0, y0, x1, y1]`` float image pixels (x right, y down).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .base import (Detection, DetectorBackend, DetectorUnavailable, _check_rgb, nms, opencv_threads,
                   register_detector, sorted_by_score)


@dataclass
class HaarConfig:
    """OpenCV ``detectMultiScale`` settings. ``min_size`` in pixels of the detection image.
    Score of a Haar detection: ``n / (n + min_neighbors)`` with n the merged raw hits
    (0.5 at the acceptance threshold, towards 1 for clear faces), so the default
    ``score_threshold`` 0.5 keeps every accepted face. ``threads``: OpenCV threads while
    detecting (None: OpenCV's current setting; the previous value is restored)."""

    score_threshold: float = 0.5
    threads: int | None = None
    frontal: str = "haarcascade_frontalface_default.xml"
    profile: str | None = "haarcascade_profileface.xml"
    scale_factor: float = 1.1
    min_neighbors: int = 5
    min_size: int = 24
    equalize: bool = True
    nms_iou: float = 0.3


@register_detector("haar", priority=40)
class HaarDetector(DetectorBackend):
    """Frontal + profile (both directions, the second by mirroring) Haar cascades."""

    Config = HaarConfig

    def load(self) -> None:
        self.frontal = _cascade(self.config.frontal)
        self.profile = _cascade(self.config.profile) if self.config.profile else None

    def detect(self, image_rgb: np.ndarray) -> list[Detection]:
        c = self.config
        grey = cv2.cvtColor(_check_rgb(image_rgb), cv2.COLOR_RGB2GRAY)
        if c.equalize:
            grey = cv2.equalizeHist(grey)
        w = grey.shape[1]
        with opencv_threads(c.threads):
            found = self._run(self.frontal, grey, "frontal")
            if self.profile is not None:
                found += self._run(self.profile, grey, "profile")
                mirrored = self._run(self.profile, np.ascontiguousarray(grey[:, ::-1]), "profile_mirrored")
                for d in mirrored:  # x -> (w - x): boxes back into the unmirrored image
                    x0, y0, x1, y1 = d.box
                    found.append(Detection(np.array([w - x1, y0, w - x0, y1]), d.score, None, d.label))
        return sorted_by_score(nms(found, c.nms_iou), c.score_threshold)

    def _run(self, cascade: cv2.CascadeClassifier, grey: np.ndarray, label: str) -> list[Detection]:
        c = self.config
        if min(grey.shape) < c.min_size:
            return []
        rects, hits = cascade.detectMultiScale2(grey, c.scale_factor, c.min_neighbors,
                                                minSize=(c.min_size, c.min_size))
        out = []
        for (x, y, bw, bh), n in zip(np.asarray(rects).reshape(-1, 4), np.asarray(hits).reshape(-1)):
            out.append(Detection(np.array([x, y, x + bw, y + bh], np.float64),
                                 float(n / (n + c.min_neighbors)), None, label))
        return out


def _cascade(name: str) -> cv2.CascadeClassifier:
    path = Path(name) if Path(name).is_file() else Path(cv2.data.haarcascades) / name
    cascade = cv2.CascadeClassifier(str(path))
    if cascade.empty():
        raise DetectorUnavailable("cannot load the Haar cascade (is opencv-python installed with its "
                                  "data files?)", path=path)
    return cascade
