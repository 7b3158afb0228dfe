"""Decoding photos fast without changing a pixel: colour-order conversion by OpenCV."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from denseface.io.images import decode_image, normalise_array


@pytest.mark.parametrize("shape", [(7, 9, 3), (7, 9, 4), (1, 1, 3), (5, 6, 1), (5, 6)])
@pytest.mark.parametrize("color", ["bgr", "rgb"])
def test_normalise_array_gives_exactly_the_reordered_channels(shape, color):
    a = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    got = normalise_array(a, color)
    if a.ndim == 3 and a.shape[2] >= 3:
        want = a[:, :, :3][:, :, ::-1] if color == "bgr" else a[:, :, :3]
    else:
        want = a.reshape(shape[:2])
    assert got.dtype == np.uint8 and got.flags.c_contiguous and np.array_equal(got, want)


def test_normalise_array_takes_views_and_wide_types():
    rng = np.random.default_rng(1)
    view = rng.integers(0, 256, (10, 20, 3), dtype=np.uint8)[:, ::2]       # not contiguous
    assert np.array_equal(normalise_array(view, "bgr"), view[:, :, ::-1])
    wide = rng.integers(0, 65536, (4, 5, 4), dtype=np.uint16)
    want = np.floor(wide[:, :, 2::-1] / 257.0 + 0.5).astype(np.uint8)
    assert np.array_equal(normalise_array(wide, "bgr"), want)


def test_decoded_jpeg_is_opencvs_decode_in_rgb():
    bgr = np.random.default_rng(2).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    ok, data = cv2.imencode(".jpg", bgr)
    assert ok
    rgb = decode_image(data.tobytes(), "a.jpg")
    assert np.array_equal(rgb, cv2.imdecode(data, cv2.IMREAD_COLOR)[:, :, ::-1])


def _encoded(image, fmt: str, **kw) -> bytes:
    import io

    buf = io.BytesIO()
    image.save(buf, fmt, **kw)
    return buf.getvalue()


def test_rgb_photos_decode_straight_to_rgb_with_the_same_pixels():
    """8-bit RGB JPEG and PNG files go to OpenCV's RGB decoding (no conversion pass after it):
    the pixels are those of the BGR decode reordered, EXIF orientation applied; grey, CMYK,
    alpha, palette and 16-bit files keep the ANYCOLOR path."""
    from PIL import Image

    from denseface.io.image_headers import image_header

    src = Image.fromarray(np.random.default_rng(3).integers(0, 256, (31, 45, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6                                   # rotated: 90 degrees clockwise to show
    direct = {"rgb.jpg": _encoded(src, "JPEG"), "exif.jpg": _encoded(src, "JPEG", exif=exif),
              "progressive.jpg": _encoded(src, "JPEG", progressive=True), "rgb.png": _encoded(src, "PNG")}
    other = {"grey.jpg": _encoded(src.convert("L"), "JPEG"), "cmyk.jpg": _encoded(src.convert("CMYK"), "JPEG"),
             "rgba.png": _encoded(src.convert("RGBA"), "PNG"), "palette.png": _encoded(src.convert("P"), "PNG"),
             "rgb16.png": cv2.imencode(".png", np.full((5, 7, 3), 40000, np.uint16))[1].tobytes()}
    for name, data in {**direct, **other}.items():
        assert image_header(data)[3] == (name in direct), name
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_ANYCOLOR)
        assert np.array_equal(decode_image(data, name), normalise_array(bgr, "bgr")), name
    assert decode_image(direct["exif.jpg"]).shape == (45, 31, 3)


def test_jpeg_and_png_headers_are_read_without_pillow_as_pillow_reads_them(monkeypatch):
    """The size and bands of JPEG and PNG files come from their own headers (a fraction of
    Pillow's time per photo), equal to Pillow's reading; other formats still go to Pillow."""
    from PIL import Image

    from denseface.io import image_headers as images

    src = Image.fromarray(np.random.default_rng(4).integers(0, 256, (23, 37, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6
    files = [_encoded(src, "JPEG"), _encoded(src, "JPEG", exif=exif), _encoded(src, "JPEG", progressive=True),
             _encoded(src.convert("L"), "JPEG"), _encoded(src.convert("CMYK"), "JPEG"), _encoded(src, "PNG"),
             _encoded(src.convert("RGBA"), "PNG"), _encoded(src.convert("P"), "PNG"), _encoded(src.convert("L"), "PNG"),
             _encoded(src.convert("LA"), "PNG"), _encoded(src.convert("1"), "PNG"),
             cv2.imencode(".png", np.zeros((5, 7, 3), np.uint16))[1].tobytes(),
             cv2.imencode(".png", np.zeros((5, 7), np.uint16))[1].tobytes()]
    want = [images._pil_header(d) for d in files]
    monkeypatch.setattr(images, "_pil_header", lambda data: pytest.fail("Pillow asked for a JPEG or PNG header"))
    assert [images.image_header(d) for d in files] == want
    assert images.header_size(files[0]) == (37, 23, 3)
    monkeypatch.undo()
    assert images.image_header(_encoded(src, "BMP")) == (37, 23, 3, False)     # Pillow's
