"""The eye stage: eye patches and their frames, the refinement of a face's points, its training,
and, with the shipped stage, eyes that read closed on closed-eye photos and open on open ones."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import need_shared, need_torch
from denseface.geometry.eye_patch import (EYE_INDICES, MIRRORED_ORDER, eye_matrices, eye_patch_matrix,
                                          from_patch, to_patch)


def _face68(rng) -> np.ndarray:
    p = rng.uniform(100, 300, (68, 2))
    p[36:42] = [[150, 200], [160, 195], [170, 195], [180, 200], [170, 205], [160, 205]]
    p[42:48] = [[220, 200], [230, 195], [240, 195], [250, 200], [240, 205], [230, 205]]
    return p


def test_eye_patch_puts_the_corners_level_and_centred():
    a, b = np.array([100.0, 120.0]), np.array([140.0, 100.0])      # a tilted eye
    M = eye_patch_matrix(a, b, 64, 32, 2.0, mirror=False)
    qa, qb = (M[:, :2] @ p + M[:, 2] for p in (a, b))
    assert qa[1] == pytest.approx(15.5) and qb[1] == pytest.approx(15.5)
    assert qb[0] - qa[0] == pytest.approx(32.0) and (qa[0] + qb[0]) / 2 == pytest.approx(31.5)
    Mm = eye_patch_matrix(a, b, 64, 32, 2.0, mirror=True)
    assert (Mm[:, :2] @ a + Mm[:, 2])[0] == pytest.approx(63 - qa[0])


def test_patch_points_round_trip_and_mirror_into_the_right_eyes_order():
    face = _face68(np.random.default_rng(0))
    mats = eye_matrices(face, 64, 32, 2.0)
    for k, idx in enumerate(EYE_INDICES):
        q = to_patch(face[idx], mats[k], k == 1)
        assert np.allclose(from_patch(q, mats[k], k == 1), face[idx])
        assert q[0, 0] < q[3, 0]                  # p1 (outer corner) left of p4 (inner) in both patches
        assert q[1, 1] < q[5, 1] and q[2, 1] < q[4, 1]   # upper lid above the lower lid
    assert np.array_equal(MIRRORED_ORDER[MIRRORED_ORDER], np.arange(6))


@pytest.fixture(scope="module")
def tiny_eye_stage(tmp_path_factory, landmark_set):
    need_torch()
    import torch

    from denseface.export.onnx import export_eye_stage
    from denseface.infer.eyes import EyeStage
    from denseface.models.eye_net import EyeConfig, EyeNet

    torch.manual_seed(0)
    net = EyeNet(EyeConfig(channels=(4, 4, 4, 4)))
    path = export_eye_stage(net, tmp_path_factory.mktemp("eyes") / "eyes.onnx")
    return EyeStage(path, landmark_set), net


def test_refine_replaces_the_eyes_and_moves_the_dense_points_along(tiny_eye_stage, landmark_set):
    import torch

    stage, net = tiny_eye_stage
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (400, 400, 3), dtype=np.uint8)
    human = _face68(rng)[None]
    dense = np.zeros((1, landmark_set.n_points, 3))
    dense[0, :, :2] = rng.uniform(100, 300, (landmark_set.n_points, 2))
    dense[0, landmark_set.idx68, :2] = human[0] + rng.normal(0, 1.0, (68, 2))
    dense[0, :, 2] = rng.uniform(-20, 20, landmark_set.n_points)
    new_dense, new_human = stage.refine([image], dense, human)
    # the eye points are the network's, read on the same patches and mapped back
    patches, mats = stage.patches(image, human[0])
    with torch.inference_mode():
        out = net(torch.from_numpy(patches.astype(np.float32)).permute(0, 3, 1, 2)).numpy()
    eyes = np.concatenate(EYE_INDICES)
    expect = np.concatenate([from_patch(out[k], mats[k], k == 1) for k in range(2)])
    assert np.allclose(new_human[0, eyes], expect, atol=1e-3)
    others = np.setdiff1d(np.arange(68), eyes)
    assert np.array_equal(new_human[0, others], human[0, others])
    disp = new_human[0, eyes] - human[0, eyes]
    idx = landmark_set.idx68
    assert np.allclose(new_dense[0, idx[eyes], :2] - dense[0, idx[eyes], :2], disp, atol=1e-6)
    assert np.allclose(new_dense[0, idx[:17]], dense[0, idx[:17]], atol=1e-3)   # the jaw stays
    assert np.array_equal(new_dense[..., 2], dense[..., 2])                       # z untouched


def test_eye_stage_trains_and_exports(tmp_path):
    need_torch()
    need_shared("data", "w300_afw_helen")
    need_shared("data", "cew_closed")
    import csv

    from denseface.infer.eyes import EyeStage
    from denseface.landmarks import load_landmark_set
    from denseface.train.config import load_stage_config
    from denseface.train.eye_stage import EyeStageConfig, train_eye_stage
    from pathlib import Path

    cfg = load_stage_config(Path(__file__).resolve().parents[1] / "configs" / "eyes_v1.yaml", EyeStageConfig,
                            {"out_dir": str(tmp_path), "limit_faces": 6, "epochs": 2, "val_every": 1})
    out = train_eye_stage(cfg)
    rows = list(csv.DictReader(open(out / "log.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2"] and "ear_r" in rows[0]
    with np.load(out / "eyes_human68_train.npz") as d:
        assert d["patches"].shape == (12, 32, 64, 3) and np.isfinite(d["target"]).all()
    stage = EyeStage(out / "eyes.onnx", load_landmark_set())
    assert stage.config["width"] == 64 and stage.config["kind"] == "eye_stage"


def test_shipped_eye_stage_reads_closed_and_open_eyes():
    """The default pipeline on held-out photos it was never trained on: CEW's closed eyes read
    closed (EAR < 0.2), 300-W's open eyes (human EAR >= 0.25) read open."""
    from denseface import DenseFace
    from denseface.data.closed_eyes import closed_eye_files
    from denseface.data.human68 import held_out_photos, read_labels
    from denseface.infer.eyes import SHIPPED
    from denseface.metrics import eye_aspect_ratio

    if not SHIPPED.is_file():
        pytest.skip("no eye stage shipped in this install")
    cew, w300 = need_shared("data", "cew_closed"), need_shared("data", "w300_afw_helen")
    df = DenseFace()
    assert df.eye_stage is not None
    closed = [eye_aspect_ratio(df.predict(str(p), max_faces=1)[0].landmarks68_300w)
              for p in closed_eye_files(cew, "val")[:24]]
    assert np.mean(np.array(closed) < 0.2) >= 0.75
    labels = read_labels(w300)
    held = np.flatnonzero(held_out_photos(labels["source"]) & (eye_aspect_ratio(labels["pts68"]) >= 0.25))[:24]
    opened = [eye_aspect_ratio(df.predict(str(w300 / "images" / str(labels["names"][i])), max_faces=1)[0].landmarks68_300w)
              for i in held]
    assert np.mean(np.array(opened) >= 0.2) >= 0.9


def test_eye_stage_is_off_when_asked_or_without_the_human_head():
    from denseface import DenseFace
    from denseface.errors import ConfigError
    from denseface.infer.eyes import SHIPPED

    assert DenseFace(config={"eyes": False}).eye_stage is None
    assert DenseFace("dense520_mbv2_100").eye_stage is None      # no landmarks68_300w to read from
    assert (DenseFace().eye_stage is not None) == SHIPPED.is_file()
    with pytest.raises(ConfigError, match="eyes"):
        DenseFace(config={"eyes": "yes"})


def test_foreshortening_gate_spares_a_turned_away_eye():
    from denseface.infer.eyes import foreshortening_gate

    face = _face68(np.random.default_rng(2))
    assert np.allclose(foreshortening_gate(face[None]), [[1.0, 1.0]])
    turned = face.copy()
    turned[42:48, 0] = 220 + (turned[42:48, 0] - 220) * 0.5        # the left eye half as wide
    assert np.allclose(foreshortening_gate(turned[None]), [[1.0, 0.0]])
    turned[42:48, 0] = 220 + (face[42:48, 0] - 220) * 0.85
    assert np.allclose(foreshortening_gate(turned[None]), [[1.0, 0.5]])


def test_grey_photos_give_grey_rgb_patches():
    from denseface.infer.eyes import cut_eye_patches
    from denseface.io.images import to_rgb

    grey = np.random.default_rng(3).integers(0, 255, (300, 400), dtype=np.uint8)
    face = _face68(np.random.default_rng(0))
    a, _ = cut_eye_patches(grey, face, 64, 32, 2.0)
    b, _ = cut_eye_patches(to_rgb(grey), face, 64, 32, 2.0)
    assert a.shape == (2, 32, 64, 3) and np.array_equal(a, b)
