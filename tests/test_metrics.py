"""denseface.metrics (layer 3): NME 2D / 3D / visible points, the yaw bins and their summaries,
CED, each on inputs whose answer is known exactly."""
from __future__ import annotations

import numpy as np
import pytest

from denseface.metrics import (align_z_mean, balanced_mean, bbox_size, bin_means, ced_auc, ced_curve,
                               finite_mean, interocular, nme_2d, nme_3d, nme_visible, point_errors,
                               yaw_bin)


def _face(w=100.0, h=64.0, k=68, seed=0):
    """k points whose 2D box is exactly w x h (sqrt(w*h) = 80 for the defaults), with z."""
    rng = np.random.default_rng(seed)
    p = np.column_stack([rng.uniform(0, w, k), rng.uniform(0, h, k), rng.uniform(-20, 20, k)])
    p[0, :2], p[1, :2] = (0, 0), (w, h)
    return p + np.array([50.0, 30.0, 100.0])


def test_ground_truth_as_prediction_gives_zero():
    gt = _face()
    assert nme_2d(gt, gt) == 0.0
    assert nme_3d(gt, gt) == 0.0
    # 3D NME ignores the absolute depth: a constant z offset is aligned away
    assert nme_3d(gt + np.array([0, 0, 37.0]), gt) == pytest.approx(0.0, abs=1e-12)


def test_known_perturbations_give_known_nme():
    gt = _face()
    assert bbox_size(gt) == pytest.approx(80.0)
    # every point moved by (3, 4) px: error 5 px / 80 px = 6.25 %
    assert nme_2d(gt + np.array([3.0, 4.0, 0.0]), gt) == pytest.approx(6.25)
    # one point of 68 moved by 68 px: mean error 1 px -> 1.25 %
    one = gt.copy()
    one[10, 0] += 68.0
    assert nme_2d(one, gt) == pytest.approx(1.25)
    # explicit normaliser
    assert nme_2d(gt + np.array([2.0, 0, 0]), gt, norm=np.float64(50.0)) == pytest.approx(4.0)
    # 3D: half the points +8 px in z, half -8 (mean kept): 8 px / 80 = 10 %
    z = gt.copy()
    z[:34, 2] += 8.0
    z[34:, 2] -= 8.0
    assert nme_3d(z, gt) == pytest.approx(10.0)
    assert nme_2d(z, gt) == 0.0
    # batched shapes
    batch = np.stack([gt, gt + np.array([3.0, 4.0, 0])])
    np.testing.assert_allclose(nme_2d(batch, np.stack([gt, gt])), [0.0, 6.25])


def test_z_alignment_matches_means():
    gt, pred = _face(seed=1), _face(seed=2)
    a = align_z_mean(pred, gt)
    assert a[:, 2].mean() == pytest.approx(gt[:, 2].mean())
    np.testing.assert_array_equal(a[:, :2], pred[:, :2])


def test_visible_points_only():
    gt = np.zeros((1, 21, 2))
    gt[0, :, 0] = np.arange(21)
    vis = np.ones((1, 21), bool)
    vis[0, 5:] = False
    gt[0, 5:] = np.nan
    pred = gt.copy()
    pred[0, :5, 1] += 2.0              # visible points off by 2 px
    pred[0, 5:] = 1000.0               # invisible points are ignored
    assert nme_visible(pred, gt, vis, np.array([10.0]))[0] == pytest.approx(20.0)
    assert np.isnan(nme_visible(pred, gt, np.zeros((1, 21), bool), np.array([10.0]))[0])


def test_yaw_bins_and_summaries():
    np.testing.assert_array_equal(yaw_bin([0, 30, 30.01, -45, 60, -60.5, 351]), [0, 0, 1, 1, 1, 2, 2])
    values = np.array([1.0, 3.0, 2.0, 6.0, np.nan])
    bins = np.array([0, 0, 1, 2, 2])
    means = bin_means(values, bins)
    assert means == [2.0, 2.0, 6.0]
    assert balanced_mean(means) == pytest.approx(10 / 3)
    assert np.isnan(bin_means(values, np.array([0, 0, 0, 0, 0]))[1])


def test_ced_counts_failures():
    t, frac = ced_curve(np.array([1.0, 2.0, 3.0, np.nan]), max_nme=4.0, steps=5)
    np.testing.assert_allclose(t, [0, 1, 2, 3, 4])
    np.testing.assert_allclose(frac, [0, 0.25, 0.5, 0.75, 0.75])
    assert ced_auc(np.zeros(3), 10.0) == pytest.approx(1.0)


def test_interocular_is_the_outer_eye_corner_distance():
    p = np.zeros((2, 68, 2))
    p[0, 36], p[0, 45] = (10.0, 20.0), (40.0, 60.0)     # 3-4-5 triangle: 50 px
    p[1, 45] = (7.0, 0.0)
    np.testing.assert_allclose(interocular(p), [50.0, 7.0])


def test_point_errors_are_per_point_and_average_to_the_nme():
    gt = _face()
    pred = gt + np.array([3.0, 4.0, 9.0])                    # 5 px in the image plane
    np.testing.assert_allclose(point_errors(pred, gt, np.float64(50.0)), np.full(68, 10.0))
    batch_gt, batch = np.stack([gt, gt]), np.stack([pred, gt])
    errs = point_errors(batch, batch_gt, np.array([80.0, 80.0]))
    np.testing.assert_allclose(errs.mean(-1), nme_2d(batch, batch_gt))


def test_finite_mean_skips_nan_and_inf():
    assert finite_mean(np.array([1.0, np.nan, 3.0, np.inf])) == 2.0
    assert np.isnan(finite_mean(np.array([np.nan])))
