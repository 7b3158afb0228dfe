"""Targets for faces without 3D labels (human 68 points, closed eyes), their dataset and loss,
and the openness metrics (eye aspect ratio, mouth opening) they are judged by."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import need_shared, need_torch
from denseface.data.augment import AugmentConfig
from denseface.data.closed_eyes import held_out, photo_number
from denseface.data.human_targets import (LID_PAIRS, SHARED_68, closed_eye_targets, closed_lids,
                                          eye_sigma, human_targets, propagation_weights)
from denseface.metrics import eye_aspect_ratio, eye_aspect_ratios, mouth_opening, openness_scores


def _eye(width: float, height: float) -> np.ndarray:
    """Six points of an eye p1..p6 with corners ``width`` apart and lids ``height`` apart."""
    return np.array([[0, 0], [width / 3, -height / 2], [2 * width / 3, -height / 2], [width, 0],
                     [2 * width / 3, height / 2], [width / 3, height / 2]], np.float64)


def _face(ear: float, mouth: float) -> np.ndarray:
    p = np.zeros((68, 2))
    p[36:42] = _eye(30.0, 30.0 * ear)
    p[42:48] = _eye(30.0, 30.0 * ear) + [60.0, 0.0]
    p[60], p[64] = [0.0, 80.0], [40.0, 80.0]
    p[62], p[66] = [20.0, 80.0 - 20.0 * mouth], [20.0, 80.0 + 20.0 * mouth]
    return p


def test_eye_aspect_ratio_and_mouth_opening_by_hand():
    face = _face(0.3, 0.5)
    assert np.allclose(eye_aspect_ratios(face), [0.3, 0.3])
    assert eye_aspect_ratio(face) == pytest.approx(0.3)
    assert mouth_opening(face) == pytest.approx(0.5)
    assert eye_aspect_ratio(closed_lids(face)) == pytest.approx(0.0, abs=1e-12)


def test_openness_scores_read_closed_and_open_eyes():
    rng = np.random.default_rng(0)
    ears = rng.uniform(0.05, 0.4, 60)
    human = np.stack([_face(e, m) for e, m in zip(ears, rng.uniform(0, 0.6, 60))])
    perfect = openness_scores(human, human, human)
    assert perfect["nme_300w"] == 0 and perfect["ear_r_300w"] == pytest.approx(1.0)
    assert perfect["near_closed_err_300w"] == 0 and perfect["open_read_open_300w"] == 1.0
    always_open = np.stack([_face(0.3, 0.3)] * 60) + rng.normal(0, 0.01, (60, 68, 2))
    s = openness_scores(always_open, always_open, human)
    assert abs(s["ear_r_300w"]) < 0.5
    assert s["near_closed_err_300w"] == pytest.approx(np.mean(0.3 - ears[ears < 0.2]), abs=0.01)


def test_propagation_weights_keep_the_68_and_spread_smoothly(landmark_set):
    ms, idx = landmark_set.mean_shape, landmark_set.idx68
    W = propagation_weights(ms, idx, eye_sigma(ms, idx))
    assert W.shape == (landmark_set.n_points, 68)
    assert np.allclose(W.sum(1), 1.0) and np.all(W >= 0)
    assert np.array_equal(W[idx], np.eye(68))
    # a point near an eyelid takes most of its motion from that eye, none from the jaw
    eye = landmark_set.region_mask("eye") & ~np.isin(np.arange(len(ms)), idx)
    assert W[eye][:, 36:48].sum(1).mean() > 0.6 and W[eye][:, :17].sum(1).max() < 0.01


def _pseudo(landmark_set, m: int = 3, seed: int = 0) -> np.ndarray:
    ms = landmark_set.mean_shape * np.array([1.0, -1.0, 1.0])
    p = (ms - ms.min(0)) / np.ptp(ms[:, 0]) * 80 + 20
    return p[None] + np.random.default_rng(seed).normal(0, 0.3, (m,) + p.shape)


def test_human_targets_take_the_shared_points_and_keep_the_rest(landmark_set):
    idx, pseudo = landmark_set.idx68, _pseudo(landmark_set)
    human = pseudo[:, idx, :2] + np.random.default_rng(1).normal(0, 2.0, (3, 68, 2))
    W = propagation_weights(landmark_set.mean_shape, idx, eye_sigma(landmark_set.mean_shape, idx))
    images = np.zeros((3, 120, 120, 3), np.uint8)
    t = human_targets(np.arange(3), images, np.ones(3), pseudo, human, idx, W, 0.5, 2.0)
    assert np.allclose(t.points[:, idx[SHARED_68], :2], human[:, SHARED_68], atol=1e-4)
    jaw = np.arange(17)
    assert np.allclose(t.points[:, idx[jaw]], pseudo[:, idx[jaw]], atol=1e-4)     # the jaw differs: kept
    assert np.allclose(t.points[..., 2], pseudo[..., 2], atol=1e-4)               # z untouched
    assert np.allclose(t.points_300w, human) and np.all(t.weight_300w == 1)
    assert np.all(t.points_weight[:, idx[SHARED_68]] == 2.0) and t.points_weight[:, idx[0]].max() == 0.5


def test_closed_eye_targets_close_both_conventions(landmark_set):
    idx, pseudo = landmark_set.idx68, _pseudo(landmark_set)
    p300 = pseudo[:, idx, :2] + 1.0
    W = propagation_weights(landmark_set.mean_shape, idx, eye_sigma(landmark_set.mean_shape, idx))
    t = closed_eye_targets(np.arange(3), np.zeros((3, 120, 120, 3), np.uint8), np.ones(3), pseudo,
                           p300, idx, W, 0.5, 2.0)
    assert np.allclose(eye_aspect_ratio(t.points[:, idx]), 0.0, atol=1e-4)
    assert np.allclose(eye_aspect_ratio(t.points_300w), 0.0, atol=1e-4)
    lower = [low for _, low in LID_PAIRS]
    assert np.allclose(t.points[:, idx[lower]], pseudo[:, idx[lower]], atol=1e-4)  # lower lids stay
    assert np.allclose(t.points[:, idx[48:]], pseudo[:, idx[48:]], atol=1e-4)      # mouth untouched


def test_extra_targets_dataset_mirrors_exactly(landmark_set):
    from denseface.data.dataset import ExtraTargetsDataset
    from denseface.landmarks.ibug68 import FLIP_68
    from denseface.models.codec import decode_points

    idx, pseudo = landmark_set.idx68, _pseudo(landmark_set, 1)
    W = propagation_weights(landmark_set.mean_shape, idx, eye_sigma(landmark_set.mean_shape, idx))
    image = np.random.default_rng(2).integers(0, 255, (1, 120, 120, 3), dtype=np.uint8)
    human = pseudo[:, idx, :2] + 1.5
    t = human_targets(np.arange(1), image, np.ones(1), pseudo, human, idx, W, 0.5, 2.0)
    ds = ExtraTargetsDataset(t, landmark_set.flip, 120, AugmentConfig(enabled=False), repeat=1,
                             flip_double=True)
    assert len(ds) == 2
    (im0, p0, w0, h0, hw0), (im1, p1, w1, h1, hw1) = ds[0], ds[1]
    assert np.array_equal(im1, im0[:, :, ::-1])
    a, b = decode_points(p0, 120), decode_points(p1, 120)
    assert np.allclose(b[:, 0], (119 - a[:, 0])[landmark_set.flip], atol=1e-3)
    assert np.allclose(decode_points(h1, 120)[:, 0], (119 - decode_points(h0, 120)[:, 0])[FLIP_68], atol=1e-3)
    assert np.array_equal(w1, w0[landmark_set.flip]) and np.array_equal(hw1, hw0[FLIP_68])


def test_weighted_loss_with_unit_weights_is_the_hybrid_loss(landmark_set):
    need_torch()
    import torch
    from denseface.losses import LossConfig, WeightedPointsLoss, build_loss

    cfg = LossConfig()
    g = torch.Generator().manual_seed(0)
    pred, target = (torch.randn(4, landmark_set.n_points, 3, generator=g) * 0.05 for _ in range(2))
    zero68 = torch.zeros(4, 68, 2)
    weighted = WeightedPointsLoss(cfg, landmark_set.idx68, 1.0)
    ones = torch.ones(4, landmark_set.n_points)
    assert weighted(pred, target, ones, zero68, zero68, torch.zeros(4, 68)).item() == pytest.approx(
        build_loss(cfg, landmark_set.idx68)(pred, target).item(), rel=1e-5)
    # the second head counts only where its weight is positive, and zero weights drop a face
    far = zero68 + 0.2
    assert weighted(pred, target, ones, far, zero68, torch.zeros(4, 68)).item() == pytest.approx(
        weighted(pred, target, ones, zero68, zero68, torch.zeros(4, 68)).item())
    assert weighted(pred, target, ones * 0, far, zero68, torch.ones(4, 68)).item() > 0


def test_closed_eye_split_keeps_photo_series_together():
    names = [f"closed_eye_{n:04d}.jpg_face_1.jpg" for n in range(1, 1200, 3)]
    held = held_out(names)
    assert 0.15 < held.mean() < 0.25
    blocks = {}
    for name, h in zip(names, held):
        blocks.setdefault(photo_number(name) // 40, set()).add(bool(h))
    assert all(len(v) == 1 for v in blocks.values())


def test_closed_eye_folder_split_is_disjoint():
    from denseface.data.closed_eyes import closed_eye_files
    folder = need_shared("data", "cew_closed")
    train, val = closed_eye_files(folder, "train"), closed_eye_files(folder, "val")
    assert len(train) + len(val) == len(list((folder / "images").iterdir()))
    assert not {p.name for p in train} & {p.name for p in val} and len(val) >= 100


def test_train_set_flags_add_up():
    """``--set a=1 --set b=2`` keeps both overrides (argparse's default kept only the last)."""
    need_torch()                  # the train command's module imports the trainer's config
    import argparse

    from denseface.cli.train import _parse_overrides, register
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["train", "--config", "x.yaml", "--set", "epochs=2", "--set", "seed=3", "data.workers=0"])
    assert _parse_overrides(args.set) == {"epochs": 2, "seed": 3, "data.workers": 0}


def test_extra_sources_config_is_validated():
    need_torch()
    from denseface.errors import ConfigError
    from denseface.train.config import config_from_dict

    cfg = config_from_dict({"extra": {"sources": ["human68", "closed_eyes"], "repeat_human68": 2}})
    assert cfg.extra.sources == ["human68", "closed_eyes"] and cfg.extra.augment.enabled
    with pytest.raises(ConfigError, match="extra.sources"):
        config_from_dict({"extra": {"sources": ["faces"]}})


def test_extra_sources_train_end_to_end(tmp_path):
    """A few steps of the tiny config with both extra sources: the faces are cropped and
    pseudo-labelled once (cached), the second head is trained, and the log holds the openness
    scores of the held-out faces."""
    need_torch()
    need_shared("data", "aflw_pl", "train")
    need_shared("data", "w300_afw_helen")
    need_shared("data", "cew_closed")
    import csv
    from pathlib import Path

    from denseface.models.regressor import load_model
    from denseface.train import load_config, train

    root = Path(__file__).resolve().parents[1]
    cfg = load_config(root / "configs" / "tiny.yaml", {
        "out_dir": str(tmp_path / "run"), "epochs": 1, "threads": 2, "max_steps_per_epoch": 3,
        "extra.sources": ["human68", "closed_eyes"], "extra.limit_faces": 6,
        "extra.pseudo_model": str(root / "denseface" / "weights" / "dense520_mbv1_050.pt")})
    train(cfg)
    rows = list(csv.DictReader(open(tmp_path / "run" / "log.csv")))
    assert [r["epoch"] for r in rows] == ["1"]
    for key in ("val_nme_300w", "val_ear_r_300w", "val_ear_r_68", "val_closed_read_closed_300w"):
        assert key in rows[0]
    assert 0.0 <= float(rows[0]["val_closed_read_closed_300w"]) <= 1.0
    with np.load(tmp_path / "run" / "extra_human68_train.npz") as d:
        assert d["images"].shape == (6, 120, 120, 3) and np.isfinite(d["human68"]).all()
    with np.load(tmp_path / "run" / "extra_closed_eyes_val.npz") as d:
        assert len(d["names"]) == 6 and np.isnan(d["human68"]).all()
    model = load_model(tmp_path / "run" / "last.pt")
    assert model.config.head_300w and model.head_300w is not None
