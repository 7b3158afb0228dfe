"""What an image file's header says before its pixels are decoded: size, bytes per pixel, and
whether OpenCV can decode it straight to RGB (JPEG and PNG headers are parsed here, every other
format by Pillow). denseface.io.images refuses oversized images by it."""
from __future__ import annotations

import io
import threading
import warnings

#: One Pillow call at a time (its MAX_IMAGE_PIXELS is global state).
PIL_LOCK = threading.Lock()


def header_size(data: bytes) -> tuple[int, int, int] | None:
    """(width, height, bytes per pixel while decoding) from an image file's header, without
    decoding its pixels (Pillow; PNG bit depth from IHDR, since OpenCV decodes 16-bit PNGs at 16
    bits before converting); None when Pillow does not know the format (OpenCV may still)."""
    header = image_header(data)
    return None if header is None else header[:3]


#: JPEG start-of-frame markers (the frame header with the image's size), every coding process.
_JPEG_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _jpeg_header(data: bytes) -> tuple[int, int, int, bool] | None:
    """:func:`image_header` of an 8-bit JPEG from its frame header (the markers before it skipped by
    their lengths), as Pillow reads it (1 component: grey; 3: RGB; 4: CMYK, three bands here);
    None for anything else (Pillow then decides)."""
    i, n = 2, len(data)
    while i + 4 <= n and data[i] == 0xFF:
        marker = data[i + 1]
        if marker == 0xFF:                                  # fill byte
            i += 1
        elif marker == 0x01 or 0xD0 <= marker <= 0xD8:      # markers without a length
            i += 2
        elif marker in (0xD9, 0xDA):                        # end of image, or scan data: no frame header
            return None
        elif marker in _JPEG_SOF:
            if i + 10 > n or data[i + 4] != 8 or data[i + 9] not in (1, 3, 4):
                return None
            h, w = int.from_bytes(data[i + 5:i + 7], "big"), int.from_bytes(data[i + 7:i + 9], "big")
            return (w, h, 1 if data[i + 9] == 1 else 3, data[i + 9] == 3) if w and h else None
        else:
            i += 2 + int.from_bytes(data[i + 2:i + 4], "big")
    return None


def _png_header(data: bytes) -> tuple[int, int, int, bool] | None:
    """:func:`image_header` of a PNG from its IHDR chunk (grey or grey with alpha: one band, else
    three; 16-bit samples: two bytes each), as Pillow reads it; None when IHDR is not first."""
    if len(data) < 26 or data[12:16] != b"IHDR":
        return None
    w, h, depth, kind = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big"), data[24], data[25]
    return w, h, (1 if kind in (0, 4) else 3) * (2 if depth == 16 else 1), kind == 2 and depth == 8


def image_header(data: bytes) -> tuple[int, int, int, bool] | None:
    """:func:`header_size` and whether the file is an 8-bit RGB JPEG or PNG (which OpenCV can
    decode to RGB directly: :func:`decode_image`). JPEG and PNG headers are read here (a
    fraction of Pillow's time per photo), every other format by Pillow."""
    fast = (_jpeg_header(data) if data[:2] == b"\xff\xd8" else
            _png_header(data) if data[:8] == _PNG_SIGNATURE else None)
    return fast if fast is not None else _pil_header(data)


def _pil_header(data: bytes) -> tuple[int, int, int, bool] | None:
    """:func:`image_header` by Pillow (any format it knows)."""
    from PIL import Image

    with PIL_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None   # our own limit applies
        try:
            with Image.open(io.BytesIO(data)) as im:
                w, h = im.size
                bands = 3 if im.mode in ("P", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "LAB",
                                         "HSV") else 1
                depth = 4 if im.mode in ("I", "F") else 2 if im.mode.startswith("I;16") else 1
                png = data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 24
                if png and data[24] == 16:
                    depth = 2
                rgb = im.mode == "RGB" and depth == 1 and (im.format == "JPEG" or (png and data[24] == 8))
                return int(w), int(h), bands * depth, rgb
        except Exception:
            return None
        finally:
            Image.MAX_IMAGE_PIXELS = saved
