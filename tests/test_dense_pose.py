"""Dense alignment, head pose and the full mesh from 520 points (issue 15), on real data.

Three AFLW2000-3D images (the evenly spaced limit=3 subset: image00002, image01973, image04375),
the BFM and, for the end-to-end checks, the teacher. One image's numbers are recomputed here by
hand from the raw .mat arrays and the raw BFM .npy files, independently of denseface.mesh.
"""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from conftest import need_shared, need_torch


@pytest.fixture(scope="module")
def aflw3():
    from denseface.eval.datasets import load_aflw2000

    return load_aflw2000(need_shared("data", "aflw2000_3d"), need_shared("data", "3ddfa_test_configs"), limit=3)


def _angle2matrix_3ddfa(pitch, yaw, roll):
    """face3d / 3DDFA ``angle2matrix_3ddfa``, written out: R = Rx @ Ry @ Rz."""
    x, y, z = pitch, yaw, roll
    Rx = np.array([[1, 0, 0], [0, np.cos(x), np.sin(x)], [0, -np.sin(x), np.cos(x)]])
    Ry = np.array([[np.cos(y), 0, -np.sin(y)], [0, 1, 0], [np.sin(y), 0, np.cos(y)]])
    Rz = np.array([[np.cos(z), np.sin(z), 0], [-np.sin(z), np.cos(z), 0], [0, 0, 1]])
    return Rx @ Ry @ Rz


def test_gt_vertex_and_frame_by_hand(aflw3, bfm, landmark_set):
    """The 520-point ground truth of one vertex of image00002, from the raw arrays: BFM mean +
    bases (xyz interleaved .npy), s R X + t with R written out, image row = 450 + 1 - y (3DDFA's
    1-based frame), then - 1 px to OpenCV's frame."""
    import scipy.io as sio

    from denseface.eval.datasets import MeshPoints, gt_cameras, read_fit_params
    from denseface.mesh.fit import fit_from_pose_para

    folder = need_shared("models", "bfm_3ddfa_53215")
    m = sio.loadmat(str(need_shared("data", "aflw2000_3d", "image00002.mat")))
    pose = m["Pose_Para"].reshape(-1).astype(np.float64)
    shape = m["Shape_Para"].reshape(-1)[:40].astype(np.float64)
    exp = m["Exp_Para"].reshape(-1)[:10].astype(np.float64)
    np.testing.assert_allclose(pose, [-0.39923078, 0.018226579, 0.085676216, 231.46532, 262.06659,
                                      -102.7936, 0.0015874623], rtol=1e-6)
    k = 123                                              # a dense520 point, not one of the 68
    assert k not in landmark_set.idx68
    v = int(landmark_set.vertex_ids[k])
    rows = slice(3 * v, 3 * v + 3)
    u = np.load(folder / "u_shp.npy").reshape(-1)[rows] + np.load(folder / "u_exp.npy").reshape(-1)[rows]
    X = (u.astype(np.float64) + np.load(folder / "w_shp_sim.npy")[rows].astype(np.float64) @ shape
         + np.load(folder / "w_exp_sim.npy")[rows].astype(np.float64) @ exp)
    p = pose[6] * _angle2matrix_3ddfa(*pose[:3]) @ X + pose[3:6]
    matlab = np.array([p[0], 450 + 1 - p[1], p[2]])     # 3DDFA's 1-based pixel frame
    opencv = matlab - [1.0, 1.0, 0.0]

    P, S, E = read_fit_params(aflw3)
    assert aflw3.names[0] == "image00002.jpg"
    np.testing.assert_allclose(P[0], pose)
    ours = MeshPoints(bfm, landmark_set.vertex_ids).points(gt_cameras(P[:1]), S[:1], E[:1])[0, k]
    np.testing.assert_allclose(ours, opencv, atol=2e-3)
    # fit_from_pose_para is in the 1-based frame; gt_cameras differs from it by exactly 1 px in x, y
    cam1 = fit_from_pose_para(pose, shape, exp, 450).camera
    cam0 = gt_cameras(pose[None])[0]
    np.testing.assert_allclose(cam1 - cam0, [[0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]], atol=1e-12)
    np.testing.assert_allclose(cam1[:, :3] @ X + cam1[:, 3], matlab, atol=1e-6)

    # the same frame as Aflw2000.pts68 (pt3d_68 - 1): the fit's keypoints sit on them, unbiased
    kp = MeshPoints(bfm, bfm.keypoints68).points(gt_cameras(P), S, E)
    d = kp[..., :2] - aflw3.pts68[..., :2]
    assert np.median(np.linalg.norm(d, axis=-1)) < 2.0
    assert np.all(np.abs(d.reshape(-1, 2).mean(0)) < 0.6)          # a frame error would be ~1 px
    assert np.abs(np.median(kp[..., 2] - aflw3.pts68[..., 2])) < 0.5


def test_pose_angles_by_hand(aflw3):
    """Pose_Para -> (yaw, pitch, roll) degrees, and the ground-truth camera decodes back to them."""
    from denseface.eval.datasets import gt_cameras, read_fit_params
    from denseface.eval.pose import angles_from_cameras, angles_from_pose_para, pose_kept

    P, _, _ = read_fit_params(aflw3)
    ang = angles_from_pose_para(P)
    # image00002: Pose_Para pitch -0.39923078, yaw 0.018226579, roll 0.085676216 rad
    np.testing.assert_allclose(ang[0], np.degrees([0.018226579, -0.39923078, 0.085676216]), rtol=1e-6)
    np.testing.assert_allclose(ang[0], [1.04430604, -22.87423864, 4.90888556], atol=1e-5)
    np.testing.assert_allclose(angles_from_cameras(gt_cameras(P)), ang, atol=1e-6)
    assert pose_kept(ang).all()
    assert not pose_kept(np.array([[10.0, 100.0, 0.0]]))[0]


def test_euler_convention_synthetic():
    """Synthetic rotations through both decoders (camera and points) and the sign semantics."""
    from denseface.eval.pose import angle_errors
    from denseface.geometry.rotations import rotation_3ddfa
    from denseface.infer.pose import estimate_pose
    from denseface.landmarks import load_landmark_set
    from denseface.mesh.fit import pose_from_camera

    mean = load_landmark_set().mean_shape
    rng = np.random.default_rng(0)
    flip = np.diag([1.0, -1.0, 1.0])
    for yaw, pitch, roll in [(40.0, 0.0, 0.0), (0.0, 25.0, 0.0), (0.0, 0.0, 20.0)] + \
            [tuple(v) for v in rng.uniform([-85, -60, -60], [85, 60, 60], (20, 3))]:
        R = _angle2matrix_3ddfa(*np.radians([pitch, yaw, roll]))
        np.testing.assert_allclose(R, rotation_3ddfa(*np.radians([pitch, yaw, roll])), atol=1e-12)
        cam = np.zeros((3, 4))
        cam[:, :3] = flip @ (0.0015 * R)
        cam[:, 3] = [225.0, 225.0, 50.0]
        np.testing.assert_allclose(pose_from_camera(cam), (yaw, pitch, roll), atol=1e-6)
        pts = mean @ cam[:, :3].T + cam[:, 3]
        q = estimate_pose(pts, mean)
        np.testing.assert_allclose((q.yaw, q.pitch, q.roll), (yaw, pitch, roll), atol=1e-6)
        if (yaw, pitch, roll) == (40.0, 0.0, 0.0):     # yaw > 0: the nose moves to the image's left
            nose = int(np.argmax(mean[:, 2]))
            assert pts[nose, 0] < pts[:, 0].mean()
        if (yaw, pitch, roll) == (0.0, 25.0, 0.0):     # pitch > 0: looks up (nose rises in the image)
            nose = int(np.argmax(mean[:, 2]))
            assert pts[nose, 1] < 225.0 - 0.0015 * mean[nose, 1]
    assert angle_errors(np.array([[179.0, 0, 0]]), np.array([[-179.0, 0, 0]]), wrapped=True)[0, 0] == \
        pytest.approx(2.0)
    assert angle_errors(np.array([[179.0, 0, 0]]), np.array([[-179.0, 0, 0]]))[0, 0] == pytest.approx(358.0)


def test_face_region(bfm, landmark_set):
    from denseface.eval.datasets import face_region_vertices

    png = face_region_vertices(bfm, need_shared("data", "paper_520", "uv_face_mask.png"))
    txt = face_region_vertices(bfm, need_shared("data", "paper_520", "face_ind.txt"))
    np.testing.assert_array_equal(png, txt)
    assert len(png) == 38191
    assert np.isin(landmark_set.vertex_ids, png).all() and np.isin(bfm.keypoints68, png).all()


def test_point_fit_recovers_the_mesh(aflw3, bfm, landmark_set):
    """Noise-free 520 points of a real fit give back its full mesh; z offset and image similarity
    are carried through exactly; the module is torch-free."""
    from denseface.eval.datasets import gt_cameras, read_fit_params
    from denseface.mesh.fit import Fit
    from denseface.mesh.point_fit import PointFitConfig, full_mesh, point_fitter

    P, S, E = read_fit_params(aflw3)
    cam = gt_cameras(P)
    mesh = bfm.vertices(Fit(cam[1], S[1], E[1]))
    pts = mesh[landmark_set.vertex_ids]
    out = full_mesh(pts, bfm, landmark_set)
    assert out.shape == (53215, 3)
    d = np.linalg.norm(out - mesh, axis=1)
    assert np.median(d) < 0.15 and d.max() < 1.5, (np.median(d), d.max())   # prior bias only
    # z offset: arbitrary, carried through
    shifted = full_mesh(pts + [0.0, 0.0, 1000.0], bfm, landmark_set)
    np.testing.assert_allclose(shifted[:, 2] - out[:, 2], 1000.0, atol=2e-2)
    # equivariance: scaling and moving the image
    moved = full_mesh(pts * 2.0 + [10.0, -5.0, 3.0], bfm, landmark_set)
    np.testing.assert_allclose(moved, out * 2.0 + [10.0, -5.0, 3.0], atol=5e-2)
    # noisy points: the fit stays near the mesh and the residual reports the noise
    noisy = pts + np.random.default_rng(0).normal(0.0, 2.0, pts.shape)
    r = point_fitter(bfm, landmark_set, PointFitConfig()).fit(noisy)
    assert 1.5 < r.rms_px < 2.5
    assert np.median(np.linalg.norm(point_fitter(bfm, landmark_set).mesh(r.fit) - mesh, axis=1)) < 1.0
    code = "import sys, denseface.mesh.point_fit; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


class _OracleRunner:
    """A runner that 'predicts' the ground-truth 520 points of the protocol images, in order, in
    crop pixels of the crops it is given (to test the whole crop / un-crop chain)."""

    def __init__(self, points_image, boxes, size=120):
        from denseface.models.codec import ModelConfig

        self.config = ModelConfig(input_size=size, num_points=520)
        self.name = "oracle"
        self.queue = list(zip(points_image, boxes))

    def predict_crops(self, crops):
        from denseface.geometry.crop import crop_matrix

        out = []
        for _ in range(len(crops)):
            p, box = self.queue.pop(0)
            M = crop_matrix(box, self.config.input_size)
            q = p.copy()
            q[:, :2] = p[:, :2] @ M[:, :2].T + M[:, 2]
            q[:, 2] = p[:, 2] * np.sqrt(abs(np.linalg.det(M[:, :2])))
            out.append(q)
        return np.stack(out).astype(np.float32)


def test_dense_and_pose_end_to_end(aflw3, bfm, landmark_set, tmp_path):
    """Both benchmarks on the three images with an oracle model and the real teacher."""
    need_torch()
    import json

    from denseface.eval.datasets import MeshPoints, gt_cameras, read_fit_params
    from denseface.eval.dense import DenseConfig, evaluate_dense, model_predictions, predict_all
    from denseface.eval.pose import PoseConfig, evaluate_pose
    from denseface.eval.report import write_result

    need_shared("models", "3ddfa_v2_mb05")
    P, S, E = read_fit_params(aflw3)
    g520 = MeshPoints(bfm, landmark_set.vertex_ids).points(gt_cameras(P), S, E)
    oracle = _OracleRunner(g520, aflw3.boxes)
    preds = predict_all(aflw3, [oracle], teacher_dir="", progress=False, tta="none")   # one crop each
    points = model_predictions(preds)
    (name,) = points
    np.testing.assert_allclose(points[name], g520, atol=1e-3)
    assert preds["teacher"].outputs.shape == (3, 62) and preds["teacher"].idx68 is None

    res = evaluate_dense([], DenseConfig(limit=3, progress=False), preds=preds, data=aflw3)
    m = res.report["methods"]
    assert m[name]["p520_2d"]["all"] < 1e-3 and m[name]["p520_3d"]["all"] < 1e-3
    assert m[name]["face_3d"]["all"] < 0.1                           # the prior's bias only
    t, c = m["teacher"], m["teacher_refit"]
    assert 1.0 < t["p68_2d"]["all"] < 8.0
    assert abs(c["face_3d"]["all"] - t["face_3d"]["all"]) < 0.2      # the fitter adds little
    assert res.report["gt_quality"]["median_px"] < 2.0
    out = write_result(res, tmp_path / "dense")
    rep = json.loads((out / "report.json").read_text())
    assert rep["n"] == 3 and rep["per_image"] == "per_image.csv"
    assert (out / "report.md").read_text().startswith("# AFLW2000-3D dense alignment")

    pose = evaluate_pose([], PoseConfig(limit=3, progress=False), preds=preds, data=aflw3, fits=res.extras["fits"])
    pm = pose.report["methods"]
    assert pose.report["n"] == 3
    assert pm[f"{name}_fit"]["mean"] < 0.2                           # exact points -> the GT camera
    np.testing.assert_allclose(pm[f"{name}_points"]["mean"], pm["oracle_gt520"]["mean"], atol=1e-6)
    assert pm["teacher"]["mean"] < 10.0
    out = write_result(pose, tmp_path / "pose")
    assert "6DRepNet" in (out / "report.md").read_text()
