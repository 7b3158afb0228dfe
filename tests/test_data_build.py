"""`denseface data build`: 300W-LP samples -> aflw_pl-layout training set; bad items skipped."""
from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io as sio

from conftest import need_shared
from denseface.cli.main import main as cli
from denseface.geometry.boxes import roi_box_from_landmarks
from denseface.geometry.crop import crop_image
from denseface.mesh.readers import read_fit_table, read_mat

SAMPLES = ("300wlp_samples", "300W_LP")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    src = need_shared("data", *SAMPLES)
    out = tmp_path_factory.mktemp("w300") / "set"
    rc = cli(["data", "build", str(src), "--out", str(out)])
    return src, out, rc


def test_build_samples_layout(built, capsys):
    src, out, rc = built
    assert rc == 5  # AFW_134212_2_0.jpg has no .mat: skipped and reported
    table = read_fit_table(out)
    assert len(table) == 10
    assert "AFW__AFW_134212_1_0.jpg" in table.names and "AFW_Flip__AFW_134212_1_0.jpg" in table.names
    assert sorted(p.name for p in (out / "images").iterdir()) == sorted(table.names)
    d = np.load(out / "labels.npz")
    assert d["camera"].dtype == np.float32 and d["camera"].shape == (10, 3, 4)
    assert d["shape"].shape == (10, 40) and d["expression"].shape == (10, 10)
    assert d["pts21"].shape == (10, 21, 2) and np.isnan(d["pts21"]).all()
    assert d["yaw"].shape == (10,) and d["roi_box"].shape == (10, 4)
    for name in table.names:
        img = cv2.imread(str(out / "images" / name))
        assert img.shape == (120, 120, 3)


def test_build_labels_reproduce_the_source_fits(built, bfm):
    """Each row's camera maps the mesh into its crop exactly as the source fit maps it into the
    photo followed by the crop matrix; min z over the mesh is 0; yaw is Pose_Para's."""
    src, out, _ = built
    table = read_fit_table(out)
    for i, name in enumerate(table.names):
        sub, stem = name[:-4].split("__")
        image = cv2.imread(str(src / sub / f"{stem}.jpg"))
        rec = read_mat(src / sub / f"{stem}.mat", image_height=image.shape[0], n_shape=40, n_exp=10)
        lm_photo = bfm.landmarks68(rec.fit)
        box = roi_box_from_landmarks(lm_photo)
        assert np.allclose(table.roi_box[i], box, atol=1e-3)
        crop, M = crop_image(image, box, 120)
        scale = M[0, 0]
        lm_crop = bfm.landmarks68(table.fit(i))
        assert np.allclose(lm_crop[:, :2], lm_photo[:, :2] * scale + M[:, 2], atol=2e-3)
        dz = lm_crop[:, 2] - scale * lm_photo[:, 2]
        assert np.ptp(dz) < 2e-3                                # z scaled like x, y; one shift
        assert abs(bfm.vertices(table.fit(i))[:, 2].min()) < 2e-3
        assert table.yaw[i] == pytest.approx(np.degrees(rec.pose_para[1]), abs=1e-3)
        assert np.allclose(table.shape[i], rec.fit.shape, rtol=1e-6)
        written = cv2.imread(str(out / "images" / name)).astype(np.float64)
        assert np.abs(written - crop).mean() < 3.0              # the crop, up to JPEG loss
        # the face fills the crop as 3DDFA's: landmark box = 1/sqrt(2) of the side, centred
        span = lm_crop[:, :2].max(0) - lm_crop[:, :2].min(0)
        assert span.max() == pytest.approx(120 / np.sqrt(2), abs=0.05)


def _copy_item(src: Path, dst: Path, sub: str, stem: str) -> None:
    (dst / sub).mkdir(parents=True, exist_ok=True)
    for ext in (".jpg", ".mat"):
        shutil.copy(src / sub / f"{stem}{ext}", dst / sub / f"{stem}{ext}")


def test_bad_items_are_skipped_and_reported(tmp_path, capsys):
    src = need_shared("data", *SAMPLES)
    bad = tmp_path / "src"
    _copy_item(src, bad, "AFW", "AFW_134212_1_0")
    _copy_item(src, bad, "HELEN", "HELEN_232194_1_0")
    good_mat = sio.loadmat(str(src / "AFW" / "AFW_134212_1_0.mat"))
    good_mat = {k: v for k, v in good_mat.items() if not k.startswith("__")}
    jpg = (src / "AFW" / "AFW_134212_1_0.jpg").read_bytes()
    d = bad / "BAD"
    d.mkdir()
    (d / "corrupt_mat.jpg").write_bytes(jpg)
    (d / "corrupt_mat.mat").write_bytes(b"MATLAB 5.0 MAT-file truncated")
    (d / "corrupt_jpg.jpg").write_bytes(jpg[:64])
    sio.savemat(str(d / "corrupt_jpg.mat"), good_mat)
    (d / "truncated_jpg.jpg").write_bytes(jpg[: int(len(jpg) * 0.8)])
    sio.savemat(str(d / "truncated_jpg.mat"), good_mat)
    sio.savemat(str(d / "no_image.mat"), good_mat)
    (d / "no_mat.jpg").write_bytes(jpg)
    cases = {"nan_shape": ("Shape_Para", np.full((199, 1), np.nan)),
             "bad_pose": ("Pose_Para", np.zeros((1, 5))),
             "short_shape": ("Shape_Para", np.ones((12, 1)))}
    for stem, (key, value) in cases.items():
        (d / f"{stem}.jpg").write_bytes(jpg)
        sio.savemat(str(d / f"{stem}.mat"), {**good_mat, key: value})

    out = tmp_path / "out"
    capsys.readouterr()
    assert cli(["data", "build", str(bad), "--out", str(out), "--size", "64"]) == 5
    cap = capsys.readouterr()
    lines = [line for line in cap.err.splitlines() if line.strip()]
    expected = {"corrupt_mat.mat": "cannot read", "corrupt_jpg.jpg": "corrupt image",
                "truncated_jpg.jpg": "truncated",
                "no_image.mat": "no image", "no_mat.jpg": "no .mat", "nan_shape.mat": "NaN",
                "bad_pose.mat": "Pose_Para", "short_shape.mat": "at least 40"}
    assert len(lines) == len(expected), cap.err
    for fname, words in expected.items():
        hit = [line for line in lines if str(d / fname) in line]
        assert len(hit) == 1 and words in hit[0], (fname, cap.err)
    assert "Traceback" not in cap.err
    assert "built 2 of 10 items, skipped 8" in cap.out
    table = read_fit_table(out)
    assert sorted(table.names) == ["AFW__AFW_134212_1_0.jpg", "HELEN__HELEN_232194_1_0.jpg"]
    assert cv2.imread(str(out / "images" / table.names[0])).shape == (64, 64, 3)


def test_nothing_usable_is_an_error(tmp_path, capsys):
    need_shared("models", "bfm_3ddfa_53215")  # the build loads the BFM before it looks at the data
    (tmp_path / "empty").mkdir()
    assert cli(["data", "build", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 3
    assert cli(["data", "build", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 3
    err = capsys.readouterr().err
    assert "no image + .mat pairs" in err and "source folder does not exist" in err
    assert "Traceback" not in err
