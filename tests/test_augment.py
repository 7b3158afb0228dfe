"""Points follow the image through augmentation, exactly."""
from __future__ import annotations

import numpy as np

from conftest import need_shared, need_torch
from denseface.data.augment import (AugmentConfig, compose, flip_matrix, similarity_matrix,
                                    transform_points, warp, augment_sample)
from denseface.data.targets import TargetEncoder
from denseface.mesh.readers import read_fit_table


def test_flip_rotation_targets_match_reprojected_mesh(bfm, landmark_set):
    """Augmented targets == the fit's mesh seen through the same transform (within 0.5 px),
    with the flip handled by the set's permutation and z scaled by the similarity scale."""
    table = read_fit_table(need_shared("data", "aflw_pl", "val"))
    enc = TargetEncoder(bfm, landmark_set.vertex_ids)
    size_in, size_out = 120, 128
    resize = np.array([[size_out / size_in, 0, 0], [0, size_out / size_in, 0]])
    for i in range(20):
        M = compose(similarity_matrix(size_out, angle_deg=30.0 - 3 * i, scale=1.04, shift=(3.0, -2.0)),
                    compose(resize, flip_matrix(size_in)))
        pts = transform_points(enc.points(table.camera[i], table.shape[i], table.expression[i])[0], M)
        target = pts[landmark_set.flip]
        # independent route: mirror the *mesh* (model x -> -x about the face's midline) and
        # project it through the transformed camera, z scaled by the similarity's scale
        s = np.sqrt(abs(np.linalg.det(M[:, :2])))
        fit = table.fit(i).transformed(M, z_scale=s)
        mirrored = bfm.model_vertices(fit.shape, fit.expression, landmark_set.vertex_ids)
        direct = fit.project(mirrored)
        # the flipped image shows point flip[k] where point k was: compare positions by identity
        np.testing.assert_allclose(target[landmark_set.flip], direct, atol=1e-6)
        # and the permutation is anatomically right: target k lies where the mirrored
        # anatomical point k projects (mirror residual of the set < 1.3 mm ~ < 0.5 px here)
        cx = 0.5 * (bfm.mean[:, 0].min() + bfm.mean[:, 0].max())
        model = bfm.model_vertices(fit.shape, fit.expression, landmark_set.vertex_ids)
        model_m = model.copy()
        model_m[:, 0] = 2 * cx - model_m[:, 0]
        # mirrored geometry through a camera that undoes the image flip
        F = np.diag([-1.0, 1.0, 1.0])
        cam = table.fit(i).camera.copy()
        cam_m = np.concatenate([cam[:, :3] @ F, (cam[:, 3] + cam[:, :3] @ np.array([2 * cx, 0, 0]))[:, None]], 1)
        from denseface.mesh import Fit
        anat = Fit(cam_m, fit.shape, fit.expression).transformed(M, z_scale=s).project(model_m[landmark_set.flip])
        err = np.linalg.norm(target[:, :2] - anat[:, :2], axis=1)
        assert np.median(err) < 0.5, np.median(err)


def test_image_content_follows_points():
    """A bright dot drawn at a point lands where the transformed point says (< 0.5 px)."""
    rng = np.random.default_rng(0)
    for trial in range(10):
        img = np.zeros((120, 120, 3), np.uint8)
        p = rng.uniform(30, 90, 2)
        yy, xx = np.mgrid[0:120, 0:120]
        blob = np.exp(-((xx - p[0]) ** 2 + (yy - p[1]) ** 2) / (2 * 2.0 ** 2))
        img[..., 0] = np.round(255 * blob).astype(np.uint8)
        M = compose(similarity_matrix(128, rng.uniform(-45, 45), rng.uniform(0.95, 1.05),
                                      tuple(rng.uniform(-6, 6, 2))),
                    compose(np.array([[128 / 120, 0, 0], [0, 128 / 120, 0]]),
                            flip_matrix(120) if trial % 2 else np.array([[1.0, 0, 0], [0, 1, 0]])))
        out = warp(img, M, 128)[..., 0].astype(np.float64)
        out = np.where(out > 40, out, 0)
        yy, xx = np.mgrid[0:128, 0:128]
        centroid = np.array([(xx * out).sum(), (yy * out).sum()]) / out.sum()
        expect = transform_points(np.array([[p[0], p[1], 0.0]]), M)[0, :2]
        assert np.linalg.norm(centroid - expect) < 0.5


def test_augment_sample_flip_permutes_and_scales_z(landmark_set):
    rng = np.random.default_rng(3)
    pts = np.random.default_rng(1).uniform(0, 120, (landmark_set.n_points, 3))
    img = np.zeros((120, 120, 3), np.uint8)
    cfg = AugmentConfig(flip_p=1.0)
    _, out, M = augment_sample(rng, cfg, img, pts, landmark_set.flip, 120)
    s = np.sqrt(abs(np.linalg.det(M[:, :2])))
    assert 0.94 < s < 1.06
    np.testing.assert_allclose(out[:, 2], pts[landmark_set.flip, 2] * s, rtol=1e-9)
    assert np.linalg.det(M[:, :2]) < 0  # a reflection


def test_device_warp_matches_opencv_warp():
    """The on-device path (grid_sample) warps images like the CPU path (cv2.warpAffine)."""
    need_torch()
    import torch

    from denseface.data.device_augment import warp_batch
    rng = np.random.default_rng(0)
    img = (rng.random((120, 120, 3)) * 255).astype(np.uint8)
    img = np.ascontiguousarray(np.repeat(np.repeat(img[::8, ::8], 8, 0), 8, 1)[:120, :120])
    M = compose(similarity_matrix(128, 20.0, 1.03, (2.0, -3.0)),
                compose(np.array([[128 / 120, 0, 0], [0, 128 / 120, 0]]), flip_matrix(120)))
    cpu = warp(img, M, 128).astype(np.float64)
    dev = warp_batch(torch.from_numpy(img).permute(2, 0, 1)[None].float(), M[None], 128)[0]
    dev = dev.permute(1, 2, 0).numpy()
    inner = (slice(10, 118), slice(10, 118))
    assert np.abs(cpu[inner] - dev[inner]).mean() < 2.0


def test_device_batcher_targets_follow_geometry(landmark_set):
    """DeviceBatcher batches: flipped copies hold permuted, mirrored targets."""
    need_torch()
    import torch

    from denseface.data.dataset import LoadedSplit
    from denseface.data.device_augment import DeviceBatcher
    rng = np.random.default_rng(0)
    pts = rng.uniform(20, 100, (4, landmark_set.n_points, 3)).astype(np.float32)
    split = LoadedSplit(np.array(list("abcd")), np.zeros((4, 120, 120, 3), np.uint8), pts, None, [], np.ones(4))
    cfg = AugmentConfig(enabled=False)
    b = DeviceBatcher(split, landmark_set.flip, 120, cfg, batch_size=8, device=torch.device("cpu"),
                      flip_double=True)
    x, y = next(iter(b))
    assert x.shape == (8, 3, 120, 120) and y.shape == (8, landmark_set.n_points, 3)
    y = (y.numpy() + 0.5) * 120
    # every original appears once plain and once flipped (x -> 119 - x, permuted)
    plain = {tuple(np.round(p[0], 3)) for p in pts}
    flipped = [p for p in y if tuple(np.round(p[0], 3)) not in plain]
    assert len(flipped) == 4
    for f in flipped:
        back = f[landmark_set.flip].copy()
        back[:, 0] = 119 - back[:, 0]
        assert min(np.abs(back - p).max() for p in pts) < 1e-3
