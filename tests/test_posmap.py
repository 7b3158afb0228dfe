"""PRNet-compatible UV position maps: layout, interpolation, PRNet keypoints and PRNet's own maps."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import need_shared
from denseface.errors import DenseFaceError
from denseface.mesh.posmap import (PRNET_SIZE, position_map, rasterize_uv, read_face_ind,
                                   read_uv_kpt_ind, uv_pixel_coords, uv_raster)
from denseface.geometry.rotations import similarity_fit
from denseface.mesh.readers import read_mat

MM = 1000.0


def _paper(name: str):
    return need_shared("data", "paper_520", name)


def test_raster_table_is_cached_and_consistent(bfm):
    r = uv_raster(bfm)
    assert uv_raster(bfm) is r                      # computed once per BFM
    assert r.size == PRNET_SIZE and r.pixels.ndim == 1
    assert np.all(np.diff(r.pixels) > 0)
    assert np.allclose(r.weights.sum(1), 1.0) and r.weights.min() >= 0
    assert r.vertex_ids.max() < bfm.n_vertices
    # every PRNet face pixel is covered except the mouth slit (tri.mat lacks the mouth triangles)
    face = read_face_ind(_paper("face_ind.txt"))
    uncovered = face[~r.mask().reshape(-1)[face]]
    rows = uncovered // PRNET_SIZE
    print(f"PRNet face pixels not covered by tri.mat: {uncovered.size} (mouth slit rows "
          f"{rows.min()}..{rows.max()})")
    assert uncovered.size < 150
    lips = uv_pixel_coords(bfm.uv)[bfm.keypoints68[48:68]]
    assert rows.min() >= lips[:, 1].min() and rows.max() <= lips[:, 1].max()


def test_interpolation_is_exact_for_linear_fields(bfm):
    """Mapping each vertex to its own UV pixel position must give, at every covered pixel,
    that pixel's coordinates (barycentric interpolation reproduces linear functions)."""
    pix = uv_pixel_coords(bfm.uv)
    field = np.c_[pix, 3.0 * pix[:, 0] - 2.0 * pix[:, 1] + 7.0]
    pm = position_map(bfm, field)
    r = uv_raster(bfm)
    rows, cols = np.divmod(r.pixels, PRNET_SIZE)
    got = pm.reshape(-1, 3)[r.pixels]
    assert np.allclose(got[:, 0], cols, atol=1e-6) and np.allclose(got[:, 1], rows, atol=1e-6)
    assert np.allclose(got[:, 2], 3.0 * cols - 2.0 * rows + 7.0, atol=1e-5)
    assert np.all(pm.reshape(-1, 3)[~r.mask().reshape(-1)] == 0)


def test_rasterize_small_mesh():
    """Two triangles forming a 4x4-pixel square: all 16 pixel centres covered, each once."""
    pix = np.array([[0.0, 0.0], [3.0, 0.0], [3.0, 3.0], [0.0, 3.0]])
    r = rasterize_uv(pix, np.array([[0, 1, 2], [0, 2, 3]]), size=8)
    cols, rows = r.pixels % 8, r.pixels // 8
    assert len(r.pixels) == 16 and cols.max() == 3 and rows.max() == 3
    # the diagonal belongs to the first triangle
    diag = r.pixels[cols == rows]
    assert np.all(r.vertex_ids[np.isin(r.pixels, diag)] == [0, 1, 2])


def test_uv_kpt_positions_match_keypoint_vertices(bfm):
    """PRNet's 68 uv_kpt pixels sampled from our map lie next to the BFM keypoint vertices.
    Tolerance: median < 0.6 mm, max < 2 mm on the mean face (a UV pixel is about 1 mm)."""
    kpt = read_uv_kpt_ind(_paper("uv_kpt_ind.txt"))
    pm = position_map(bfm, bfm.mean.astype(np.float64))
    d = np.linalg.norm(pm[kpt[:, 1], kpt[:, 0]] - bfm.mean[bfm.keypoints68], axis=1) / MM
    print(f"uv_kpt vs keypoint vertices (mean face): median {np.median(d):.3f} mm, max {d.max():.3f} mm")
    assert np.median(d) < 0.6 and d.max() < 2.0
    # and in image pixels for a real 300W-LP fit
    rec = read_mat(need_shared("data", "300wlp_samples", "300W_LP", "AFW", "AFW_134212_1_0.mat"),
                   n_shape=40, n_exp=10)
    pm = position_map(bfm, bfm.vertices(rec.fit))
    d = np.linalg.norm(pm[kpt[:, 1], kpt[:, 0]] - bfm.landmarks68(rec.fit), axis=1)
    print(f"uv_kpt vs keypoint vertices (AFW_134212_1_0 fit): median {np.median(d):.3f} px, max {d.max():.3f} px")
    assert np.median(d) < 1.0 and d.max() < 2.5  # this face: about 1.2 px per mm


def _aligned_residual(ours: np.ndarray, ref: np.ndarray, mask: np.ndarray):
    both = mask & (np.abs(ref.reshape(-1, 3)).sum(1) > 0)
    src, dst = ours.reshape(-1, 3)[both], ref.reshape(-1, 3)[both]
    s, R, t = similarity_fit(src, dst)
    return np.linalg.norm(s * src @ R.T + t - dst, axis=1), s, R


def test_against_prnet_posmap_with_matching_fit(bfm):
    """PRNet's map of AFW_134212_1_0 (its crop pixels, random crop jitter unknown) against ours
    from the 300W-LP fit (40/10 components), after a similarity alignment."""
    ref = np.load(need_shared("data", "300wlp_samples", "prnet_posmaps", "AFW_134212_1_0.npy"))
    rec = read_mat(need_shared("data", "300wlp_samples", "300W_LP", "AFW", "AFW_134212_1_0.mat"),
                   n_shape=40, n_exp=10)
    ours = position_map(bfm, bfm.vertices(rec.fit))
    mask = np.zeros(PRNET_SIZE ** 2, bool)
    mask[read_face_ind(_paper("face_ind.txt"))] = True
    mask &= uv_raster(bfm).mask().reshape(-1)
    res, s, R = _aligned_residual(ours, ref, mask)
    angle = np.degrees(np.arccos(np.clip((np.trace(R) - 1) / 2, -1, 1)))
    print(f"PRNet posmap AFW_134212_1_0 vs ours (face pixels, {res.size}): median {np.median(res):.3f}, "
          f"RMS {np.sqrt(np.mean(res ** 2)):.3f}, p99 {np.percentile(res, 99):.3f}, max {res.max():.3f} "
          f"crop px; scale {s:.4f}, rotation {angle:.3f} deg")
    assert np.median(res) < 0.6 and np.percentile(res, 99) < 3.0 and res.max() < 4.0
    assert angle < 1.0  # same frame convention: no rotation needed beyond jitter
    # all covered pixels, ears and neck included
    res_all, _, _ = _aligned_residual(ours, ref, uv_raster(bfm).mask().reshape(-1))
    assert np.median(res_all) < 0.6


def test_layout_against_prnet_posmap_without_fit(bfm):
    """IBUG_image_003_1_0 has no .mat here: the mean face (y flipped to image rows) still lines
    up with PRNet's map to a few pixels, and a transposed layout does not."""
    ref = np.load(need_shared("data", "300wlp_samples", "prnet_posmaps", "IBUG_image_003_1_0.npy"))
    mean_image = bfm.mean.astype(np.float64) * [1.0, -1.0, 1.0]
    mask = uv_raster(bfm).mask().reshape(-1)
    res, _, _ = _aligned_residual(position_map(bfm, mean_image), ref, mask)
    print(f"PRNet posmap IBUG_image_003_1_0 vs mean face: median {np.median(res):.3f} crop px")
    assert np.median(res) < 4.0
    wrong = np.transpose(position_map(bfm, mean_image), (1, 0, 2))
    res_wrong, _, _ = _aligned_residual(wrong, ref, mask & np.transpose(mask.reshape(256, 256)).reshape(-1))
    assert np.median(res_wrong) > 3 * np.median(res)


def test_similarity_fit_recovers_transform():
    rng = np.random.default_rng(1)
    src = rng.normal(size=(200, 3))
    from scipy.spatial.transform import Rotation

    R = Rotation.from_rotvec([0.3, -0.2, 0.5]).as_matrix()
    dst = 2.5 * src @ R.T + [1.0, -2.0, 3.0]
    s, R2, t = similarity_fit(src, dst)
    assert np.isclose(s, 2.5) and np.allclose(R2, R) and np.allclose(t, [1.0, -2.0, 3.0])


def test_position_map_input_checks(bfm, tmp_path):
    with pytest.raises(ValueError, match="expected"):
        position_map(bfm, np.zeros((10, 3)))
    bad = tmp_path / "uv_kpt_ind.txt"
    bad.write_text("1 2 3\n4 5 6\n")
    with pytest.raises(DenseFaceError, match="uv_kpt_ind"):
        read_uv_kpt_ind(bad)
    bad.write_text("3\n2\n1\n")
    with pytest.raises(DenseFaceError, match="sorted"):
        read_face_ind(bad)
    with pytest.raises(DenseFaceError, match="does not exist"):
        read_face_ind(tmp_path / "none.txt")
