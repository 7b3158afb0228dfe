"""Reading and normalising input images (numpy + OpenCV; Pillow reads headers and PIL images).

Every image handed to the pipeline is a uint8 array in *image pixels* (x right, y down):
``(H, W)`` grey or ``(H, W, 3)`` RGB. Grey images stay one channel so a huge grey picture
is never tripled in memory; crops and detector inputs are converted to RGB (cheap, small).
Conversions: RGBA/LA -> alpha dropped; 16-bit -> 8-bit (files: by the decoder, which never
holds the 16-bit image; arrays: value / 257); palette -> expanded to RGB by the decoder; float
arrays and 32-bit float TIFF files: max <= 1 -> x 255, else taken as 0..255 (clipped).

Hostile files are refused before decoding, each with one line: anything but a regular file
(FIFO, device, socket: reading one could block forever), files over ``ReadLimits.max_file_bytes``,
and images whose header declares more than ``ReadLimits.max_decoded_bytes`` of 8-bit pixels.
The decoders' own messages (libpng, libjpeg) are kept off the terminal.
"""
from __future__ import annotations

import io
import os
import stat
import threading
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import DenseFaceError
from .image_headers import PIL_LOCK, image_header

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm",
                  ".pbm", ".jp2", ".gif")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm")
COLOR_ORDERS = ("rgb", "bgr")


@dataclass(frozen=True)
class ReadLimits:
    """Refuse files larger than ``max_file_bytes`` and images whose pixels would take more than
    ``max_decoded_bytes`` while decoding (width x height x channels x bytes per sample, from the
    header). The defaults admit a 20000 x 20000 8-bit RGB photo and keep the peak memory of
    one image under 2 GB."""

    max_file_bytes: int = 1 << 30
    max_decoded_bytes: int = 1_250_000_000


DEFAULT_LIMITS = ReadLimits()


def read_file_bytes(path: str | Path, max_bytes: int = DEFAULT_LIMITS.max_file_bytes) -> bytes:
    """The content of a regular file of at most ``max_bytes``; DenseFaceError for a missing
    path, a folder, a FIFO/device/socket (checked on the opened descriptor, never blocking) or
    a file that is too large."""
    path = Path(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:   # the checks on the opened descriptor: one system call less per photo than stat first
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise DenseFaceError("file does not exist (broken link?)" if os.path.lexists(path)
                             else "file does not exist", path=path) from None
    except OSError as e:
        if path.is_dir():      # where a folder cannot be opened (Windows)
            raise DenseFaceError("is a folder, not an image", path=path) from None
        raise DenseFaceError(f"cannot read file ({e.strerror})", path=path) from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise DenseFaceError("is a folder, not an image", path=path)
        if not stat.S_ISREG(st.st_mode):
            raise DenseFaceError(f"not a regular file ({_file_kind(st.st_mode)})", path=path)
        if st.st_size == 0:
            raise DenseFaceError("empty file (0 bytes)", path=path)
        if st.st_size > max_bytes:
            raise DenseFaceError(f"file too large ({st.st_size / 2**20:.0f} MiB; limit "
                                 f"{max_bytes / 2**20:.0f} MiB)", path=path)
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read(max_bytes + 1)
    except OSError as e:
        raise DenseFaceError(f"cannot read file ({e.strerror})", path=path) from None
    finally:
        os.close(fd)


def _file_kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a plain file"


def file_problem(path: str | Path) -> str | None:
    """Why ``path`` cannot be read as a file (a broken link, no permission, a named pipe,
    device or socket), from its metadata alone (never opened, never blocking); None for a
    regular file."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "broken link (its target does not exist)"
    except OSError as e:
        return f"cannot read ({e.strerror})"
    return None if stat.S_ISREG(st.st_mode) else f"not a regular file ({_file_kind(st.st_mode)})"


#: OpenCV reads this when it first opens a video and sets FFmpeg's log level from it; -8 is
#: AV_LOG_QUIET (FFmpeg's decoder threads otherwise print "[mpeg4 @ 0x...] header damaged").
FFMPEG_LOGLEVEL_ENV = "OPENCV_FFMPEG_LOGLEVEL"


def silence_opencv_log() -> None:
    """Turn OpenCV's own log lines off (e.g. "PNG input buffer is incomplete") and FFmpeg's at
    their source (its log level, effective when this runs before the process's first video is
    opened; a value the user set in the environment is kept): denseface reports each problem
    itself, on one line."""
    os.environ.setdefault(FFMPEG_LOGLEVEL_ENV, "-8")
    cv_log = getattr(getattr(cv2, "utils", None), "logging", None)
    if cv_log is not None:
        cv_log.setLogLevel(cv_log.LOG_LEVEL_SILENT)


#: File descriptor 2 is one per process: the blocks of :func:`quiet_stderr` running at once (in
#: decoding threads) share one redirection, made by the first and undone by the last.
_QUIET_LOCK = threading.Lock()
_QUIET = {"depth": 0, "saved": None}


def _stderr_to_devnull() -> int | None:
    """Point file descriptor 2 at /dev/null; a duplicate of the old one (None: left as it was)."""
    try:
        saved = os.dup(2)
    except OSError:
        return None
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
        finally:
            os.close(devnull)
    except OSError:
        os.close(saved)
        return None
    return saved


@contextmanager
def quiet_stderr():
    """Keep C libraries' messages (libpng, libjpeg, FFmpeg) off the terminal for the block:
    file descriptor 2 points at /dev/null meanwhile. Python-level writes are unaffected after.
    Thread-safe: while several threads are inside, stderr is restored when the last one leaves
    (each saving and restoring it on its own could leave it at /dev/null for good)."""
    with _QUIET_LOCK:
        if _QUIET["depth"] == 0:
            _QUIET["saved"] = _stderr_to_devnull()
        _QUIET["depth"] += 1
    try:
        yield
    finally:
        with _QUIET_LOCK:
            _QUIET["depth"] -= 1
            if _QUIET["depth"] == 0 and _QUIET["saved"] is not None:
                os.dup2(_QUIET["saved"], 2)
                os.close(_QUIET["saved"])
                _QUIET["saved"] = None


def read_image(path: str | Path, limits: ReadLimits = DEFAULT_LIMITS,
               complete_jpeg: bool = False) -> np.ndarray:
    """Decode an image file into (H, W) grey or (H, W, 3) RGB uint8, EXIF orientation applied.

    The file's content decides the format, not its extension. Raises DenseFaceError for a
    missing, empty, truncated, undecodable, oversized or non-regular file. ``complete_jpeg``:
    also refuse a JPEG without its end-of-image marker, which OpenCV would decode partially
    without an error (for building training sets; photos with trailing data stay readable
    otherwise)."""
    path = Path(path)
    return decode_image(read_file_bytes(path, limits.max_file_bytes), path, limits, complete_jpeg)


def decode_image(data: bytes, name: str | Path | None = None, limits: ReadLimits = DEFAULT_LIMITS,
                 complete_jpeg: bool = False) -> np.ndarray:
    """An image file's content (bytes) -> (H, W) grey or (H, W, 3) RGB uint8, with the limits
    and messages of :func:`read_image` (``name`` names the source in them)."""
    data = bytes(data)
    if not data:
        raise DenseFaceError("empty file (0 bytes)", path=name)
    if len(data) > limits.max_file_bytes:
        raise DenseFaceError(f"file too large ({len(data) / 2**20:.0f} MiB; limit "
                             f"{limits.max_file_bytes / 2**20:.0f} MiB)", path=name)
    if complete_jpeg and data[:2] == b"\xff\xd8" and b"\xff\xd9" not in data[-64:]:
        raise DenseFaceError("corrupt image (truncated JPEG: no end marker)", path=name)
    header = image_header(data)
    if header is not None:
        w, h, per_pixel, _ = header
        if w * h * per_pixel > limits.max_decoded_bytes:
            raise DenseFaceError(f"image too large to decode ({w} x {h} pixels, {per_pixel} bytes "
                                 f"each while decoding; limit {limits.max_decoded_bytes / 1e6:.0f} MB)",
                                 path=name)
    # An 8-bit RGB JPEG or PNG straight to RGB (the same pixels as BGR then converted, without the
    # conversion's pass); else ANYCOLOR, which keeps grey as grey (no 3x memory) and decodes
    # 16-bit straight to 8-bit; alpha is dropped and palettes are expanded by the decoder.
    rgb = header is not None and header[3]
    try:
        with quiet_stderr():
            image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR_RGB if rgb else cv2.IMREAD_ANYCOLOR)
    except cv2.error:
        image = None
    if image is None and data[:4] in (b"II*\x00", b"MM\x00*"):
        image = _decode_tiff_any_depth(data, name, limits)
    if image is None:
        raise DenseFaceError(f"not a readable image: {undecodable_reason(data)}", path=name)
    return normalise_array(image, color="rgb" if rgb else "bgr", path=name)


#: magic bytes of the formats OpenCV decodes -> their name (Pillow's names)
MAGIC_FORMATS = ((b"\xff\xd8", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"GIF8", "GIF"), (b"BM", "BMP"),
                 (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"))
#: Pillow's names of the formats OpenCV's imdecode reads (others are "unsupported")
OPENCV_FORMATS = frozenset({"JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP", "PPM", "JPEG2000"})
#: how each format's file ends, for "truncated" (bytes that must appear among its last 16)
END_MARKERS = {"JPEG": b"\xff\xd9", "PNG": b"IEND", "GIF": b"\x3b"}


def image_format(data: bytes) -> str | None:
    """An image file's format by its content (magic bytes, else Pillow's name), or None."""
    for magic, name in MAGIC_FORMATS:
        if data.startswith(magic):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    from PIL import Image

    with PIL_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with Image.open(io.BytesIO(data)) as im:
                return im.format
        except Exception:
            return None


def undecodable_reason(data: bytes) -> str:
    """What a file that OpenCV could not decode holds, said for a user: not an image (text or
    unknown bytes, with its first bytes), a truncated file of a known format (ending at byte
    N without the format's end marker), an unsupported format, or corrupt data."""
    fmt = image_format(data)
    if fmt is None:
        head = data[:24]
        try:
            text = head.decode("utf-8")
            kind = "a text file" if all(c.isprintable() or c in "\t\r\n" for c in text) else None
        except UnicodeDecodeError:
            kind = None
        shown = repr(text) if kind else head[:8].hex(" ")
        return f"not an image ({kind or 'unknown content'}: starts with {shown})"
    end = END_MARKERS.get(fmt)
    if end is not None and end not in data[-16:]:
        return f"truncated {fmt}: the file ends at byte {len(data)} without the {fmt} end marker"
    if fmt not in OPENCV_FORMATS:
        return f"unsupported format {fmt} (readable: {', '.join(sorted(OPENCV_FORMATS))})"
    return f"corrupt {fmt} data (the header is {fmt} but the pixels do not decode)"


def tiff_header_size(data: bytes) -> tuple[int, int, int] | None:
    """(width, height, bytes per pixel) from the first image directory of a TIFF (tags 256, 257,
    258, 277), without decoding; None when the directory cannot be read."""
    import struct

    try:
        order = "<" if data[:2] == b"II" else ">"
        (offset,) = struct.unpack(order + "I", data[4:8])
        (n,) = struct.unpack(order + "H", data[offset:offset + 2])
        tags: dict[int, int] = {}
        for k in range(n):
            e = data[offset + 2 + 12 * k: offset + 14 + 12 * k]
            tag, typ, count = struct.unpack(order + "HHI", e[:8])
            short = typ == 3
            if count * (2 if short else 4) <= 4:     # the value sits in the entry itself
                tags[tag] = struct.unpack(order + ("H" if short else "I"), e[8:10] if short else e[8:12])[0]
            elif tag == 258:                        # one width per sample, stored elsewhere:
                tags[tag] = 32                      # assume the widest common sample
        w, h = tags[256], tags[257]
        return int(w), int(h), int(tags.get(277, 1)) * max(1, int(tags.get(258, 8)) // 8)
    except (struct.error, KeyError, IndexError):
        return None


def _decode_tiff_any_depth(data: bytes, name, limits: ReadLimits) -> np.ndarray | None:
    """A TIFF that OpenCV's 8-bit path refuses (32-bit float or integer samples), decoded at its
    own depth; :func:`normalise_array` then scales floats by their value range (max <= 1: x 255,
    else taken as 0..255 and clipped). None when it is still unreadable."""
    size = tiff_header_size(data)
    if size is None:
        return None
    w, h, per_pixel = size
    if w * h * max(per_pixel, 4) > limits.max_decoded_bytes:
        raise DenseFaceError(f"image too large to decode ({w} x {h} pixels, {per_pixel} bytes "
                             f"each while decoding; limit {limits.max_decoded_bytes / 1e6:.0f} MB)",
                             path=name)
    try:
        with quiet_stderr():
            return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        return None


def normalise_array(image: np.ndarray, color: str = "rgb", path: str | Path | None = None) -> np.ndarray:
    """Any numeric array (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) in colour order ``color``
    -> uint8 (H, W) grey or (H, W, 3) RGB."""
    if color not in COLOR_ORDERS:
        raise DenseFaceError(f"unknown colour order '{color}' (expected one of {COLOR_ORDERS})")
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)) or min(a.shape[:2]) < 1:
        raise DenseFaceError(f"unsupported image array shape {a.shape} (expected HxW, HxWx3 "
                             "or HxWx4)", path=path)
    a = _to_uint8(a, path)
    if a.ndim == 3:
        if color == "bgr":  # OpenCV's conversion: ten times faster than numpy's reversed copy
            a = cv2.cvtColor(np.ascontiguousarray(a), cv2.COLOR_BGRA2RGB if a.shape[2] == 4 else cv2.COLOR_BGR2RGB)
        else:
            a = np.ascontiguousarray(a[:, :, :3])
    return a


def _by_rows(a: np.ndarray, convert, block_bytes: int = 1 << 24) -> np.ndarray:
    """uint8 array of ``convert(rows)`` applied to blocks of rows, so a conversion of a huge
    image never holds more than one block of temporaries."""
    out = np.empty(a.shape, np.uint8)
    rows = max(1, block_bytes // max(1, a[:1].nbytes * 4))
    for i in range(0, a.shape[0], rows):
        out[i:i + rows] = convert(a[i:i + rows])
    return out


def _to_uint8(a: np.ndarray, path) -> np.ndarray:
    """Any numeric array -> uint8: 16-bit values (also in wider integer types) / 257, other
    integers above 255 scaled from their bit range, floats in 0..1 x 255 (else clipped)."""
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.bool_:
        return _by_rows(a, lambda r: r.astype(np.uint8) * 255)
    if np.issubdtype(a.dtype, np.floating):
        if not all(np.isfinite(a[i:i + 256]).all() for i in range(0, a.shape[0], 256)):
            raise DenseFaceError("image holds NaN or inf values", path=path)
        scale = 255.0 if a.max(initial=0) <= 1.0 else 1.0
        return _by_rows(a, lambda r: np.clip(r * scale + 0.5, 0, 255))
    if np.issubdtype(a.dtype, np.integer):
        hi = int(a.max(initial=0))
        if hi <= 255:
            return _by_rows(a, lambda r: np.clip(r, 0, 255))
        bits = 16 if hi <= 65535 else int(hi).bit_length()
        div = ((1 << bits) - 1) / 255.0       # 257 for 16-bit values
        return _by_rows(a, lambda r: np.clip(np.floor(r.astype(np.float64) / div + 0.5), 0, 255))
    raise DenseFaceError(f"unsupported image dtype {a.dtype}", path=path)


def as_image(image, color: str = "rgb") -> tuple[np.ndarray, str | None]:
    """A path, numpy array (colour order ``color``) or PIL image -> (normalised array, path or None)."""
    if isinstance(image, (str, Path)):
        if str(image) == "":
            raise DenseFaceError("empty path: give an image file")
        return read_image(image), str(image)
    if hasattr(image, "mode") and hasattr(image, "convert") and not isinstance(image, np.ndarray):
        return pil_to_array(image), None
    if isinstance(image, np.ndarray):
        return normalise_array(image, color), None
    raise DenseFaceError(f"unsupported image type {type(image).__name__} (expected a path, a numpy "
                         "array or a PIL image)")


def pil_to_array(pil_image) -> np.ndarray:
    """A PIL image in any mode (L, LA, RGB, RGBA, P, I;16, I, F, ...) -> normalised array.
    A lazily opened image that cannot be decoded (truncated, corrupt) is a DenseFaceError."""
    try:
        pil_image.load()
    except (OSError, SyntaxError, ValueError) as e:
        name = getattr(pil_image, "filename", "") or None
        raise DenseFaceError(f"cannot decode the PIL image ({type(e).__name__}: "
                             f"{str(e).splitlines()[0] if str(e) else 'no detail'})", path=name) from None
    mode = pil_image.mode
    if mode in ("RGB", "L"):
        return normalise_array(np.asarray(pil_image), "rgb")
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return normalise_array(np.asarray(pil_image).astype(np.uint16), "rgb")
    if mode in ("I", "F"):
        a = np.asarray(pil_image).astype(np.float64)
        hi = a.max(initial=0)
        a = a / 65535.0 if hi > 255 else a / 255.0
        return normalise_array(a, "rgb")
    if mode in ("LA", "La", "1"):
        return normalise_array(np.asarray(pil_image.convert("L")), "rgb")
    return normalise_array(np.asarray(pil_image.convert("RGB")), "rgb")


def to_rgb(image: np.ndarray) -> np.ndarray:
    """(H, W) grey or (H, W, 3) RGB uint8 -> (H, W, 3) RGB uint8."""
    return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB) if image.ndim == 2 else image


def detection_view(image: np.ndarray, max_side: int, fast: bool = False) -> tuple[np.ndarray, float]:
    """Downscale for detection so the longer side is at most ``max_side`` pixels.

    Returns (RGB uint8 image, scale) with ``scale = small / original`` (<= 1); boxes found on
    the small image are divided by ``scale`` to get original pixels. Area averaging, or with
    ``fast`` two cheaper steps: area averaging by the whole factor ``k = floor(1 / scale)`` (when
    k >= 2; OpenCV's fast path for whole ratios: the last ``width mod k`` columns and ``height
    mod k`` rows, under k pixels, are left out), then bilinear to the size (a ratio of at least
    1/2, where bilinear hardly aliases). Area averaging at a ratio that is not a whole number
    costs about ten times more (docs/detectors.md, "The cascade")."""
    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w)) if max_side and max_side > 0 else 1.0
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        k = int(1.0 / scale)
        if fast and k >= 2 and min(h, w) >= k:
            image = cv2.resize(image[:h - h % k, :w - w % k], (w // k, h // k), interpolation=cv2.INTER_AREA)
        interpolation = cv2.INTER_LINEAR if fast else cv2.INTER_AREA
        image = cv2.resize(image, size, interpolation=interpolation) if image.shape[1::-1] != size else image
    return to_rgb(image), scale
