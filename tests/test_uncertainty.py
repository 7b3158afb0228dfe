"""The uncertainty head: each point's sigma, its calibration, its path to image pixels, and the
face's quality (denseface.train.uncertainty, models.regressor.UncertaintyHead, infer.face)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from denseface.infer.face import QUALITY_SCALE_NME, face_quality
from denseface.train.uncertainty import (WITHIN_ONE_SIGMA, calibration_scale, gaussian_nll,
                                         within_sigma)


def _gaussian_errors(sigma: np.ndarray, seed: int = 0) -> np.ndarray:
    """Radii of 2D isotropic Gaussian errors with per-axis sigma (same shape)."""
    rng = np.random.default_rng(seed)
    return np.linalg.norm(rng.normal(size=sigma.shape + (2,)) * sigma[..., None], axis=-1)


def test_within_sigma_of_true_gaussians_is_the_rayleigh_share():
    sigma = np.random.default_rng(1).uniform(0.5, 5.0, 200_000)
    r = _gaussian_errors(sigma)
    assert within_sigma(r, sigma) == pytest.approx(WITHIN_ONE_SIGMA, abs=0.005)
    assert within_sigma(r, sigma, 2.0) == pytest.approx(1 - np.exp(-2.0), abs=0.005)


def test_calibration_scale_recovers_a_wrong_scale():
    sigma = np.random.default_rng(2).uniform(0.5, 5.0, 100_000)
    r = _gaussian_errors(sigma)
    t = calibration_scale(r, sigma / 3.0)          # a head three times too confident
    assert t == pytest.approx(3.0, rel=0.03)
    assert within_sigma(r, t * sigma / 3.0) == pytest.approx(WITHIN_ONE_SIGMA, abs=0.002)


def test_gaussian_nll_is_lowest_at_the_true_sigma():
    sigma = np.full(50_000, 2.0)
    r2 = _gaussian_errors(sigma) ** 2
    nll = {s: gaussian_nll(np.log(np.full_like(sigma, s)), r2) for s in (1.0, 1.5, 2.0, 2.5, 3.0)}
    assert min(nll, key=nll.get) == 2.0


def test_face_quality_from_the_expected_nme():
    box = np.array([[0, 0, 0], [100, 0, 0], [0, 100, 0], [100, 100, 0]] * 17, np.float64)
    sigma = np.full(68, 4.0)       # expected radius 4 * sqrt(pi / 2) = 5.01 px on a 100 px face
    expected_nme = 100 * 4.0 * np.sqrt(np.pi / 2) / 100
    assert face_quality(sigma, box) == pytest.approx(np.exp(-expected_nme / QUALITY_SCALE_NME))
    assert face_quality(2 * sigma, box) < face_quality(sigma, box) < 1.0
    assert face_quality(sigma, np.zeros((68, 3))) == 0.0       # a degenerate face


def test_fit_head_learns_which_inputs_err_more():
    """Errors whose spread grows with one feature: the fitted head's sigma follows the truth."""
    torch = pytest.importorskip("torch")
    from denseface.models.regressor import UncertaintyHead
    from denseface.train.uncertainty import UncertaintyConfig, fit_head

    rng = np.random.default_rng(0)
    F = rng.normal(size=(6000, 8)).astype(np.float32)
    true_sigma = np.exp(0.5 * F[:, :1] + np.linspace(-0.5, 0.5, 5)[None])   # (M, 5 points)
    R2 = _gaussian_errors(true_sigma) ** 2
    torch.manual_seed(0)
    head = UncertaintyHead(8, 5, hidden=16)
    fit_head(head, F, R2, UncertaintyConfig(epochs=40, batch_size=256, lr=3e-3))
    with torch.no_grad():
        sigma = head(torch.from_numpy(F)).numpy()
    assert np.corrcoef(np.log(sigma).ravel(), np.log(true_sigma).ravel())[0, 1] > 0.95
    assert np.median(sigma / true_sigma) == pytest.approx(1.0, abs=0.1)


def test_uncertainty_travels_through_onnx_and_into_image_pixels(small_torch, tmp_path):
    """A model with the head: ONNX and torch agree, sigma is positive, a crop twice the input
    size doubles it in image pixels, and flip averaging keeps a symmetric input's sigma."""
    torch = pytest.importorskip("torch")
    from denseface.export.onnx import export_onnx, parity_max_abs_px
    from denseface.geometry.crop import crop_image
    from denseface.infer.crops import run_crop_outputs
    from denseface.landmarks import load_landmark_set
    from denseface.models import load_model
    from denseface.models.regressor import DenseRegressor
    from denseface.models.runners import UNCERTAINTY, OnnxRunner, output_names

    base = load_model(small_torch.pt)
    model = DenseRegressor(dataclasses.replace(base.config, head_uncertainty=True))
    model.load_state_dict(base.state_dict(), strict=False)
    torch.manual_seed(1)
    model.eval()
    path = export_onnx(model, tmp_path / "u.onnx")
    runner = OnnxRunner(path)
    assert output_names(runner.config)[-1] == UNCERTAINTY
    S = runner.config.input_size
    crops = np.random.default_rng(0).integers(0, 256, (3, S, S, 3), dtype=np.uint8)
    assert parity_max_abs_px(model, path, crops) < 1e-3
    sigma_crop = runner.predict_outputs(crops)[UNCERTAINTY]
    assert sigma_crop.shape == (3, runner.config.num_points) and (sigma_crop > 0).all()
    image = np.ascontiguousarray(np.repeat(np.repeat(crops[0], 2, 0), 2, 1))   # the crop, twice as large
    box = np.array([0, 0, 2 * S, 2 * S], np.float64)
    out = run_crop_outputs(runner, [image], [box])
    crop, _ = crop_image(image, box, S)     # what the network saw
    np.testing.assert_allclose(out[UNCERTAINTY][0], 2 * runner.predict_outputs(crop[None])[UNCERTAINTY][0],
                               rtol=1e-5)
    flip = load_landmark_set(runner.config.landmark_set).flip
    both = run_crop_outputs(runner, [crops[0]], [np.array([0, 0, S, S], np.float64)], flip=flip)
    mirrored = runner.predict_outputs(np.ascontiguousarray(crops[:1, :, ::-1]))[UNCERTAINTY][0][flip]
    np.testing.assert_allclose(both[UNCERTAINTY][0], 0.5 * (sigma_crop[0] + mirrored), rtol=1e-4)


def test_the_shipped_sigmas_rank_faces_on_aflw2000():
    """The default model on 100 AFLW2000-3D images (ground truth pt3d_68): sigmas on the scale of
    the errors (docs/predict.md: about 19 % within one sigma against these fits; a wrong unit or
    crop scale moves it far outside), and faces with a lower quality err more."""
    from conftest import need_shared

    need_shared("data", "aflw2000_3d")
    from denseface.eval.uncertainty import UncertaintyEvalConfig, evaluate_uncertainty

    r = evaluate_uncertainty(UncertaintyEvalConfig(limit=100, threads=1)).report
    assert 0.08 < r["within_1_sigma"] < 0.35 and r["within_3_sigma"] > 0.5
    assert r["spearman_quality"] > 0.3
    assert r["nme_kept_by_quality"][0] < r["nme_kept_by_quality"][-1]      # dropping by quality helps
