"""Video smoothing (denseface.infer.tracking) against ground truth: synthetic tracks whose true
positions are known, so the filter's noise reduction, lag, dead zone, warm start and its
motion-compensated split can each be measured."""
from __future__ import annotations

import numpy as np
import pytest

from denseface.infer.tracking import (FaceSmoother, OneEuroConfig, OneEuroFilter, SmoothingConfig,
                                      similarity_2d)

FPS = 30.0


@pytest.fixture(scope="module")
def mean_shape():
    from denseface.landmarks.landmark_set import load_landmark_set
    return load_landmark_set().mean_shape


def _face_px(mean_shape: np.ndarray, scale: float, angle: float, shift) -> np.ndarray:
    """The mean shape placed in an image (y down) by a known 2D similarity (``scale`` 1: a face
    200 px high), z scaled with it."""
    scale = scale * 200.0 / float(np.ptp(mean_shape[:, 1]))
    c, s = np.cos(angle), np.sin(angle)
    xy = mean_shape[:, :2] * [1.0, -1.0]
    out = np.column_stack([scale * (xy @ np.array([[c, s], [-s, c]])) + shift, scale * mean_shape[:, 2]])
    return out


def test_similarity_2d_recovers_a_known_similarity():
    rng = np.random.default_rng(0)
    src = rng.normal(size=40) + 1j * rng.normal(size=40)
    a, b = 1.7 * np.exp(0.4j), 3.0 - 2.0j
    fa, fb = similarity_2d(src, a * src + b)
    assert abs(fa - a) < 1e-12 and abs(fb - b) < 1e-12


def test_dead_zone_keeps_a_still_signal_at_the_low_cutoff():
    """Noise on a constant: with the dead zone the output's spread is several times smaller than
    the classic One Euro's with the same cutoff and beta (whose noise-driven speed opens the
    filter), and far below the input's."""
    rng = np.random.default_rng(1)
    noisy = rng.normal(0.0, 1.0, (300, 1, 2))          # one row of two numbers
    spreads = {}
    for dz in (0.0, 60.0):
        f = OneEuroFilter(OneEuroConfig(min_cutoff=0.2, beta=1.0, d_cutoff=1.0, deadzone=dz))
        out = np.array([f(x, i / FPS) for i, x in enumerate(noisy)])[60:]
        spreads[dz] = float(out.std())
    assert spreads[60.0] < 0.25 * noisy.std()
    assert spreads[60.0] < 0.5 * spreads[0.0]


def test_a_ramp_beyond_the_dead_zone_is_followed_with_bounded_lag():
    """A ramp at 100 units/s (the dead zone 20): after the start the lag stays below 0.5 units,
    where a fixed low-pass at the same minimum cutoff lags by tens."""
    ramp = (np.arange(90) * 100.0 / FPS)[:, None, None]
    fast = OneEuroFilter(OneEuroConfig(min_cutoff=0.1, beta=300.0, d_cutoff=1.0, deadzone=20.0))
    slow = OneEuroFilter(OneEuroConfig(min_cutoff=0.1, beta=0.0))
    lag_fast = np.array([x[0, 0] - fast(x, i / FPS)[0, 0] for i, x in enumerate(ramp)])
    lag_slow = np.array([x[0, 0] - slow(x, i / FPS)[0, 0] for i, x in enumerate(ramp)])
    assert np.abs(lag_fast[15:]).max() < 0.5
    assert lag_slow[-1] > 20.0


def test_warm_start_takes_the_mean_of_the_first_samples():
    """With a very low cutoff the n-th output is the mean of the first n samples (the first
    sample is not held)."""
    xs = np.array([3.0, 5.0, 10.0, 2.0])[:, None]
    f = OneEuroFilter(OneEuroConfig(min_cutoff=1e-6, beta=0.0))
    out = [f(x, i / FPS)[0] for i, x in enumerate(xs)]
    np.testing.assert_allclose(out, np.cumsum(xs[:, 0]) / np.arange(1, 5), atol=1e-6)


def test_rows_share_one_speed_elements_do_not():
    """An (R, D) sample: a row whose norm of speed passes the dead zone follows, even when each
    of its elements alone would not; a 1-D sample filters each element alone."""
    cfg = OneEuroConfig(min_cutoff=0.01, beta=1000.0, d_cutoff=30.0, deadzone=1.0)
    step = np.array([0.0, 0.0]), np.array([0.03, 0.03])    # 0.9 units/s per element, 1.27 together
    rows, flat = OneEuroFilter(cfg), OneEuroFilter(cfg)
    for i in range(40):
        x = step[0] + i * step[1]
        r, e = rows(x[None], i / FPS)[0], flat(x, i / FPS)
    assert abs(r[0] - x[0]) < 0.1 * abs(e[0] - x[0])


def test_face_smoother_follows_a_moving_face_and_steadies_a_still_one(mean_shape):
    """A face under a known smooth motion (shift 4 px a frame, rotation, scale) with per-point
    noise of 1 px: the smoothed points' error to the true ones is below the noise's, both still
    and moving; the motion-compensated split moves all points together (no lag of the shape)."""
    rng = np.random.default_rng(2)
    truth, noisy = [], []
    for i in range(90):
        moving = i >= 45
        k = i - 45 if moving else 0
        p = _face_px(mean_shape, 1.2 * (1 + 0.002 * k), 0.01 * k, np.array([320.0 + 4.0 * k, 240.0]))
        truth.append(p)
        noisy.append(p + rng.normal(0.0, 1.0, p.shape) * [1, 1, 0])
    sm = FaceSmoother(mean_shape, SmoothingConfig())
    out = np.array([sm(x, i / FPS) for i, x in enumerate(noisy)])
    err = np.linalg.norm(out[..., :2] - np.array(truth)[..., :2], axis=2).mean(1)
    raw = np.linalg.norm(np.array(noisy)[..., :2] - np.array(truth)[..., :2], axis=2).mean(1)
    assert err[20:45].mean() < 0.35 * raw[20:45].mean()      # still: steadier than the noise
    assert err[50:].mean() < raw[50:].mean()                  # moving: no lag beyond the noise


def test_ahead_moves_points_by_the_last_smoothed_step(mean_shape):
    """After a face moved 5 px a frame to the right, ahead() places the points one step further."""
    sm = FaceSmoother(mean_shape, SmoothingConfig())
    for i in range(30):
        sm(_face_px(mean_shape, 1.0, 0.0, np.array([100.0 + 5.0 * i, 200.0])), i / FPS)
    p = _face_px(mean_shape, 1.0, 0.0, np.array([100.0 + 5.0 * 29, 200.0]))
    moved = sm.ahead(p[:68])
    np.testing.assert_allclose(moved[:, 0] - p[:68, 0], 5.0, atol=0.3)
    np.testing.assert_allclose(moved[:, 1], p[:68, 1], atol=0.3)


def test_the_cli_keeps_the_smoothing_defaults():
    """`denseface predict` without smoothing flags smooths exactly as SmoothingConfig() (the flags
    set cutoffs and betas only, not the speed low-pass or the dead zones)."""
    from denseface.cli.main import build_parser
    from denseface.cli.predict import batch_options

    args = build_parser(["predict"]).parse_args(["predict", "x.mp4", "--out", "o"])
    assert batch_options(args).smoothing == SmoothingConfig()


def test_video_benchmark_scores_known_errors():
    """benchmarks/peers_video.py's figures on predictions with known errors: a constant offset of
    2 px has no jitter and an NME of 2 px over the inter-ocular distance; independent noise of
    sigma px per axis has a jitter of about sqrt(2) sigma."""
    from benchmarks.peers_video import Clip, scores

    rng = np.random.default_rng(3)
    gt68 = rng.uniform(100, 300, (68, 2))
    gt68[36], gt68[45] = (150.0, 200.0), (250.0, 200.0)            # inter-ocular 100 px
    clip = Clip("synthetic", "still", None, np.repeat(gt68[None], 200, 0), np.zeros((200, 2, 3)))
    offset = scores(clip.gt + [2.0, 0.0], clip)
    assert offset["jitter"] == pytest.approx(0.0, abs=1e-9) and offset["nme"] == pytest.approx(2.0)
    noisy = scores(clip.gt + rng.normal(0.0, 1.5, clip.gt.shape), clip)
    assert noisy["jitter"] == pytest.approx(np.sqrt(2) * 1.5, rel=0.05)
    assert noisy["step"] == pytest.approx(2 * 1.5 * np.sqrt(np.pi) / 2, rel=0.05)   # |N(0, 2 sigma^2 I_2)|


def test_a_face_turning_through_180_degrees_is_followed(mean_shape):
    """In-plane rotation at 90 deg/s through +-180 deg (where the angle's number wraps): the
    smoothed points stay on the true ones (no spin the other way round)."""
    sm = FaceSmoother(mean_shape, SmoothingConfig())
    errs = []
    for i in range(60):
        angle = np.radians(150.0 + 3.0 * i)
        truth = _face_px(mean_shape, 1.0, angle, np.array([320.0, 240.0]))
        errs.append(np.linalg.norm(sm(truth, i / FPS)[:, :2] - truth[:, :2], axis=1).mean())
    assert max(errs[15:]) < 2.0
