"""Face detectors behind one small interface, and the detector-box -> training-crop mapping.

``create_detector(name, **kw)`` returns an object with ``.detect(image_rgb) -> list[Detection]``
where ``image_rgb`` is (H, W, 3) uint8 RGB and boxes are ``[x0, y0, x1, y1]`` float pixels of
that image (x right, y down). Backends:

- ``"haar"``: OpenCV Haar cascades bundled with opencv-python (frontal + profile in both
  directions, merged by non-maximum suppression). No extra files, no download.
- ``"yunet"``: OpenCV's ``FaceDetectorYN`` with a YuNet ONNX file the user gives
  (``model_path=`` / ``--detector-model``); the weights are not bundled by any well-kept package.
- ``"mediapipe"``: MediaPipe BlazeFace (full-range model bundled in mediapipe 0.10.21; an
  optional extra that needs numpy<2).
- ``"default"``: the best backend whose weights come with a registry package: ``"haar"``.

Each backend carries a :class:`BoxToCrop` calibrated on 68-point ground truth (not
AFLW2000-3D, see benchmarks/compare_detectors.py --calibrate and docs/detectors.md) that turns
its box into the square crop the network was trained on (3DDFA's roi_box_from_landmarks).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import ConfigError, DenseFaceError
from ..geometry.boxes import BoxToCrop, box_iou, roi_box

DETECTORS = ("haar", "yunet", "mediapipe")
DEFAULT_DETECTOR = "haar"


@dataclass(frozen=True)
class Detection:
    """A face box [x0, y0, x1, y1] (float pixels), a score (higher = surer) and, when the
    backend gives them, 5 keypoints (5, 2): eyes, nose tip, mouth corners."""

    box: np.ndarray
    score: float
    keypoints: np.ndarray | None = None
    label: str = ""

    def scaled(self, factor: float) -> "Detection":
        """The same detection with coordinates multiplied by ``factor``."""
        kp = None if self.keypoints is None else self.keypoints * factor
        return Detection(np.asarray(self.box, np.float64) * factor, self.score, kp, self.label)


def nms(detections: list[Detection], iou: float) -> list[Detection]:
    """Non-maximum suppression (OpenCV's NMSBoxes); returns detections sorted by score."""
    if not detections:
        return []
    xywh = [[float(d.box[0]), float(d.box[1]), float(d.box[2] - d.box[0]), float(d.box[3] - d.box[1])]
            for d in detections]
    keep = cv2.dnn.NMSBoxes(xywh, [float(d.score) for d in detections], 0.0, iou)
    kept = [detections[int(i)] for i in np.asarray(keep).reshape(-1)]
    return sorted(kept, key=lambda d: -d.score)


# ---------------------------------------------------------------------------------------- Haar
@dataclass
class HaarConfig:
    """OpenCV ``detectMultiScale`` settings. ``min_size`` in pixels of the detection image.
    Score of a Haar detection: ``n / (n + min_neighbors)`` with n the merged raw hits
    (0.5 at the acceptance threshold, towards 1 for clear faces)."""

    frontal: str = "haarcascade_frontalface_default.xml"
    profile: str | None = "haarcascade_profileface.xml"
    scale_factor: float = 1.1
    min_neighbors: int = 5
    min_size: int = 24
    equalize: bool = True
    nms_iou: float = 0.3


class HaarDetector:
    """Frontal + profile (both directions, the second by mirroring) Haar cascades."""

    name = "haar"
    # Calibrated by `python benchmarks/compare_detectors.py --calibrate` (docs/detectors.md).
    crop_mapping = BoxToCrop(scale=1.182, shift_x=0.0, shift_y=0.132)

    def __init__(self, config: HaarConfig | None = None, **kw):
        self.config = config or HaarConfig(**kw)
        self.frontal = _cascade(self.config.frontal)
        self.profile = _cascade(self.config.profile) if self.config.profile else None

    def detect(self, image_rgb: np.ndarray) -> list[Detection]:
        c = self.config
        grey = cv2.cvtColor(_check_rgb(image_rgb), cv2.COLOR_RGB2GRAY)
        if c.equalize:
            grey = cv2.equalizeHist(grey)
        w = grey.shape[1]
        found = self._run(self.frontal, grey, "frontal")
        if self.profile is not None:
            found += self._run(self.profile, grey, "profile")
            mirrored = self._run(self.profile, np.ascontiguousarray(grey[:, ::-1]), "profile_mirrored")
            for d in mirrored:  # x -> (w - x): boxes back into the unmirrored image
                x0, y0, x1, y1 = d.box
                found.append(Detection(np.array([w - x1, y0, w - x0, y1]), d.score, None, d.label))
        return nms(found, c.nms_iou)

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
        raise DenseFaceError("cannot load the Haar cascade (is opencv-python installed with its "
                             "data files?)", path=path)
    return cascade


# --------------------------------------------------------------------------------------- YuNet
@dataclass
class YuNetConfig:
    """``cv2.FaceDetectorYN`` settings; ``model_path`` is a YuNet ONNX file (OpenCV Zoo)."""

    model_path: str = ""
    score_threshold: float = 0.6
    nms_threshold: float = 0.3
    top_k: int = 5000


class YuNetDetector:
    """YuNet through OpenCV's FaceDetectorYN; also returns 5 keypoints per face."""

    name = "yunet"
    # Calibrated by `python benchmarks/compare_detectors.py --calibrate` (docs/detectors.md).
    crop_mapping = BoxToCrop(scale=1.294, shift_x=-0.002, shift_y=0.138)

    def __init__(self, config: YuNetConfig | None = None, **kw):
        self.config = config or YuNetConfig(**kw)
        path = Path(self.config.model_path) if self.config.model_path else None
        if path is None:
            raise ConfigError("the 'yunet' detector needs a YuNet ONNX file: pass "
                              "--detector-model PATH (e.g. face_detection_yunet.onnx from the OpenCV Zoo)")
        if not path.is_file():
            raise DenseFaceError("YuNet model file does not exist", path=path)
        c = self.config
        try:
            self.net = cv2.FaceDetectorYN.create(str(path), "", (320, 320), c.score_threshold,
                                                 c.nms_threshold, c.top_k)
        except cv2.error as e:
            raise DenseFaceError(f"cannot load the YuNet model ({str(e).strip().splitlines()[-1]})",
                                 path=path) from None

    def detect(self, image_rgb: np.ndarray) -> list[Detection]:
        image_rgb = _check_rgb(image_rgb)
        h, w = image_rgb.shape[:2]
        self.net.setInputSize((w, h))
        _, faces = self.net.detect(cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))
        out = []
        for f in (faces if faces is not None else []):
            x, y, bw, bh = (float(v) for v in f[:4])
            out.append(Detection(np.array([x, y, x + bw, y + bh]), float(f[14]),
                                 np.asarray(f[4:14], np.float64).reshape(5, 2), "yunet"))
        return sorted(out, key=lambda d: -d.score)


# ----------------------------------------------------------------------------------- MediaPipe
@dataclass
class MediaPipeConfig:
    """MediaPipe face detection: model 1 = full range (faces up to ~5 m), 0 = short range."""

    model_selection: int = 1
    min_detection_confidence: float = 0.5


class MediaPipeDetector:
    """BlazeFace from the optional ``mediapipe`` package (0.10.21 bundles its .tflite files)."""

    name = "mediapipe"
    # Not calibrated here (mediapipe is not installed in the development environment);
    # BlazeFace boxes are tight like YuNet's, so YuNet's mapping is used.
    crop_mapping = YuNetDetector.crop_mapping

    def __init__(self, config: MediaPipeConfig | None = None, **kw):
        self.config = config or MediaPipeConfig(**kw)
        try:
            import mediapipe as mp  # noqa: F401
        except ImportError:
            raise ConfigError("the 'mediapipe' detector needs the optional mediapipe package: "
                              "pip install 'denseface[mediapipe]' (mediapipe 0.10.21, which needs "
                              "numpy<2); or use --detector haar / yunet") from None
        self._detector = mp.solutions.face_detection.FaceDetection(
            model_selection=self.config.model_selection,
            min_detection_confidence=self.config.min_detection_confidence)

    def detect(self, image_rgb: np.ndarray) -> list[Detection]:
        image_rgb = _check_rgb(image_rgb)
        h, w = image_rgb.shape[:2]
        result = self._detector.process(image_rgb)
        out = []
        for det in result.detections or []:
            bb = det.location_data.relative_bounding_box
            box = np.array([bb.xmin * w, bb.ymin * h, (bb.xmin + bb.width) * w, (bb.ymin + bb.height) * h])
            kp = np.array([[k.x * w, k.y * h] for k in det.location_data.relative_keypoints])
            out.append(Detection(box, float(det.score[0]), kp, "mediapipe"))
        return sorted(out, key=lambda d: -d.score)


# -------------------------------------------------------------------------------------- factory
_BACKENDS = {"haar": HaarDetector, "yunet": YuNetDetector, "mediapipe": MediaPipeDetector}


def create_detector(name: str = "default", **kw):
    """A detector by name ("default", "haar", "yunet", "mediapipe"); ``kw`` go to its config
    (e.g. ``model_path=`` for yunet). An object with ``.detect`` is returned as is."""
    if hasattr(name, "detect"):
        return name
    key = DEFAULT_DETECTOR if name in (None, "default") else str(name).lower()
    if key not in _BACKENDS:
        raise ConfigError(f"unknown detector '{name}' (known: default, {', '.join(DETECTORS)})")
    cls = _BACKENDS[key]
    try:
        return cls(**kw)
    except TypeError as e:
        raise ConfigError(f"bad option for the '{key}' detector: {e}") from None


def crop_mapping_of(detector):
    """The detector's calibrated box -> crop mapping (the landmark-box policy, roi_box, for a
    user detector that has none)."""
    return getattr(detector, "crop_mapping", None) or roi_box


def _check_rgb(image: np.ndarray) -> np.ndarray:
    a = np.asarray(image)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
        raise DenseFaceError(f"detectors take (H, W, 3) uint8 RGB images, got {a.shape} {a.dtype}")
    return np.ascontiguousarray(a)


__all__ = ["BoxToCrop", "DEFAULT_DETECTOR", "DETECTORS", "Detection", "HaarConfig", "HaarDetector",
           "MediaPipeConfig", "MediaPipeDetector", "YuNetConfig", "YuNetDetector", "box_iou",
           "create_detector", "crop_mapping_of", "nms"]
