"""The second 68-point convention (300-W, as people annotate): data split, crops, the trainer's
second head, the ONNX file's second output, and the API's ``landmarks68_300w``."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from conftest import need_torch

from denseface.data.human68 import held_out_photos, load_human68
from denseface.landmarks.ibug68 import FLIP_68


def write_human_folder(folder, n: int = 12, size: int = 96, seed: int = 0):
    """A folder in the w300_afw_helen layout: random images, each with a 68-point face outline
    (the mean face's 68 projected, jittered) and a bright dot drawn under point 30 (nose tip)."""
    from denseface.landmarks import load_landmark_set
    from denseface.infer.pose import Y_FLIP

    rng = np.random.default_rng(seed)
    ls = load_landmark_set()
    base = (ls.mean_shape[ls.idx68] @ Y_FLIP)[:, :2]
    base = (base - base.mean(0)) / np.ptp(base, 0).max() * size * 0.45 + size / 2
    (folder / "images").mkdir(parents=True)
    names, pts, sources = [], [], []
    for i in range(n):
        p = base + rng.normal(0, 1.0, base.shape) + rng.uniform(-4, 4, 2)
        img = cv2.GaussianBlur(rng.integers(0, 120, (size, size, 3), dtype=np.uint8), (5, 5), 0)
        cv2.circle(img, tuple(int(round(v)) for v in p[30]), 2, (255, 255, 255), -1)
        name = f"photo{i // 2}_{i % 2 + 1}.jpg"
        cv2.imwrite(str(folder / "images" / name), img)
        names.append(name)
        pts.append(p)
        sources.append(f"set/photo{i // 2}_{i % 2 + 1}.jpg")
    np.savez(folder / "labels.npz", names=np.array(names), pts68=np.array(pts, np.float32),
             source=np.array(sources))
    return folder


def test_held_out_split_keeps_a_photos_faces_together():
    sources = np.array([f"a/p{i // 3}_{i % 3 + 1}.jpg" for i in range(300)])
    held = held_out_photos(sources)
    assert held.sum() == 60 and np.array_equal(held, held_out_photos(sources))
    by_photo = held.reshape(100, 3)
    assert (by_photo.all(1) | ~by_photo.any(1)).all()


def test_training_crops_carry_their_points(tmp_path):
    folder = write_human_folder(tmp_path / "h")
    train = load_human68(folder, "train", 64)
    val = load_human68(folder, "val", 64)
    assert len(train.names) + len(val.names) == 12 and not set(train.names) & set(val.names)
    for img, p, s in zip(train.images, train.points, train.source_scale):
        # the dot under the nose tip is where the label puts it (label = pixel + (1 - s) / 2)
        x, y = p[30, :2] - (1 - s) / 2
        assert img[int(round(y)), int(round(x))].mean() > 150
    assert train.points.shape[1:] == (68, 3) and (train.points[..., 2] == 0).all()


@pytest.fixture(scope="module")
def mapped(tmp_path_factory, small_torch):
    """The small test model with a 300-W map fitted on a synthetic human-68 folder."""
    from denseface.models.regressor import load_model
    from denseface.train.points_map import with_points_map

    folder = write_human_folder(tmp_path_factory.mktemp("human") / "data", n=40, size=96)
    model, stats = with_points_map(load_model(small_torch.pt), folder)
    return model, stats, folder


def test_points_map_is_fitted_by_cross_validation(mapped):
    from denseface.train.points_map import LAMBDAS

    model, stats, _ = mapped
    assert model.config.head_300w and model.head_300w.in_features == 520 * 3
    assert stats["lambda"] in LAMBDAS and set(stats["cv_nme"]) == {str(v) for v in LAMBDAS}
    assert stats["train_faces"] + stats["val_faces"] == 40 and np.isfinite(stats["val_nme"])


def test_photo_folds_keep_a_photo_together():
    need_torch()
    from denseface.train.points_map import photo_folds

    names = np.array([f"p{i // 2}_{i % 2 + 1}.jpg" for i in range(40)])
    folds = photo_folds(names)
    assert (folds[0::2] == folds[1::2]).all() and set(folds) == set(range(5))


def test_second_head_through_onnx_and_the_api(mapped, small_torch, tmp_path):
    from denseface.export.onnx import export_onnx, parity_max_abs_px
    from denseface.infer.api import DenseFace, PredictConfig
    from denseface.metrics import interocular, nme_2d
    from denseface.models.runners import OnnxRunner

    model, _, folder = mapped
    path = export_onnx(model, tmp_path / "m.onnx")
    runner = OnnxRunner(path)
    crops = np.random.default_rng(0).integers(0, 255, (3, 64, 64, 3), dtype=np.uint8)
    out = runner.predict_outputs(crops)
    assert out["points"].shape == (3, 520, 3) and out["landmarks68_300w"].shape == (3, 68, 2)
    assert parity_max_abs_px(model, path, crops) < 1e-2
    df = DenseFace(path, config=PredictConfig(passes=1, tta="flip"))
    labels = np.load(folder / "labels.npz")
    human, plain = [], []
    for name, pts in zip(labels["names"], labels["pts68"]):
        img = cv2.cvtColor(cv2.imread(str(folder / "images" / str(name))), cv2.COLOR_BGR2RGB)
        box = np.concatenate([pts.min(0), pts.max(0)])
        face = df.predict(img, boxes=[box])[0]
        human.append(face.landmarks68_300w)
        plain.append(face.landmarks68[:, :2])
    truth = labels["pts68"].astype(np.float64)
    # the map turns this untrained network's points into the human outline far better than its 68
    err_human = nme_2d(np.array(human), truth, interocular(truth)).mean()
    assert err_human < 0.5 * nme_2d(np.array(plain), truth, interocular(truth)).mean()
    face = df.predict(img, boxes=[box])[0]
    assert face.landmarks68_300w.shape == (68, 2)
    assert json.loads(json.dumps(face.to_dict()))["landmarks68_300w"][0][0] == pytest.approx(
        face.landmarks68_300w[0, 0], abs=1e-3)
    # the flip average mirrors the second output through the iBUG flip too
    W = img.shape[1]
    mirrored = df.predict(np.ascontiguousarray(img[:, ::-1]), boxes=[[W - box[2], box[1], W - box[0], box[3]]])[0]
    expect = face.landmarks68_300w[FLIP_68].copy()
    expect[:, 0] = W - 1 - expect[:, 0]
    np.testing.assert_allclose(mirrored.landmarks68_300w, expect, atol=0.05)
    # a model without the head (the untrained network as exported) gives None (null in the JSON)
    plain_face = DenseFace(small_torch.onnx, config=PredictConfig(passes=1)).predict(img, boxes=[box])[0]
    assert plain_face.landmarks68_300w is None and plain_face.to_dict()["landmarks68_300w"] is None
