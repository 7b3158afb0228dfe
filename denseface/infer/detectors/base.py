"""The detector interface, the registry and the helpers every backend shares.

Frames: a detector takes an ``(H, W, 3)`` uint8 **RGB** image and returns boxes
``[x0, y0, x1, y1]`` as float64 pixels of that image (x right, y down; x1/y1 are the right
and bottom edges), best score first. Keypoints, when a backend gives them, are (5, 2) pixels of
the same image: right eye, left eye, nose tip, right and left mouth corner (the person's right
and left).

Anything with a ``name``, a ``crop_mapping`` and ``detect(image_rgb) -> list[Detection]`` is a
detector (the :class:`FaceDetector` protocol, for third-party objects). The built-in backends
subclass :class:`DetectorBackend` and are registered with the :func:`register_detector`
decorator (in the manner of timm's ``@register_model``)::

    @register_detector("mine", priority=50)   # priority: its place in "default" (None: never)
    class MyDetector(DetectorBackend):
        Config = MyConfig            # a dataclass with at least score_threshold and threads

        def load(self): ...          # open files; self.config is set
        def detect(self, image_rgb): ...

The decorator sets the class's ``name`` and its calibrated ``crop_mapping``
(:class:`~denseface.geometry.boxes.BoxToCrop`, detector box -> training crop), read from
``data/crop_mappings.json``, the file that ``benchmarks/compare_detectors.py --calibrate``
writes. :func:`create_detector` builds a backend from its name and options; ``"default"`` walks
:func:`default_chain` (the backends registered with a ``priority=``, lowest first) and returns
the first backend that loads.
"""
from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import json
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ClassVar, Protocol, runtime_checkable

import cv2
import numpy as np

from ...errors import EXIT_USAGE, ConfigError, DenseFaceError, check_whole_number, first_line
from ...geometry.boxes import BoxToCrop, roi_box
from ...io.files import sha256_of

#: The name that means "the best backend that is installed and loads".
DEFAULT_DETECTOR = "default"
#: Options that every built-in backend takes (so they may be given to "default" too).
COMMON_OPTIONS = ("score_threshold", "threads")


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


@runtime_checkable
class FaceDetector(Protocol):
    """What DenseFace needs from a detector. ``crop_mapping`` may be None (then the training
    policy :func:`~denseface.geometry.boxes.roi_box` is applied to its boxes)."""

    name: str
    crop_mapping: BoxToCrop | None

    def detect(self, image_rgb: np.ndarray) -> list[Detection]:
        """(H, W, 3) uint8 RGB -> detections in its pixels, best score first."""
        ...


class DetectorUnavailable(DenseFaceError):
    """A backend cannot run here: its package, a file or a CPU feature is missing, a file's
    sha256 is wrong, or its library does not load. ``"default"`` then tries the next one."""

    exit_code = EXIT_USAGE


def nms(detections: list[Detection], iou: float) -> list[Detection]:
    """Non-maximum suppression (OpenCV's NMSBoxes); returns detections sorted by score."""
    if not detections:
        return []
    xywh = [[float(d.box[0]), float(d.box[1]), float(d.box[2] - d.box[0]), float(d.box[3] - d.box[1])]
            for d in detections]
    keep = cv2.dnn.NMSBoxes(xywh, [float(d.score) for d in detections], 0.0, iou)
    kept = [detections[int(i)] for i in np.asarray(keep).reshape(-1)]
    return sorted(kept, key=lambda d: -d.score)


def crop_mapping_of(detector) -> Callable[[np.ndarray], np.ndarray]:
    """The detector's calibrated box -> crop mapping (the landmark-box policy, roi_box, for a
    user detector that has none)."""
    return getattr(detector, "crop_mapping", None) or roi_box


def _check_rgb(image: np.ndarray) -> np.ndarray:
    a = np.asarray(image)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
        raise DenseFaceError(f"detectors take (H, W, 3) uint8 RGB images, got {a.shape} {a.dtype}")
    return np.ascontiguousarray(a)


def sorted_by_score(detections: list[Detection], threshold: float) -> list[Detection]:
    """Detections with ``score >= threshold``, best first."""
    return sorted((d for d in detections if d.score >= threshold), key=lambda d: -d.score)


# --------------------------------------------------------------------- files of installed packages
def package_file(backend: str, package: str, relpath: str, hint: str) -> Path:
    """A file inside the installed distribution ``package``, found through its metadata (the
    package is never imported). DetectorUnavailable when the package or the file is missing."""
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        raise DetectorUnavailable(f"the '{backend}' detector needs the {package} package ({hint})") from None
    path = Path(str(dist.locate_file(relpath)))
    if not path.is_file():
        raise DetectorUnavailable(f"the installed {package} {dist.version} has no {relpath} "
                                  f"needed by the '{backend}' detector ({hint})", path=path)
    return path


def check_sha256(backend: str, path: Path, expected: str | tuple[str, ...], hint: str) -> None:
    """DetectorUnavailable unless the file's sha256 is one of ``expected``."""
    allowed = (expected,) if isinstance(expected, str) else tuple(expected)
    got = sha256_of(path)
    if got not in allowed:
        raise DetectorUnavailable(f"sha256 mismatch of the '{backend}' detector's file (got {got[:12]}..., "
                                  f"expected {' or '.join(a[:12] + '...' for a in allowed)}; {hint})",
                                  path=path)


# ---------------------------------------------------------------------------------- threads
_OPENCV_THREADS = threading.RLock()


@contextmanager
def opencv_threads(n: int | None):
    """Run a block with ``cv2.setNumThreads(n)`` and put the previous value back afterwards
    (OpenCV's thread count is global to the process). ``None`` leaves OpenCV alone."""
    if n is None:
        yield
        return
    with _OPENCV_THREADS:
        before = cv2.getNumThreads()
        cv2.setNumThreads(int(n))
        try:
            yield
        finally:
            cv2.setNumThreads(before)


# ---------------------------------------------------------------------------------- options
def make_config(name: str, config_cls, config=None, options: dict | None = None):
    """The backend's config from a ready ``config`` or from keyword ``options``; a ConfigError
    that names the backend and its options for an unknown option or a bad common value."""
    options = dict(options or {})
    if config is not None:
        if options:
            raise ConfigError(f"the '{name}' detector takes either a config or options, not both")
        cfg = config
    else:
        fields = [f.name for f in dataclasses.fields(config_cls)]
        for key in options:
            if key not in fields:
                raise ConfigError(f"the '{name}' detector has no option '{key}' "
                                  f"(options: {', '.join(fields)})")
        cfg = config_cls(**options)
    check_common_options(name, getattr(cfg, "score_threshold", None), getattr(cfg, "threads", None))
    return cfg


def check_common_options(name: str, score_threshold, threads) -> None:
    check_whole_number(f"the '{name}' detector's threads", threads, 1, none="library default")
    if score_threshold is not None:
        try:
            ok = 0.0 <= float(score_threshold) <= 1.0
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ConfigError(f"the '{name}' detector's score_threshold must be a number in [0, 1], "
                              f"got {score_threshold!r}")


# ------------------------------------------------------------------------- calibrated mappings
#: The calibrated box -> crop mappings of the backends, written by
#: ``benchmarks/compare_detectors.py --calibrate`` (non-test photos only, docs/detectors.md).
CROP_MAPPINGS_FILE = Path(__file__).with_name("data") / "crop_mappings.json"


def calibrated_crop_mapping(name: str, path: Path = CROP_MAPPINGS_FILE) -> BoxToCrop | None:
    """The calibrated :class:`BoxToCrop` of backend ``name`` from the calibration file; None
    when the file has no entry for it (then the training policy, roi_box, is applied)."""
    try:
        entry = json.loads(Path(path).read_text())["mappings"].get(name)
    except (OSError, ValueError, KeyError, AttributeError) as e:
        raise DetectorUnavailable(f"cannot read the detectors' calibration file ({first_line(e)})",
                                  path=path) from None
    if entry is None:
        return None
    return BoxToCrop(scale=float(entry["scale"]), shift_x=float(entry["shift_x"]),
                     shift_y=float(entry["shift_y"]))


# --------------------------------------------------------------------------------- registry
#: name -> the backend class (or factory), or "module:attribute" of it (imported on first use).
#: The built-in backends add themselves with the @register_detector decorator when the package
#: denseface.infer.detectors is imported (it imports every module of its folder).
REGISTRY: dict[str, object] = {}
#: name -> its place in the "default" chain (lower is tried first); a backend registered without
#: a priority is never tried by "default".
PRIORITY: dict[str, float] = {}


def default_chain() -> tuple[str, ...]:
    """What "default" tries, in order: the registered backends that have a priority, lowest first."""
    return tuple(sorted((k for k in PRIORITY if k in REGISTRY), key=lambda k: PRIORITY[k]))


def backend_names() -> tuple[str, ...]:
    """Every registered backend: the default chain's order first, then the others as registered."""
    chain = default_chain()
    return chain + tuple(k for k in REGISTRY if k not in chain)


def choices_text() -> str:
    """The names a ``--detector`` flag takes, for its help: ``"default (= yunet, else
    libfacedetection, ssd, haar: the first one that loads), yunet, ..."``, from the registry."""
    chain = default_chain()
    first = f"{chain[0]}, else {', '.join(chain[1:])}" if len(chain) > 1 else ", ".join(chain)
    return f"{DEFAULT_DETECTOR} (= {first}: the first one that loads), {', '.join(backend_names())}"


class DetectorBackend:
    """Base of the built-in backends: ``name`` and ``crop_mapping`` (set by
    :func:`register_detector`), ``Config`` (a dataclass with at least ``score_threshold`` and
    ``threads``) and one ``__init__``: the config from a ready ``config`` or from keyword
    options, checked (:func:`make_config`), then :meth:`load`."""

    name: ClassVar[str] = ""
    Config: ClassVar[type]
    crop_mapping: ClassVar[BoxToCrop | None] = None

    def __init__(self, config=None, **options):
        self.config = make_config(self.name, self.Config, config, options)
        self.load()

    def load(self) -> None:
        """Open the backend's files or libraries (``self.config`` is set); raise
        DetectorUnavailable when it cannot run here."""

    def detect(self, image_rgb: np.ndarray) -> list[Detection]:
        """(H, W, 3) uint8 RGB -> detections in its pixels, best score first."""
        raise NotImplementedError


def register_detector(name: str, factory=None, *, priority: float | None = None):
    """Add (or replace) a backend under ``name``; ``priority``: its place in the ``"default"``
    chain (lower is tried first; None: the place it had, none for a new name, which "default"
    then never tries).

    As a decorator (``@register_detector("mine")`` on a class) it also sets the class's
    ``name`` and its calibrated ``crop_mapping`` (from the calibration file, when that has an
    entry for ``name`` and the class defines none of its own), and returns the class.
    As a call, ``register_detector("mine", factory)``: ``factory(**options)`` returns an object
    with ``name``, ``crop_mapping`` and ``detect``; give it a ``Config`` dataclass attribute to
    get the option checks and messages of the built-in backends. ``factory`` may be a
    ``"module:attribute"`` string, imported when the backend is first created."""
    key = str(name).lower()
    if key == DEFAULT_DETECTOR:
        raise ConfigError(f"'{DEFAULT_DETECTOR}' is reserved for the fallback chain")
    if priority is not None:
        PRIORITY[key] = float(priority)
    if factory is not None:
        REGISTRY[key] = factory
        return factory

    def decorate(cls):
        cls.name = key
        if "crop_mapping" not in vars(cls):
            cls.crop_mapping = calibrated_crop_mapping(key)
        REGISTRY[key] = cls
        return cls

    return decorate


def backend_class(name: str):
    """The registered factory of a backend (its module is imported now)."""
    key = str(name).lower()
    if key not in REGISTRY:
        raise ConfigError(f"unknown detector '{name}' (known: {DEFAULT_DETECTOR}, {', '.join(REGISTRY)})")
    entry = REGISTRY[key]
    if isinstance(entry, str):
        module, _, attr = entry.partition(":")
        entry = getattr(importlib.import_module(module), attr)
        REGISTRY[key] = entry
    return entry


def create_detector(name="default", **options) -> FaceDetector:
    """A detector by name (``"default"`` or one of :data:`REGISTRY`, any case); ``options`` go to
    its config (e.g. ``model_path=`` for yunet, ``score_threshold=``, ``threads=``). An object
    with ``.detect`` is returned as is.

    ``"default"``: the first of :func:`default_chain` whose package is installed and loads
    (yunet, then libfacedetection, ssd, haar); it takes only the common options
    (``score_threshold``, ``threads``), applied to whichever backend runs. When that is not the
    first choice, one line on stderr says which backend runs and why the better ones did not."""
    if hasattr(name, "detect"):
        return name
    key = DEFAULT_DETECTOR if name is None else str(name).lower()
    if key == DEFAULT_DETECTOR:
        return _create_default(options)
    factory = backend_class(key)
    config_cls = getattr(factory, "Config", None)
    if config_cls is not None:
        return factory(make_config(key, config_cls, None, options))
    try:  # a plug-in without a Config dataclass
        return factory(**options)
    except TypeError:
        raise ConfigError(f"the '{key}' detector does not take the options "
                          f"{', '.join(sorted(options)) or '(none)'}") from None


def _create_default(options: dict) -> FaceDetector:
    for key in options:
        if key not in COMMON_OPTIONS:
            raise ConfigError(f"the '{DEFAULT_DETECTOR}' detector has no option '{key}' "
                              f"(options: {', '.join(COMMON_OPTIONS)}; pick a backend with "
                              f"--detector for its own options)")
    check_common_options(DEFAULT_DETECTOR, options.get("score_threshold"), options.get("threads"))
    skipped: list[str] = []
    for key in default_chain():
        try:
            detector = create_detector(key, **options)
        except DetectorUnavailable as e:
            skipped.append(f"{key}: {first_line(e)}")
            continue
        if skipped:
            print(f"denseface: face detector '{key}' (" + "; ".join(skipped) + ")", file=sys.stderr)
        return detector
    raise DetectorUnavailable("no face detector could be loaded (" + "; ".join(skipped) + ")")

