"""Face profiling (denseface.data.profile) and its rasteriser, against ground truth: a synthetic
textured BFM face rendered at one pose, profiled, and compared with the same face rendered directly
at the new pose; the profile at the source pose reproduces the source crop."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import need_shared, need_torch

from denseface.geometry.raster import rasterize
from denseface.geometry.rotations import rotation_3ddfa

FLIP = np.diag([1.0, -1.0, 1.0])
SIZE = 160


# ---------------------------------------------------------------- rasteriser

def test_rasterize_covers_exactly_the_pixel_centres_inside_and_keeps_the_nearest():
    # a big triangle at z = 0 and a small one in front (z = 5) over part of it
    v = np.array([[0.0, 0.0, 0.0], [20.0, 0.0, 0.0], [0.0, 20.0, 0.0],
                  [2.0, 2.0, 5.0], [8.0, 2.0, 5.0], [2.0, 8.0, 5.0]])
    r = rasterize(v, np.array([[0, 1, 2], [3, 5, 4]]), 24, 24)
    yy, xx = np.mgrid[0:24, 0:24]
    big = (xx + yy <= 20)
    small = (xx >= 2) & (yy >= 2) & (xx + yy <= 10)
    assert np.array_equal(r.covered, big)
    assert np.array_equal(r.triangle == 1, small)
    assert np.allclose(r.depth[small], 5.0) and np.allclose(r.depth[big & ~small], 0.0)
    # barycentric interpolation reproduces the pixel positions
    xy = r.interpolate(v[:, :2], np.array([[0, 1, 2], [3, 5, 4]]))
    assert np.allclose(xy[big], np.stack([xx, yy], -1)[big], atol=1e-5)


# ---------------------------------------------------------------- a synthetic textured face

def _texture(model_xyz: np.ndarray) -> np.ndarray:
    """A smooth colour pattern fixed on the face (model coordinates), (..., 3) in 0..255."""
    x, y = model_xyz[..., 0], model_xyz[..., 1]
    return np.stack([128 + 90 * np.sin(2 * np.pi * x / 60000.0), 128 + 90 * np.sin(2 * np.pi * y / 50000.0),
                     128 + 90 * np.cos(2 * np.pi * (x + y) / 80000.0)], -1)


def _render(bfm, X: np.ndarray, cam: np.ndarray, size: int, to_pixels=None) -> tuple[np.ndarray, object]:
    """Image (size, size, 3) uint8 of the model points X (V, 3) through ``cam`` (3, 4): the face
    textured by _texture, the background a smooth ramp; ``to_pixels`` (2, 3) maps the image frame
    to this image's pixels (default identity)."""
    V = X @ cam[:, :3].T + cam[:, 3]
    if to_pixels is not None:
        V = np.concatenate([V[:, :2] @ to_pixels[:, :2].T + to_pixels[:, 2], V[:, 2:]], 1)
    r = rasterize(V, bfm.triangles, size, size)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    img = np.stack([60 + 0.8 * xx, 60 + 0.8 * yy, np.full_like(xx, 90.0)], -1)
    model = r.interpolate(X, bfm.triangles)
    img[r.covered] = _texture(model[r.covered])
    return np.clip(np.round(img), 0, 255).astype(np.uint8), r


def _camera(bfm, pitch, yaw, roll, centre):
    """A scaled-orthographic camera for the mean face with its vertex centroid at ``centre`` (3,)."""
    s = 90.0 / np.ptp(bfm.mean[:, 0])
    L = s * FLIP @ rotation_3ddfa(np.radians(pitch), np.radians(yaw), np.radians(roll))
    X = bfm.mean.astype(np.float64)
    return np.concatenate([L, (centre - X.mean(0) @ L.T)[:, None]], 1)


@pytest.fixture(scope="module")
def synthetic(bfm):
    from denseface.mesh.fit import Fit

    cam = _camera(bfm, 5.0, 20.0, 3.0, np.array([80.0, 84.0, 0.0]))
    image, raster = _render(bfm, bfm.mean.astype(np.float64), cam, SIZE)
    return image, Fit(cam, np.zeros(0), np.zeros(0)), raster


def test_profiled_labels_are_the_rotated_vertices(bfm, synthetic):
    """The view's labels, mapped back to the source frame, are the face at the new pose (Euler
    angles built independently) with its centroid kept, to 1e-6 px."""
    from denseface.data.profile import ProfileConfig, profile_view

    image, fit, _ = synthetic
    view = profile_view(image, fit, np.array([0.0, 0.0, SIZE, SIZE]), bfm, 60.0, -4.0,
                        ProfileConfig(size=SIZE, supersample=1))
    X = bfm.mean.astype(np.float64)
    expected_cam = _camera(bfm, 5.0 - 4.0, 60.0, 3.0, (X @ fit.camera[:, :3].T + fit.camera[:, 3]).mean(0))
    expected = X @ expected_cam[:, :3].T + expected_cam[:, 3]
    got = bfm.vertices(view.fit)
    k = (view.box[2] - view.box[0]) / SIZE
    back = got[:, :2] * k + view.box[:2]
    assert np.abs(back - expected[:, :2]).max() < 1e-6
    assert np.allclose(got[:, 2] * k, expected[:, 2] - expected[:, 2].min(), atol=1e-6)
    assert got[:, 2].min() == pytest.approx(0.0, abs=1e-9)
    assert view.yaw == pytest.approx(60.0, abs=1e-6) and view.pitch == pytest.approx(1.0, abs=1e-6)


def test_profiled_face_matches_the_face_rendered_at_the_new_pose(bfm, synthetic):
    """Face pixels of the profiled view against a direct render of the textured face at the new
    pose, where the surface point was visible in the source (away from silhouettes)."""
    import cv2
    from denseface.data.profile import ProfileConfig, profile_view
    from denseface.geometry.crop import crop_matrix, resize_sampling

    image, fit, src_raster = synthetic
    view = profile_view(image, fit, np.array([0.0, 0.0, SIZE, SIZE]), bfm, 50.0, 0.0,
                        ProfileConfig(size=SIZE, supersample=1))
    X = bfm.mean.astype(np.float64)
    cam = _camera(bfm, 5.0, 50.0, 3.0, (X @ fit.camera[:, :3].T + fit.camera[:, 3]).mean(0))
    truth, r = _render(bfm, X, cam, SIZE, resize_sampling(crop_matrix(view.box, SIZE)))
    # where each pixel's surface point sat in the source, and whether it was visible there
    src = r.interpolate(X @ fit.camera[:, :3].T + fit.camera[:, 3], bfm.triangles)
    xi = np.clip(np.round(src[..., 0]).astype(int), 0, SIZE - 1)
    yi = np.clip(np.round(src[..., 1]).astype(int), 0, SIZE - 1)
    seen = src[..., 2] >= src_raster.depth[yi, xi] - 1.0
    interior = cv2.erode(r.covered.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    mask = interior & seen
    assert mask.sum() > 3000
    err = np.abs(view.image.astype(float) - truth.astype(float))[mask]
    assert err.mean() < 1.0, err.mean()          # measured 0.41 (50 degrees), 0.47 (80 degrees)
    assert np.percentile(err, 99) < 8.0
    # and the silhouette is where the new pose puts it: coverage agrees but for a rim
    face = np.abs(view.image.astype(float) - truth.astype(float)).max(-1) < 20
    assert face[interior].mean() > 0.97


def test_profile_at_the_source_pose_reproduces_the_source(bfm, synthetic):
    from denseface.data.profile import ProfileConfig, profile_view, source_pose

    image, fit, _ = synthetic
    yaw, _ = source_pose(fit.camera)
    box = np.array([0.0, 0.0, SIZE, SIZE])
    same = profile_view(image, fit, box, bfm, yaw, 0.0, ProfileConfig(size=SIZE, supersample=1))
    assert np.allclose(same.box, box)
    assert np.abs(same.image.astype(int) - image).mean() < 0.05
    assert np.abs(same.image.astype(int) - image).max() <= 1
    assert np.allclose(bfm.vertices(same.fit)[:, :2], bfm.vertices(fit)[:, :2], atol=1e-6)
    smooth = profile_view(image, fit, box, bfm, yaw, 0.0, ProfileConfig(size=SIZE, supersample=2))
    assert np.abs(smooth.image.astype(int) - image).mean() < 1.0     # measured 0.33


def test_profile_of_a_real_crop_at_its_pose_reproduces_it(bfm):
    """A real aflw_pl crop (teacher fit) at its own pose: the same pixels (< 0.5 grey levels on
    average without supersampling)."""
    from denseface.data.profile import ProfileConfig, profile_view, source_pose
    from denseface.io.images import read_image, to_rgb
    from denseface.mesh.readers import read_fit_table

    folder = need_shared("data", "aflw_pl", "val")
    table = read_fit_table(folder)
    for i in (0, 1, 2):
        image = to_rgb(read_image(folder / "images" / table.names[i]))
        fit = table.fit(i)
        view = profile_view(image, fit, np.array([0.0, 0.0, 120.0, 120.0]), bfm, source_pose(fit.camera)[0], 0.0,
                            ProfileConfig(supersample=1))
        assert np.abs(view.image.astype(int) - image).mean() < 0.5


def test_target_yaws_turn_further_the_way_the_face_faces():
    from denseface.data.profile import ProfileConfig, target_yaws

    cfg = ProfileConfig(views=3, yaw_max=90.0, min_step=10.0)
    rng = np.random.default_rng(0)
    right = target_yaws(20.0, rng, cfg)
    assert len(right) == 3 and (right >= 30.0).all() and (right <= 90.0).all() and (np.diff(right) > 0).all()
    left = target_yaws(-35.0, rng, cfg)
    assert (left <= -45.0).all() and (left >= -90.0).all()
    assert len(target_yaws(85.0, rng, cfg)) == 0


# ---------------------------------------------------------------- the command

def test_cli_profiles_real_crops_into_a_training_split(tmp_path, bfm, landmark_set, capsys):
    """`denseface data profile` on a few aflw_pl crops: a split the trainer's loader reads, exact
    labels, deterministic for a seed whatever the number of workers, real crops linked beside."""
    from denseface.cli.main import main
    from denseface.data.dataset import load_split
    from denseface.mesh.readers import read_fit_table

    data = need_shared("data", "aflw_pl", "val")
    outs = []
    for k, workers in enumerate((1, 2)):
        out = tmp_path / f"p{k}"
        rc = main(["data", "profile", "--data", str(data), "--out", str(out), "--limit", "4", "--views", "2",
                   "--workers", str(workers), "--with-real", "--summary", str(tmp_path / f"s{k}.json")])
        assert rc == 0
        outs.append(out)
    assert "profiled 4 faces into 8 views" in capsys.readouterr().out
    a, b = read_fit_table(outs[0]), read_fit_table(outs[1])
    assert list(a.names) == list(b.names) and np.array_equal(a.camera, b.camera)
    assert all((outs[0] / "images" / n).read_bytes() == (outs[1] / "images" / n).read_bytes() for n in a.names)
    assert np.isnan(a.pts21).all() and (np.abs(a.yaw) <= 90.5).all()
    split = load_split(outs[0], bfm, landmark_set)
    assert split.images.shape == (8, 120, 120, 3) and np.isfinite(split.points).all()
    # labels_with_real: every real crop (readable through the links) and then the views
    real = read_fit_table(data)
    mixed = load_split(outs[0], bfm, landmark_set, outs[0] / "labels_with_real.npz", limit=len(real) + 8)
    assert len(mixed.names) == len(real) + 8 and list(mixed.names[-8:]) == list(a.names)


def test_cli_fits_and_profiles_human68_train_faces_only(tmp_path, bfm):
    """A human-68 folder: the train faces are fitted to their points (no jaw) and profiled; no
    face of a held-out photo appears."""
    need_torch()
    from denseface.cli.main import main
    from denseface.data.human68 import held_out_photos, read_labels
    from denseface.mesh.readers import read_fit_table

    data = need_shared("data", "w300_afw_helen")
    out = tmp_path / "p"
    rc = main(["data", "profile", "--data", str(data), "--out", str(out), "--limit", "3", "--views", "1",
               "--with-real", "--summary", str(tmp_path / "s.json")])
    assert rc == 0
    labels = read_labels(data)
    held = set(np.asarray(labels["names"])[held_out_photos(labels["source"])].tolist())
    z = np.load(out / "labels.npz")
    assert len(z["names"]) == 3 and not set(z["source"].tolist()) & held
    import json
    fit = json.loads((tmp_path / "s.json").read_text())["human68_fit"]
    assert fit["refined"] == fit["images"] and fit["residual_px"] < fit["residual_init_px"]
    assert np.isfinite(read_fit_table(out).camera).all()
    # the fits of the real train faces: on the human points, the jaw too where near-frontal
    from denseface.data.human68 import load_human68
    from denseface.data.targets import TargetEncoder

    split = load_human68(data, "train", 120)
    real = read_fit_table(out / "labels_with_real.npz")
    assert list(real.names[:len(split.names)]) == list(split.names) and not set(real.names.tolist()) & held
    real = real.subset(np.arange(len(split.names)))
    err = np.linalg.norm(TargetEncoder(bfm, bfm.keypoints68).table_points(real)[..., :2]
                         - split.points[..., :2], axis=-1)
    frontal = np.abs(real.yaw) < 10
    assert err[:, 17:].mean() < 1.5                      # measured 1.15 px
    assert err[frontal, :17].mean() < 2.0                # measured 1.2 px (4.1 with no jaw fitted)


def test_cli_bad_input_gives_one_line(tmp_path, capsys):
    from denseface.cli.main import main

    rc = main(["data", "profile", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    assert rc != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope" in err
    assert not (tmp_path / "o").exists()
