"""BFM loading (both layouts), fits, readers and the mirror map, on the real files in ../shared."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io as sio

from conftest import need_shared
from denseface.errors import DenseFaceError
from denseface.landmarks import FLIP_68
from denseface.mesh import Fit, load_bfm, load_bfm_3ddfa, load_bfm_face3d, pose_from_camera
from denseface.mesh.readers import read_fit_table, read_mat

MM = 1000.0  # BFM units per millimetre
BFM_FILES = ("u_shp.npy", "u_exp.npy", "w_shp_sim.npy", "w_exp_sim.npy", "tri.mat",
             "keypoints_sim.npy", "BFM_UV.mat", "param_whitening.pkl")


def _aflw2000_records():
    folder = need_shared("data", "aflw2000_3d")
    mats = sorted(folder.glob("image*.mat"))
    assert len(mats) == 2000
    return [read_mat(p, n_shape=40, n_exp=10) for p in mats]


def test_bfm_3ddfa_layout(bfm):
    assert bfm.mean.shape == (53215, 3)
    assert bfm.shape_basis.shape == (53215, 3, 40) and bfm.exp_basis.shape == (53215, 3, 10)
    assert bfm.triangles.shape == (105840, 3) and bfm.triangles.min() == 0
    assert bfm.triangles.max() == 53214
    assert bfm.keypoints68.shape == (68,) and len(np.unique(bfm.keypoints68)) == 68
    assert bfm.uv.shape == (53215, 2) and bfm.uv.min() >= 0 and bfm.uv.max() <= 1
    assert bfm.shape_std.shape == (40,) and bfm.exp_std.shape == (10,)
    # model frame: y up (forehead above chin), z towards the viewer (nose tip in front)
    kp = bfm.mean[bfm.keypoints68]
    assert kp[27, 1] > kp[8, 1] and kp[30, 2] > kp[0, 2]


def test_aflw2000_keypoints_within_3px(bfm):
    """All 2000 AFLW2000-3D fits (40/10 components): the 68 keypoint vertices against pt3d_68."""
    from denseface.data.targets import TargetEncoder

    recs = _aflw2000_records()
    enc = TargetEncoder(bfm, bfm.keypoints68)
    pts = enc.points(np.stack([r.fit.camera for r in recs]), np.stack([r.fit.shape for r in recs]),
                     np.stack([r.fit.expression for r in recs]))
    gt = np.stack([r.pt3d_68 for r in recs])
    err = np.linalg.norm(pts[..., :2] - gt[..., :2], axis=-1)          # (2000, 68) px
    print(f"AFLW2000-3D keypoint error (x,y): median {np.median(err):.3f} px, "
          f"mean {err.mean():.3f} px, median of per-image means {np.median(err.mean(1)):.3f} px")
    assert np.median(err) < 3.0
    assert np.median(err.mean(1)) < 3.0
    # z follows the same convention as pt3d_68 (same scale, offset ~ 0)
    assert abs(np.median(pts[..., 2] - gt[..., 2])) < 1.0
    # the vectorised encoder equals the per-fit mesh
    assert np.allclose(pts[7], bfm.landmarks68(recs[7].fit), atol=1e-9)


def test_pose_from_camera_matches_pose_para():
    """Angles from the camera give the same rotation as Pose_Para (angles themselves may differ
    by equivalent representations: AFLW2000-3D stores e.g. pitch -300 deg)."""
    from denseface.mesh import rotation_3ddfa

    recs = _aflw2000_records()[:300]
    n_same_angles = 0
    for r in recs:
        yaw, pitch, roll = pose_from_camera(r.fit.camera)
        R = rotation_3ddfa(*np.radians([pitch, yaw, roll]))
        assert np.allclose(R, rotation_3ddfa(*r.pose_para[:3]), atol=1e-6)
        n_same_angles += np.allclose([pitch, yaw, roll], np.degrees(r.pose_para[:3]), atol=1e-6)
    assert n_same_angles > 0.9 * len(recs)


def test_aflw_pl_check_values(bfm):
    """README check values for train image04379.jpg: landmarks 0, 30, 8 in crop pixels."""
    table = read_fit_table(need_shared("data", "aflw_pl", "train"))
    i = int(np.flatnonzero(table.names == "image04379.jpg")[0])
    lm = bfm.landmarks68(table.fit(i))
    assert np.allclose(lm[0], [20.65, 34.09, 19.67], atol=0.01)
    assert np.allclose(lm[30], [49.32, 54.92, 87.89], atol=0.01)
    assert np.allclose(lm[8], [55.02, 98.78, 60.78], atol=0.01)
    # z is shifted so that min z over the whole mesh is 0
    assert abs(bfm.vertices(table.fit(i))[:, 2].min()) < 1e-3


def test_fit_coefficients_shorter_than_basis(bfm):
    fit = Fit(np.eye(3, 4), np.zeros(5), np.zeros(0))
    assert np.allclose(bfm.vertices(fit), bfm.mean, atol=1e-3)
    with pytest.raises(DenseFaceError, match="coefficients"):
        bfm.vertices(Fit(np.eye(3, 4), np.zeros(41), np.zeros(10)))


def test_fit_transformed_is_an_image_transform(bfm):
    rng = np.random.default_rng(0)
    fit = Fit(rng.normal(size=(3, 4)), rng.normal(size=40) * 1e4, rng.normal(size=10))
    M = np.array([[0.5, 0.0, -10.0], [0.0, 0.5, 7.0]])
    v = bfm.vertices(fit, bfm.keypoints68)
    w = bfm.vertices(fit.transformed(M, z_scale=0.5, z_shift=3.0), bfm.keypoints68)
    assert np.allclose(w[:, :2], v[:, :2] @ M[:, :2].T + M[:, 2])
    assert np.allclose(w[:, 2], 0.5 * v[:, 2] + 3.0)


def _write_face3d_bfm(path: Path, folder: Path, n_vertices: int | None = None) -> None:
    """A face3d-layout BFM.mat made from the 3DDFA arrays (struct 'model', 1-based ids)."""
    import pickle

    u_shp, u_exp = np.load(folder / "u_shp.npy"), np.load(folder / "u_exp.npy")
    w_shp, w_exp = np.load(folder / "w_shp_sim.npy"), np.load(folder / "w_exp_sim.npy")
    tri = next(v for k, v in sio.loadmat(str(folder / "tri.mat")).items() if not k.startswith("__"))
    kp = np.load(folder / "keypoints_sim.npy").reshape(-1)[::3] // 3
    with open(folder / "param_whitening.pkl", "rb") as f:
        std = np.asarray(pickle.load(f)["param_std"], np.float64).reshape(-1)
    if n_vertices is not None:  # only for error tests: disagreeing shapes
        w_shp = w_shp[: 3 * n_vertices]
    model = {
        "shapeMU": u_shp, "shapePC": w_shp, "shapeEV": (std[12:52] ** 2).reshape(-1, 1),
        "expMU": u_exp, "expPC": w_exp, "expEV": (std[52:] ** 2).reshape(-1, 1),
        "tri": tri.astype(np.float64), "kpt_ind": (kp + 1).astype(np.float64).reshape(1, -1),
    }
    sio.savemat(str(path), {"model": model})


def test_face3d_bfm_mat_loader(bfm, tmp_path):
    folder = need_shared("models", "bfm_3ddfa_53215")
    path = tmp_path / "BFM.mat"
    _write_face3d_bfm(path, folder)
    f3 = load_bfm(path)
    assert f3.mean.shape == bfm.mean.shape
    assert np.array_equal(f3.triangles, bfm.triangles)
    assert np.array_equal(f3.keypoints68, bfm.keypoints68)
    assert np.allclose(f3.mean, bfm.mean) and np.allclose(f3.shape_basis, bfm.shape_basis)
    assert np.allclose(f3.exp_basis, bfm.exp_basis)
    assert f3.shape_std.shape == (40,) and f3.exp_std.shape == (10,)
    rec = read_mat(need_shared("data", "aflw2000_3d", "image00002.mat"), n_shape=40, n_exp=10)
    assert np.allclose(f3.landmarks68(rec.fit), bfm.landmarks68(rec.fit), atol=1e-3)


def _bfm_copy(tmp_path: Path, skip: str | None = None) -> Path:
    """A 3DDFA-layout folder of links to the shared files, optionally without one."""
    src = need_shared("models", "bfm_3ddfa_53215")
    dst = tmp_path / "bfm"
    dst.mkdir(parents=True)
    for name in BFM_FILES:
        if name != skip:
            (dst / name).symlink_to(src / name)
    return dst


def _one_line_error(exc: pytest.ExceptionInfo, path: Path, *words: str) -> None:
    msg = str(exc.value)
    assert "\n" not in msg and str(path) in msg, msg
    for w in words:
        assert w in msg, msg


def test_bfm_missing_folder_and_files(tmp_path):
    with pytest.raises(DenseFaceError) as e:
        load_bfm(tmp_path / "nope")
    _one_line_error(e, tmp_path / "nope", "not a BFM")
    with pytest.raises(DenseFaceError) as e:
        load_bfm_3ddfa(tmp_path / "nope")
    _one_line_error(e, tmp_path / "nope", "does not exist")
    for missing in ("u_exp.npy", "w_shp_sim.npy", "tri.mat", "keypoints_sim.npy"):
        folder = _bfm_copy(tmp_path / missing, skip=missing)
        with pytest.raises(DenseFaceError) as e:
            load_bfm(folder)
        _one_line_error(e, folder / missing, "missing")


def test_bfm_disagreeing_shapes_and_corrupt_files(tmp_path):
    folder = _bfm_copy(tmp_path, skip="w_exp_sim.npy")
    np.save(folder / "w_exp_sim.npy", np.zeros((300, 10), np.float32))
    with pytest.raises(DenseFaceError) as e:
        load_bfm(folder)
    _one_line_error(e, folder / "w_exp_sim.npy", "(300, 10)")

    folder = _bfm_copy(tmp_path / "b", skip="tri.mat")
    (folder / "tri.mat").write_bytes(b"MATLAB 5.0 MAT-file, garbage" * 10)
    with pytest.raises(DenseFaceError) as e:
        load_bfm(folder)
    _one_line_error(e, folder / "tri.mat", "cannot read")

    folder = _bfm_copy(tmp_path / "c", skip="u_shp.npy")
    (folder / "u_shp.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(DenseFaceError) as e:
        load_bfm(folder)
    _one_line_error(e, folder / "u_shp.npy", "cannot read")

    bad = tmp_path / "corrupt_BFM.mat"
    bad.write_bytes(b"\x00\x01 not a mat file" * 20)
    with pytest.raises(DenseFaceError) as e:
        load_bfm_face3d(bad)
    _one_line_error(e, bad, "cannot read")

    other = tmp_path / "other.mat"
    sio.savemat(str(other), {"something": np.zeros(3)})
    with pytest.raises(DenseFaceError) as e:
        load_bfm(other)
    _one_line_error(e, other, "model")

    short = tmp_path / "short_BFM.mat"
    _write_face3d_bfm(short, need_shared("models", "bfm_3ddfa_53215"), n_vertices=500)
    with pytest.raises(DenseFaceError) as e:
        load_bfm(short)
    _one_line_error(e, short, "disagree")


def test_read_mat_errors(tmp_path):
    good = need_shared("data", "aflw2000_3d", "image00002.mat")
    with pytest.raises(DenseFaceError) as e:
        read_mat(tmp_path / "missing.mat")
    _one_line_error(e, tmp_path / "missing.mat", "does not exist")

    corrupt = tmp_path / "corrupt.mat"
    corrupt.write_bytes(good.read_bytes()[:300])
    with pytest.raises(DenseFaceError) as e:
        read_mat(corrupt)
    _one_line_error(e, corrupt, "cannot read")

    m = sio.loadmat(str(good))
    m = {k: v for k, v in m.items() if not k.startswith("__")}
    for key, value, words in (
        ("Shape_Para", np.full((199, 1), np.nan), ("Shape_Para", "NaN")),
        ("Exp_Para", np.r_[np.zeros(28), np.inf].reshape(-1, 1), ("Exp_Para", "NaN")),
        ("Pose_Para", np.zeros((1, 6)), ("Pose_Para", "7")),
        ("pt3d_68", np.zeros((3, 21)), ("pt3d_68", "(3, 68)")),
    ):
        p = tmp_path / f"bad_{key}.mat"
        sio.savemat(str(p), {**m, key: value})
        with pytest.raises(DenseFaceError) as e:
            read_mat(p)
        _one_line_error(e, p, *words)
    p = tmp_path / "no_pose.mat"
    sio.savemat(str(p), {k: v for k, v in m.items() if k != "Pose_Para"})
    with pytest.raises(DenseFaceError) as e:
        read_mat(p)
    _one_line_error(e, p, "Pose_Para")


def test_read_fit_table_errors(tmp_path):
    with pytest.raises(DenseFaceError) as e:
        read_fit_table(tmp_path)
    _one_line_error(e, tmp_path / "labels.npz", "does not exist")
    p = tmp_path / "labels.npz"
    np.savez(p, names=np.array(["a.jpg", "b.jpg"]), camera=np.zeros((2, 3, 3)),
             shape=np.zeros((2, 40)), expression=np.zeros((2, 10)))
    with pytest.raises(DenseFaceError) as e:
        read_fit_table(p)
    _one_line_error(e, p, "camera")
    p.write_bytes(b"PK\x03\x04 broken zip")
    with pytest.raises(DenseFaceError) as e:
        read_fit_table(p)
    _one_line_error(e, p, "cannot read")


def test_mirror_map(bfm):
    """Left-right vertex permutation: residual stated in mm (BFM units are micrometres)."""
    perm, residual = bfm.mirror_map()
    assert perm.shape == (bfm.n_vertices,)
    med, mx = np.median(residual) / MM, residual.max() / MM
    print(f"BFM mirror map residual: median {med:.3f} mm, max {mx:.3f} mm, "
          f"involutive for {np.mean(perm[perm] == np.arange(len(perm))):.1%} of vertices")
    assert med < 0.6 and mx < 2.0
    # the mirror of each iBUG landmark vertex is (next to) its flipped partner
    kp = bfm.keypoints68
    d = np.linalg.norm(bfm.mean[perm[kp]] - bfm.mean[kp[FLIP_68]], axis=1) / MM
    assert np.median(d) < 1.0 and d.max() < 5.0
    # the midline maps onto itself
    nose_tip = kp[30]
    assert np.linalg.norm(bfm.mean[perm[nose_tip]] - bfm.mean[nose_tip]) / MM < 1.5

