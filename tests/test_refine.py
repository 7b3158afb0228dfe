"""Label refinement: mapping data, the teacher network, the fitter, bad input, the CLI."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import need_shared, need_torch


@pytest.fixture(scope="module")
def val_table():
    from denseface.mesh.readers import read_fit_table
    return read_fit_table(need_shared("data", "aflw_pl", "val"))


# ---------------------------------------------------------------- mapping data

def test_mappings_are_valid(bfm):
    from denseface.refine.mapping import AFLW21_FIT_VERTICES, MAPPINGS, get_mapping

    sizes = {"aflw21_fit": 21, "aflw21_3ddfa": 21, "ibug68": 68}
    for name in MAPPINGS:
        m = get_mapping(name, bfm)
        assert m.n_points == sizes[name] == len(m.names) == len(set(m.names))
        ids = m.vertex_ids()
        assert ids.min() >= 0 and ids.max() < bfm.n_vertices
        G, gids = m.averaging_matrix()
        np.testing.assert_allclose(G.sum(1), 1.0)
        assert np.array_equal(gids, ids)
    assert len(set(AFLW21_FIT_VERTICES)) == 21


def test_fit_mapping_is_left_right_symmetric(bfm):
    from denseface.refine.mapping import AFLW21_FIT_VERTICES, AFLW21_FLIP

    perm, _ = bfm.mirror_map()
    v = np.array(AFLW21_FIT_VERTICES)
    for k, j in enumerate(AFLW21_FLIP):
        if j != k:
            assert perm[v[k]] == v[j], (k, j)
    # AFLW's "left" points lie on the image-left side of a frontal face (model -x)
    mid = 0.5 * (bfm.mean[:, 0].min() + bfm.mean[:, 0].max())
    left = [0, 1, 2, 6, 7, 8, 12, 13, 17]
    assert (bfm.mean[v[left], 0] < mid).all()


def test_fit_mapping_stays_near_the_3ddfa_points(bfm):
    from denseface.refine.mapping import aflw21_3ddfa, aflw21_fit

    a, b = aflw21_3ddfa(bfm.keypoints68), aflw21_fit(bfm.n_vertices)
    d = np.linalg.norm(a.apply(bfm.mean[None].astype(np.float64))[0] - b.apply(bfm.mean[None].astype(np.float64))[0], axis=1)
    assert d.max() < 15000.0          # BFM units: 15 mm, the derivation's search radius
    assert d[14] == 0.0               # the nose tip is the 3DDFA vertex


def test_3ddfa_mapping_of_teacher_mesh_reproduces_68_to_21(bfm, val_table):
    from denseface.landmarks.ibug68 import aflw21_from_68
    from denseface.refine.mapping import aflw21_3ddfa

    m = aflw21_3ddfa(bfm.keypoints68)
    for i in (0, 1, 2):
        fit = val_table.fit(i)
        expected = aflw21_from_68(bfm.landmarks68(fit))
        got = m.apply(bfm.vertices(fit)[None])[0]
        np.testing.assert_allclose(got, expected, atol=1e-9)


def test_fit_mapping_rejects_other_bfm_sizes():
    from denseface.errors import DenseFaceError
    from denseface.refine.mapping import aflw21_fit

    with pytest.raises(DenseFaceError):
        aflw21_fit(n_vertices=1000)


def test_silhouette_jaw_moves_only_turned_away_side(bfm, val_table):
    from denseface.mesh.fit import Fit
    from denseface.refine.mapping import silhouette_jaw

    frontal = np.zeros((3, 4))
    frontal[:, :3] = 5e-4 * np.diag([1.0, -1.0, 1.0])
    frontal[:, 3] = [60, 60, 0]
    assert np.array_equal(silhouette_jaw(bfm, frontal, np.zeros(40), np.zeros(10)), bfm.keypoints68)

    yaw = np.radians(60)
    R = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
    cam = frontal.copy()
    cam[:, :3] = 5e-4 * np.diag([1.0, -1.0, 1.0]) @ R
    ids = silhouette_jaw(bfm, cam, np.zeros(40), np.zeros(10))
    moved = np.flatnonzero(ids != bfm.keypoints68)
    assert moved.size > 0 and np.all(moved < 17)
    x_fixed = bfm.vertices(Fit(cam, np.zeros(40), np.zeros(10)), bfm.keypoints68)[moved, 0]
    x_sil = bfm.vertices(Fit(cam, np.zeros(40), np.zeros(10)), ids)[moved, 0]
    # moved points all lie on one side and further out than the fixed vertices
    side = np.sign(np.median(x_sil - x_fixed))
    assert side != 0 and np.all(side * (x_sil - x_fixed) >= 0)


# ---------------------------------------------------------------- teacher

def test_teacher_reproduces_aflw_pl_labels(val_table):
    need_torch()
    import cv2

    from denseface.refine.teacher import cameras_from_params, load_teacher, predict_params

    teacher = load_teacher(need_shared("models", "3ddfa_v2_mb05"))
    img_dir = need_shared("data", "aflw_pl", "val", "images")
    crops = np.stack([cv2.imread(str(img_dir / val_table.names[i])) for i in range(3)])
    params = predict_params(teacher, crops)
    cam = cameras_from_params(params, convention="3ddfa_v2")
    np.testing.assert_allclose(params[:, 12:52], val_table.shape[:3], rtol=1e-3, atol=50.0)
    np.testing.assert_allclose(params[:, 52:], val_table.expression[:3], atol=1e-3)
    np.testing.assert_allclose(cam[:, :2], val_table.camera[:3, :2], atol=1e-3)
    # the 3DDFA v1 flip (y = 121 - y, no x shift) is one pixel off in x and y
    v1 = cameras_from_params(params, convention="3ddfa_v1")
    np.testing.assert_allclose(v1[:, :2, 3] - cam[:, :2, 3], 1.0, atol=1e-9)


def test_crop_3ddfa_rounds_box_and_pads_black():
    from denseface.refine.teacher import crop_3ddfa

    img = np.full((50, 50, 3), 200, np.uint8)
    out = crop_3ddfa(img, np.array([-25.2, 0.4, 24.8, 50.0]), size=50)
    assert out.shape == (50, 50, 3)
    assert out[:, :20].max() == 0 and out[:, 30:].min() == 200


# ---------------------------------------------------------------- AFLW2000-3D protocol

def test_labels_nme_follows_the_3ddfa_protocol():
    from denseface.eval.datasets import Aflw2000
    from denseface.eval.label_quality import labels_nme
    from denseface.geometry.crop import points_from_crop, points_to_crop

    rng = np.random.default_rng(0)
    gt = np.stack([rng.uniform(100, 300, (6, 68)), rng.uniform(100, 200, (6, 68))], -1)
    gt[:, 0] = [100, 100]
    gt[:, 1] = [300, 200]                                   # bbox 200 x 100
    roi = np.array([[50, 60, 350, 360.0]] * 6)
    data = Aflw2000(names=np.array(list("abcdef")), image_paths=[], reannotated=gt, boxes=roi,
                    pts68=np.concatenate([gt, np.zeros((6, 68, 1))], -1), indices=np.arange(6),
                    yaw=np.array([10, -20, 40, 50, -70, 80.0]), pts21=np.zeros((6, 21, 2)))
    assert labels_nme(data, points_to_crop(gt, roi, 120))["balanced"] == pytest.approx(0.0, abs=1e-9)
    r = labels_nme(data, points_to_crop(gt + [3.0, 4.0], roi, 120))   # 5 px / sqrt(200 * 100)
    np.testing.assert_allclose(r["all"], 100 * 5 / np.sqrt(2e4))
    np.testing.assert_allclose(points_from_crop(points_to_crop(gt, roi, 120), roi, 120), gt)


# ---------------------------------------------------------------- fitter

def _perturbed(table, rng, rot_deg=4.0, coef_sigma=0.8):
    """The table with cameras rotated in model space and coefficients jittered (in std units)."""
    from denseface.mesh import load_bfm
    from denseface.mesh.readers import FitTable

    bfm = load_bfm(need_shared("models", "bfm_3ddfa_53215"))
    cam = table.camera.copy()
    for i in range(len(cam)):
        w = np.radians(rot_deg) * rng.normal(size=3) / np.sqrt(3)
        th = np.linalg.norm(w)
        K = np.array([[0, -w[2], w[1]], [w[2], 0, -w[0]], [-w[1], w[0], 0]]) / th
        R = np.eye(3) + np.sin(th) * K + (1 - np.cos(th)) * K @ K
        cam[i, :, :3] = cam[i, :, :3] @ R
        cam[i, :2, 3] += rng.normal(scale=1.5, size=2)
    shape = table.shape + coef_sigma * rng.normal(size=table.shape.shape) * bfm.shape_std
    exp = table.expression + coef_sigma * rng.normal(size=table.expression.shape) * bfm.exp_std[:10]
    return FitTable(table.names, cam, shape, exp, table.pts21, table.yaw, table.roi_box)


def test_refinement_recovers_a_perturbed_fit_from_its_own_landmarks(bfm, val_table):
    need_torch()
    from denseface.landmarks import load_landmark_set
    from denseface.mesh.readers import FitTable
    from denseface.refine.fitter import FitWeights
    from denseface.refine.refiner import RefineConfig, Refiner

    rng = np.random.default_rng(1)
    rows = np.arange(12)
    truth = val_table.subset(rows)
    # a similarity camera so that the truth is reachable exactly
    from denseface.refine.fitter import nearest_similarity
    truth = FitTable(truth.names, np.concatenate([nearest_similarity(truth.camera[:, :, :3]),
                                                  truth.camera[:, :, 3:]], 2),
                     truth.shape, truth.expression, truth.pts21, truth.yaw, truth.roi_box)
    start = _perturbed(truth, rng)
    dense = load_landmark_set().vertex_ids

    def dense_err(table) -> float:
        return float(np.mean([np.linalg.norm(bfm.vertices(table.fit(i), dense)[:, :2]
                                             - bfm.vertices(truth.fit(i), dense)[:, :2], axis=1).mean()
                               for i in range(len(rows))]))

    err0 = dense_err(start)
    assert err0 > 2.0                                       # the perturbation is real
    weights = FitWeights(anchor_weight=1e-3, prior_weight=1e-4, huber_px=50.0, iterations=40)
    # 68 points determine pose, shape and expression: exact recovery of all 520 dense points;
    # the 21 AFLW points nearly so
    for mapping, bound in (("ibug68", 0.05), ("aflw21_fit", 0.4)):
        refiner = Refiner(bfm, RefineConfig(mapping=mapping, weights=weights, min_points=10))
        targets = np.stack([refiner.mapping.apply(bfm.vertices(truth.fit(i))[None])[0][:, :2]
                            for i in range(len(rows))])
        res = refiner.run(start, points=targets)
        assert (res.status == 0).all()
        assert res.residual_px.max() < 0.05                 # the given points are matched
        assert dense_err(res.table) < bound, mapping        # and the unseen dense points follow
    # z keeps the aflw_pl convention: min z over the mesh is 0
    z = bfm.vertices(res.table.fit(0))[:, 2]
    assert abs(z.min()) < 1e-3


def test_holdout_error_does_not_get_worse_on_val(bfm, val_table):
    need_torch()
    from denseface.refine.holdout import holdout_eval
    from denseface.refine.refiner import RefineConfig, Refiner

    sub = val_table.subset(np.arange(0, 1000, 20))          # 50 images
    h = holdout_eval(Refiner(bfm, RefineConfig()), sub, folds=5, seed=3)
    s = h.summary()
    assert s["held_out_points"] > 300
    assert s["refined_mean_px"] < s["init_mean_px"]


def test_bad_input_is_flagged_kept_and_never_nan(bfm, val_table):
    need_torch()
    from denseface.mesh.readers import FitTable
    from denseface.refine.refiner import RefineConfig, Refiner

    tab = val_table.subset(np.arange(8))
    pts = tab.pts21.astype(np.float64).copy()
    pts[0, 4:] = np.nan                                     # 4 points: too few
    pts[1] = np.nan                                         # none at all
    pts[2, :, 0] += 500.0                                   # all gross outliers: gated away
    cam = tab.camera.copy()
    cam[3, 0, 0] = np.nan                                   # a broken input fit
    tab = FitTable(tab.names, cam, tab.shape, tab.expression, pts.astype(np.float32), tab.yaw, tab.roi_box)
    res = Refiner(bfm, RefineConfig(min_points=6)).run(tab)
    assert list(res.status[:4]) == [1, 1, 1, 3]
    assert res.doubtful[:4].all() and (res.status[4:] == 0).all()
    for i in range(3):
        np.testing.assert_array_equal(res.table.camera[i], tab.camera[i])
        np.testing.assert_array_equal(res.table.shape[i], tab.shape[i])
    ok = np.arange(8) != 3
    assert np.isfinite(res.table.camera[ok]).all() and np.isfinite(res.table.shape).all()
    s = res.summary()
    assert s["too_few_points"] == 3 and s["input_not_finite"] == 1 and s["points_dropped"] >= 21 - 5


def test_implausible_moves_fall_back_to_the_initial_fit(bfm, val_table):
    need_torch()
    from denseface.refine.refiner import RefineConfig, Refiner

    tab = val_table.subset(np.arange(6))
    res = Refiner(bfm, RefineConfig(max_move_px=1e-6)).run(tab)
    assert (res.status == 2).all() and res.doubtful.all()
    np.testing.assert_array_equal(res.table.camera, tab.camera)
    np.testing.assert_array_equal(res.table.expression, tab.expression)


def test_config_rejects_bad_values():
    from denseface.errors import ConfigError
    from denseface.refine.fitter import FitWeights
    from denseface.refine.refiner import RefineConfig

    with pytest.raises(ConfigError):
        RefineConfig(weights=FitWeights(camera="perspective"))
    with pytest.raises(ConfigError):
        RefineConfig(weights=FitWeights(huber_px=0.0))
    with pytest.raises(ConfigError):
        RefineConfig(min_points=0)


# ---------------------------------------------------------------- CLI

def test_cli_refines_a_small_split(tmp_path, val_table, capsys):
    need_torch()
    from denseface.cli.main import main
    from denseface.mesh.readers import read_fit_table

    data = tmp_path / "split"
    data.mkdir()
    val_table.subset(np.arange(20)).save(data / "labels.npz")
    out = tmp_path / "refined.npz"
    rc = main(["data", "refine", "--data", str(data), "--out", str(out), "--summary", str(tmp_path / "s.json"),
               "--bfm", str(need_shared("models", "bfm_3ddfa_53215"))])
    assert rc == 0
    assert "refined" in capsys.readouterr().out
    t = read_fit_table(out)
    assert list(t.names) == list(val_table.names[:20])
    z = np.load(out)
    for key in ("refine_status", "doubtful", "residual_px", "residual_init_px", "n_points", "moved_px", "pts21",
                "yaw", "roi_box"):
        assert key in z.files
    assert np.isfinite(t.camera).all()
    assert np.nanmean(z["residual_px"]) < np.nanmean(z["residual_init_px"])


def test_cli_bad_paths_give_one_line_errors(tmp_path, capsys):
    from denseface.cli.main import main

    rc = main(["data", "refine", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "o.npz")])
    assert rc == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "labels" in err
    rc = main(["data", "refine", "--data", str(tmp_path), "--out", str(tmp_path / "no" / "o.npz")])
    assert rc == 4
