"""Face.expression: the 10 BFM expression coefficients of the fit to the 520 points, in the API,
the JSON, the tables, videos and the CLI; and the benchmark's measures (denseface.eval.expression)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from denseface.cli.main import main
from denseface.infer.api import DenseFace, PredictConfig
from tests.conftest import need_shared


def _aflw_fits(names=("image00002", "image00004", "image00006")):
    """AFLW2000-3D fits: (cameras in the OpenCV frame, Shape_Para[:40], Exp_Para[:10])."""
    from denseface.eval.datasets import gt_cameras
    from denseface.mesh.readers import read_mat

    folder = need_shared("data", "aflw2000_3d")
    recs = [read_mat(folder / f"{n}.mat", n_shape=40, n_exp=10) for n in names]
    return (gt_cameras(np.stack([r.pose_para for r in recs])), np.stack([r.fit.shape for r in recs]),
            np.stack([r.fit.expression for r in recs]))


def _face(points: np.ndarray):
    from denseface.infer.face import Face
    from denseface.infer.pose import Pose

    box = np.array([*points[:, :2].min(0), *points[:, :2].max(0)])
    return Face(box, 1.0, points, points[:68], Pose(0.0, 0.0, 0.0), box)


def test_expression_recovers_the_coefficients_of_known_fits(small_models, bfm, landmark_set):
    """Ground truth: AFLW2000-3D's own fits rendered at the 520 vertices. The point fit with free
    priors gives their Exp_Para[:10] back within 5 % of their size; Face.expression (its stiff
    priors draw it towards the neutral face, by design: benchmarks/bench_expression.py) stays well
    below the neutral face's displacement error; None without asking."""
    from denseface.eval.datasets import MeshPoints, face_region_vertices
    from denseface.eval.expression import displacement_rms, expression_gram, eye_corner_distance
    from denseface.mesh.point_fit import point_fitter

    cams, shape, exp = _aflw_fits()
    points = MeshPoints(bfm, landmark_set.vertex_ids).points(cams, shape, exp)
    faces = [_face(p) for p in points]
    plain = DenseFace(small_models.mean_onnx, bfm=bfm)
    assert all(f.expression is None for f in plain.with_fits(faces))
    model = DenseFace(small_models.mean_onnx, config=PredictConfig(expression=True), bfm=bfm)
    got = np.stack([f.expression for f in model.with_fits(faces)])
    assert got.shape == (3, 10)
    free = np.stack([point_fitter(bfm, landmark_set).fit(p).fit.expression for p in points])
    assert np.abs(free - exp).max() < 0.05 * np.abs(exp).max()
    ids = face_region_vertices(bfm)
    error = [displacement_rms(c, exp, expression_gram(bfm, ids), len(ids), eye_corner_distance(bfm))
             for c in (got, np.zeros_like(exp))]
    assert (error[0] < 0.8 * error[1]).all(), error
    # the full mesh is its own fit (a freer identity); asked for together, each comes from its own
    both = model.with_fits(faces, mesh="full")
    np.testing.assert_allclose(np.stack([f.expression for f in both]), got)
    full = plain.with_fits(faces, mesh="full")
    assert full[0].mesh.shape == (53215, 3) and full[0].expression is None
    np.testing.assert_allclose(both[0].mesh, full[0].mesh)


def test_expression_in_json_tables_and_cli(tmp_path, small_models, bfm, capsys):
    from denseface.infer.outputs import image_record, json_bytes

    image = np.zeros((120, 160, 3), np.uint8)
    box = [[40, 30, 100, 100]]
    off = DenseFace(small_models.mean_onnx).predict(image, boxes=box)
    assert json.loads(json_bytes(image_record("x.jpg", 160, 120, off)))["faces"][0]["expression"] is None
    on = DenseFace(small_models.mean_onnx, config={"expression": True}, bfm=bfm).predict(image, boxes=box)
    rec = json.loads(json_bytes(image_record("x.jpg", 160, 120, on)))["faces"][0]
    assert len(rec["expression"]) == 10 and rec["expression"] == pytest.approx(on[0].expression, abs=1e-4)
    # the parquet table's schema holds it (null when not asked for)
    pa = pytest.importorskip("pyarrow")
    from denseface.infer.tables import table_schema
    for faces in (off, on):
        row = {"image": "x.jpg", "width": 160, "height": 120, "error": None,
               "faces": [f.to_dict() for f in faces]}
        back = pa.Table.from_pylist([row], schema=table_schema()).to_pylist()[0]["faces"][0]["expression"]
        assert back == (None if faces is off else pytest.approx(list(on[0].expression), abs=1e-4))
    # CLI: --expression with the BFM; --bfm alone still does nothing and says so; a bad BFM: one line
    import cv2
    cv2.imwrite(str(tmp_path / "a.png"), image)
    bfm_dir = str(need_shared("models", "bfm_3ddfa_53215"))
    args = ["predict", str(tmp_path / "a.png"), "--model", str(small_models.mean_onnx), "--box", "40,30,100,100",
            "--quiet"]
    assert main(args + ["--out", str(tmp_path / "o"), "--expression", "--bfm", bfm_dir]) == 0
    assert len(json.loads((tmp_path / "o" / "a.json").read_text())["faces"][0]["expression"]) == 10
    assert main(args + ["--out", str(tmp_path / "o2"), "--bfm", bfm_dir]) == 2
    assert main(args + ["--out", str(tmp_path / "o3"), "--expression", "--bfm", str(tmp_path)]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert "--bfm is read only for full meshes and expressions" in err[-2]
    assert "expressions need the Basel Face Model" in err[-1] and "Traceback" not in "".join(err)


def test_expression_config_is_checked():
    from denseface.errors import ConfigError

    with pytest.raises(ConfigError, match="expression must be true or false"):
        PredictConfig(expression="yes")


def test_expression_measures_against_direct_computation(bfm):
    """The benchmark's displacement error through the Gram matrix equals the displacement
    computed vertex by vertex; perfect coefficients score r = 1, error 0, R^2 = 1."""
    from denseface.eval.expression import (displacement_r2, displacement_rms, expression_gram,
                                           eye_corner_distance, pearson_per_coefficient, score_expressions)

    rng = np.random.default_rng(0)
    ids = np.arange(0, bfm.n_vertices, 97)
    truth = rng.normal(size=(40, 10)) * bfm.exp_std[:10]
    pred = truth + rng.normal(size=(40, 10)) * 0.3 * bfm.exp_std[:10]
    gram, norm = expression_gram(bfm, ids), eye_corner_distance(bfm)
    disp = np.einsum("vkd,nd->nvk", bfm.exp_basis[ids].astype(np.float64), pred - truth)
    direct = 100 * np.sqrt((disp ** 2).sum(-1).mean(1)) / norm
    np.testing.assert_allclose(displacement_rms(pred, truth, gram, len(ids), norm), direct, rtol=1e-6)
    r = pearson_per_coefficient(pred, truth)
    np.testing.assert_allclose(r, [np.corrcoef(pred[:, k], truth[:, k])[0, 1] for k in range(10)], rtol=1e-9)
    perfect = score_expressions({"same": truth}, truth, gram, len(ids), norm)["same"]
    assert perfect["r_mean"] == pytest.approx(1.0) and perfect["disp_rms_mean"] == pytest.approx(0.0, abs=1e-9)
    assert perfect["r2"] == pytest.approx(1.0)
    assert 0.5 < displacement_r2(pred, truth, gram) < 1.0
    assert 0.1 < eye_corner_distance(bfm) / np.ptp(bfm.mean[:, 0]) < 0.9


def test_a_bfm_without_its_scales_is_one_line_not_a_traceback(tmp_path, small_models, capsys):
    """The fit's prior needs param_whitening.pkl: without it, --expression (and --mesh full) stop
    with one line naming the folder (it was a ValueError traceback)."""
    import cv2

    src = need_shared("models", "bfm_3ddfa_53215")
    folder = tmp_path / "bfm"
    folder.mkdir()
    for f in src.iterdir():
        if f.suffix != ".pkl":
            (folder / f.name).symlink_to(f)
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((120, 160, 3), np.uint8))
    rc = main(["predict", str(tmp_path / "a.png"), "--model", str(small_models.mean_onnx), "--box", "40,30,100,100",
               "--quiet", "--out", str(tmp_path / "o"), "--expression", "--bfm", str(folder)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 3 and len(err) == 1 and str(folder) in err[0] and "param_whitening.pkl" in err[0]
