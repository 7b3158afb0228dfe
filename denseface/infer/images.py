"""Reading and normalising input images for inference (numpy + OpenCV; PIL optional).

Every image handed to the pipeline is a uint8 array in *image pixels* (x right, y down):
``(H, W)`` grey or ``(H, W, 3)`` RGB. Grey images stay one channel so a huge grey picture
is never tripled in memory; crops and detector inputs are converted to RGB (cheap, small).
Conversions: RGBA/LA -> alpha dropped; 16-bit -> value / 257 (full range to 0..255);
palette -> expanded to RGB by the decoder; float arrays in 0..1 -> x 255.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..errors import DenseFaceError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm",
                  ".pbm", ".jp2", ".gif")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm")
COLOR_ORDERS = ("rgb", "bgr")


def read_image(path: str | Path) -> np.ndarray:
    """Decode an image file into (H, W) grey or (H, W, 3) RGB uint8, EXIF orientation applied.

    The file's content decides the format, not its extension. Raises DenseFaceError for a
    missing, empty, truncated or undecodable file."""
    path = Path(path)
    if not path.exists():
        raise DenseFaceError("file does not exist", path=path)
    if path.is_dir():
        raise DenseFaceError("is a folder, not an image", path=path)
    try:
        size = path.stat().st_size
        data = np.fromfile(str(path), np.uint8)
    except OSError as e:
        raise DenseFaceError(f"cannot read file ({e.strerror})", path=path) from None
    if size == 0:
        raise DenseFaceError("empty file (0 bytes)", path=path)
    # ANYCOLOR keeps grey as grey (no 3x memory), ANYDEPTH keeps 16-bit; alpha is dropped
    # and palettes are expanded by the decoder.
    image = cv2.imdecode(data, cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH)
    if image is None:
        raise DenseFaceError("not a readable image (corrupt, truncated or unsupported format)",
                             path=path)
    return normalise_array(image, color="bgr", path=path)


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
        a = a[:, :, :3]
        if color == "bgr":
            a = a[:, :, ::-1]
        a = np.ascontiguousarray(a)
    return a


def _to_uint8(a: np.ndarray, path) -> np.ndarray:
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.bool_:
        return a.astype(np.uint8) * 255
    if a.dtype == np.uint16:
        return ((a.astype(np.uint32) + 128) // 257).astype(np.uint8)
    if np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise DenseFaceError("image holds NaN or inf values", path=path)
        scale = 255.0 if a.max(initial=0) <= 1.0 else 1.0
        return np.clip(a * scale + 0.5, 0, 255).astype(np.uint8)
    if np.issubdtype(a.dtype, np.integer):
        return np.clip(a, 0, 255).astype(np.uint8)
    raise DenseFaceError(f"unsupported image dtype {a.dtype}", path=path)


def as_image(image, color: str = "rgb") -> tuple[np.ndarray, str | None]:
    """A path, numpy array (colour order ``color``) or PIL image -> (normalised array, path or None)."""
    if isinstance(image, (str, Path)):
        return read_image(image), str(image)
    if hasattr(image, "mode") and hasattr(image, "convert") and not isinstance(image, np.ndarray):
        return pil_to_array(image), None
    if isinstance(image, np.ndarray):
        return normalise_array(image, color), None
    raise DenseFaceError(f"unsupported image type {type(image).__name__} (expected a path, a numpy "
                         "array or a PIL image)")


def pil_to_array(pil_image) -> np.ndarray:
    """A PIL image in any mode (L, LA, RGB, RGBA, P, I;16, I, F, ...) -> normalised array."""
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


def detection_view(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Downscale for detection so the longer side is at most ``max_side`` pixels.

    Returns (RGB uint8 image, scale) with ``scale = small / original`` (<= 1); boxes found on
    the small image are divided by ``scale`` to get original pixels."""
    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w)) if max_side and max_side > 0 else 1.0
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return to_rgb(image), scale
