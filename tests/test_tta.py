"""Flip test-time averaging: exact mirror equivariance, the crop-pixel mirror rule, and the option
wherever the network runs (API, tracker, eval)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from denseface.geometry.boxes import mirror_box, mirror_points
from denseface.infer.api import DenseFace, PredictConfig, run_crops
from denseface.models.codec import unmirror_crop_points


def textured_image(w: int = 331, h: int = 287, seed: int = 0) -> np.ndarray:
    """A smooth random RGB image with an asymmetric blob: anything the network sees works."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (h // 16, w // 16, 3), dtype=np.uint8)
    img = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    cv2.ellipse(img, (140, 150), (60, 80), 10, 0, 360, (220, 180, 150), -1)
    cv2.circle(img, (120, 130), 9, (20, 20, 20), -1)
    return img


@pytest.fixture(scope="module")
def shipped():
    return DenseFace(config=PredictConfig(passes=1, tta="flip", eyes=False), threads=1)


def test_unmirror_is_the_label_mirror():
    """x -> S - s - x: a label at i + (1 - s) / 2 on pixel i lands on pixel S - 1 - i."""
    flip = np.array([1, 0, 2])
    s, S = 0.4, 120
    pix = np.array([[10.0, 5.0, 3.0], [50.0, 6.0, 4.0], [60.0, 7.0, 5.0]])
    labels = pix + [(1 - s) / 2, 0, 0]                 # where the points are, in label coordinates
    mirror = np.empty_like(labels)
    mirror[:, :] = pix[flip]                            # the mirror's point i is point flip[i]
    mirror[:, 0] = S - 1 - pix[flip][:, 0] + (1 - s) / 2
    np.testing.assert_allclose(unmirror_crop_points(mirror, flip, S, s), labels, atol=1e-12)


def test_flip_average_is_exactly_mirror_equivariant(shipped):
    """A photo and its mirror give mirrored points. The user box is chosen so that its crop
    samples the photo at half-pixel positions (crop side 2 x 120 px from a whole-pixel corner),
    where OpenCV's fixed-point bilinear weights are exact: the mirror photo's crop is then
    bit-for-bit the crop's mirror. (Elsewhere OpenCV's 1/32-pixel rounding differs between a
    crop and its mirror by a grey level here and there, about 0.1 px in the points.)"""
    img = textured_image()
    W = img.shape[1]
    half = 120.0 / np.sqrt(2.0)            # roi_box: crop side = sqrt(2) x the box side = 240
    box = np.array([150.0 - half, 160.0 - half, 150.0 + half, 160.0 + half])
    flip = shipped.landmark_set.flip
    a = shipped.predict(img, boxes=[box])[0].landmarks
    b = shipped.predict(np.ascontiguousarray(img[:, ::-1]), boxes=[mirror_box(box, W)])[0].landmarks
    np.testing.assert_allclose(b, mirror_points(a, W, flip), atol=2e-3)


def test_the_eye_stage_is_mirror_equivariant_within_opencvs_rounding():
    """With the eye stage (its patches cut at arbitrary sub-pixel positions, where OpenCV's
    1/32-pixel bilinear weights differ between a photo and its mirror) the mirror photo's points
    stay within 0.2 px of the mirrored points (measured 0.12 px at most, 0.001 px on average)."""
    img = textured_image()
    W = img.shape[1]
    half = 120.0 / np.sqrt(2.0)
    box = np.array([150.0 - half, 160.0 - half, 150.0 + half, 160.0 + half])
    df = DenseFace(config=PredictConfig(passes=1, tta="flip"), threads=1)
    if df.eye_stage is None:
        pytest.skip("no eye stage shipped in this install")
    a = df.predict(img, boxes=[box])[0].landmarks
    b = df.predict(np.ascontiguousarray(img[:, ::-1]), boxes=[mirror_box(box, W)])[0].landmarks
    d = np.abs(b - mirror_points(a, W, df.landmark_set.flip))
    assert d.max() < 0.2 and d[..., :2].mean() < 0.01


def test_plain_crops_and_the_pixel_mirror_are_not_equivariant(shipped):
    """The test above can fail: without averaging the mirrored photo's points are off by more
    than its tolerance, and the pixel mirror x -> S - 1 - x would shift every point by
    (1 - s) / 2 crop pixels."""
    from denseface.geometry.boxes import roi_box
    from denseface.geometry.crop import crop_image

    img = textured_image()
    W = img.shape[1]
    box = np.array([70.0, 60.0, 230.0, 250.0])
    flip, runner = shipped.landmark_set.flip, shipped.runner
    c, cm = roi_box(box, shipped.roi_factor), roi_box(mirror_box(box, W), shipped.roi_factor)
    plain_a = run_crops(runner, [img], [c])[0]
    plain_b = run_crops(runner, [np.ascontiguousarray(img[:, ::-1])], [cm])[0]
    assert np.abs(plain_b - mirror_points(plain_a, W, flip)).max() > 0.01
    S = runner.config.input_size
    cut, M = crop_image(img, c, S)
    both = runner.predict_crops(np.stack([cut, cut[:, ::-1]]))
    naive = 0.5 * (both[0] + unmirror_crop_points(both[1], flip, S, 1.0))
    exact = 0.5 * (both[0] + unmirror_crop_points(both[1], flip, S, M[0, 0]))
    assert abs(float((exact - naive)[:, 0].mean()) - (1 - M[0, 0]) / 2) < 1e-6


def test_tta_reaches_the_tracker_and_config_checks(shipped):
    from denseface.errors import ConfigError

    img = textured_image()
    box = np.array([70.0, 60.0, 230.0, 250.0])
    face = shipped.predict(img, boxes=[box])[0]
    plain = DenseFace(config=PredictConfig(passes=1, tta="none"), threads=1)
    tracked_flip = shipped.track(img, [face])[0].landmarks
    tracked_plain = plain.track(img, [face])[0].landmarks
    assert np.abs(tracked_flip - tracked_plain).max() > 0.01
    with pytest.raises(ConfigError, match="tta must be one of"):
        PredictConfig(tta="mirror")


def test_eval_predictor_takes_tta():
    from denseface.eval.predictors import open_predictor

    img = textured_image()
    box = np.array([[40.0, 40.0, 260.0, 260.0]])
    flip_p, none_p = (open_predictor(None, threads=1, tta=t, eyes=False) for t in ("flip", "none"))
    ref = DenseFace(config=PredictConfig(passes=1, tta="flip"), threads=1)
    pts = run_crops(ref.runner, [img], box, flip=ref.landmark_set.flip)[0][ref.landmark_set.idx68]
    idx68 = flip_p.idx68                         # a predictor gives all the model's points
    np.testing.assert_allclose(flip_p.predict([img], box)[0][idx68], pts, atol=1e-6)
    assert np.abs(none_p.predict([img], box)[0][idx68] - pts).max() > 0.01
    if ref.eye_stage is not None:                # the eye stage runs after the network, as in predict
        from denseface.infer.api import run_crop_outputs
        out = run_crop_outputs(ref.runner, [img], box, None, ref.landmark_set.flip)
        eyes = ref.eye_stage.refine([img], out["points"], out["landmarks68_300w"])[0][0][idx68]
        np.testing.assert_allclose(open_predictor(None, threads=1, tta="flip").predict([img], box)[0][idx68],
                                   eyes, atol=1e-6)
