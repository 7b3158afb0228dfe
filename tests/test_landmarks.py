"""The packaged dense520 set: properties, determinism, CLI, picture, and the authors' 520 list."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from conftest import need_modules, need_shared
from denseface.cli.main import main as cli
from denseface.errors import DenseFaceError
from denseface.cli.landmarks import read_face_mask
from denseface.landmarks import FLIP_68, REGION_NAMES, LandmarkSet
from denseface.landmarks.build import face_region
from denseface.landmarks.paper import (face_indices_of_vertices, load_paper_set, read_index_list,
                                       write_index_list)
from denseface.mesh.posmap import read_face_ind

MM = 1000.0  # BFM units per millimetre
ARRAYS = ("vertex_ids", "idx68", "flip", "triangles", "region", "mean_shape")


def face_mask_path():
    """PRNet's UV face mask, the region the packaged set was sampled from."""
    return need_shared("data", "paper_520", "uv_face_mask.png")


@pytest.fixture(scope="module")
def face_mask():
    return read_face_mask(face_mask_path())


def test_set_holds_the_68_landmarks(landmark_set, bfm):
    s = landmark_set
    assert s.name == "dense520" and s.n_points == 520
    assert len(np.unique(s.vertex_ids)) == 520
    assert s.vertex_ids.min() >= 0 and s.vertex_ids.max() < bfm.n_vertices
    assert np.array_equal(s.vertex_ids[s.idx68], bfm.keypoints68)


def test_flip_is_a_mirror_consistent_involution(landmark_set, bfm):
    s = landmark_set
    n = s.n_points
    assert np.array_equal(np.sort(s.flip), np.arange(n))          # a permutation
    assert np.array_equal(s.flip[s.flip], np.arange(n))           # involutive
    assert np.array_equal(s.flip[s.idx68], s.idx68[FLIP_68])      # the iBUG flip on the 68
    p = bfm.mean[s.vertex_ids].astype(np.float64)
    cx = 0.5 * (bfm.mean[:, 0].min() + bfm.mean[:, 0].max())
    mirrored = p * [-1, 1, 1] + [2 * cx, 0, 0]
    res = np.linalg.norm(mirrored - p[s.flip], axis=1) / MM
    print(f"dense520 flip residual: median {np.median(res):.3f} mm, max {res.max():.3f} mm; "
          f"{int((s.flip == np.arange(n)).sum())} midline points")
    assert res.max() < 2.0
    # points that map to themselves lie on the midline
    mid = s.flip == np.arange(n)
    assert np.all(np.abs(p[mid, 0] - cx) < 2.0 * MM)


def test_inside_the_face_mask(landmark_set, bfm, face_mask):
    """Every point lies inside PRNet's UV face mask (the paper's region): no ears, no neck."""
    assert landmark_set.info["region"] == "PRNet UV face mask"
    in_mask = face_region(bfm, face_mask, erode_px=0)
    assert in_mask[landmark_set.vertex_ids].all()
    # the mask is what removes ears and neck: the whole-mesh region reaches outside it
    whole = face_region(bfm, None)
    assert (whole & ~in_mask).sum() > 1000


def test_coverage_and_spacing(landmark_set, bfm, face_mask):
    """Forehead to chin and cheek to cheek, compared with the face-mask region the set was
    sampled from (the mask eroded as the build does), the mean mesh and its 68 landmarks."""
    p = bfm.mean[landmark_set.vertex_ids].astype(np.float64)
    mesh = bfm.mean.astype(np.float64)
    region = mesh[face_region(bfm, face_mask)]
    lm = mesh[bfm.keypoints68]
    # the set fills the region: within 3 mm of its left, right, bottom and top ends
    assert np.all(np.abs(p.min(0)[:2] - region.min(0)[:2]) < 3.0 * MM)
    assert np.all(np.abs(p.max(0)[:2] - region.max(0)[:2]) < 3.0 * MM)
    assert np.ptp(p[:, 0]) > 0.97 * np.ptp(region[:, 0])                # cheek to cheek
    assert p[:, 0].min() < lm[0, 0] and p[:, 0].max() > lm[16, 0]       # beyond the jaw ends
    assert lm[8, 1] - 3.0 * MM < p[:, 1].min() <= lm[8, 1]              # down to the chin, no neck
    assert np.ptp(p[:, 0]) < 0.95 * np.ptp(mesh[:, 0])                  # no ears
    brow_top = lm[17:27, 1].max()
    assert p[:, 1].max() > brow_top + 0.9 * (region[:, 1].max() - brow_top)  # up to the mask's top
    forehead = landmark_set.region_mask("forehead")
    assert forehead.sum() >= 10 and np.all(p[forehead, 1] > brow_top)
    d, _ = cKDTree(p).query(p, k=2)
    spacing = d[:, 1] / MM
    print(f"dense520 spacing: min {spacing.min():.3f} mm, median {np.median(spacing):.3f} mm, "
          f"max {spacing.max():.3f} mm; x {p[:, 0].min() / MM:.1f}..{p[:, 0].max() / MM:.1f} mm "
          f"(region {region[:, 0].min() / MM:.1f}..{region[:, 0].max() / MM:.1f}, "
          f"mesh {mesh[:, 0].min() / MM:.1f}..{mesh[:, 0].max() / MM:.1f}), "
          f"y {p[:, 1].min() / MM:.1f}..{p[:, 1].max() / MM:.1f} mm "
          f"(region {region[:, 1].min() / MM:.1f}..{region[:, 1].max() / MM:.1f}, "
          f"mesh {mesh[:, 1].min() / MM:.1f}..{mesh[:, 1].max() / MM:.1f})")
    assert spacing.min() > 1.0 and spacing.max() < 15.0
    assert float(landmark_set.info["min_spacing_mm"]) == pytest.approx(spacing.min(), abs=1e-3)


def test_triangles_and_regions(landmark_set, bfm):
    s = landmark_set
    t = s.triangles
    assert t.ndim == 2 and t.shape[1] == 3 and t.min() >= 0 and t.max() < s.n_points
    assert np.all((t[:, 0] != t[:, 1]) & (t[:, 1] != t[:, 2]) & (t[:, 0] != t[:, 2]))
    assert len(np.unique(np.sort(t, 1), axis=0)) == len(t)            # no duplicates
    assert np.array_equal(np.unique(t), np.arange(s.n_points))        # every point is used
    p = bfm.mean[s.vertex_ids].astype(np.float64)
    area = 0.5 * np.linalg.norm(np.cross(p[t[:, 1]] - p[t[:, 0]], p[t[:, 2]] - p[t[:, 0]]), axis=1)
    assert area.min() > 0.01 * MM * MM                                 # no degenerate triangle
    assert s.region.shape == (s.n_points,)
    assert set(np.unique(s.region)) == set(range(len(REGION_NAMES)))   # all 7 names present
    assert np.all(s.region[s.idx68[36:48]] == REGION_NAMES.index("eye"))
    assert np.all(s.region[s.idx68[48:68]] == REGION_NAMES.index("lips"))


def test_rebuild_equals_packaged_set_cli_and_picture(landmark_set, tmp_path, capsys):
    """`denseface landmarks build` with PRNet's face mask regenerates the packaged file exactly
    (content-wise)."""
    need_modules("matplotlib")
    bfm_path = need_shared("models", "bfm_3ddfa_53215")
    out, png = tmp_path / "dense520.npz", tmp_path / "set.png"
    assert cli(["landmarks", "build", "--bfm", str(bfm_path), "--face-mask", str(face_mask_path()),
                "--out", str(out), "--plot", str(png)]) == 0
    rebuilt = LandmarkSet.load(out)
    assert rebuilt.info["region"] == "PRNet UV face mask"
    assert rebuilt.name == landmark_set.name
    for key in ARRAYS:
        a, b = getattr(rebuilt, key), getattr(landmark_set, key)
        assert a.dtype == b.dtype and np.array_equal(a, b), key
    assert rebuilt.info == landmark_set.info
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 50_000
    capsys.readouterr()
    assert cli(["landmarks", "show", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "520" in shown and "forehead" in shown and "min_spacing_mm" in shown


def test_density_is_a_parameter(bfm, face_mask):
    from denseface.landmarks.build import build_landmark_set

    s = build_landmark_set(bfm, 400, face_mask=face_mask)
    assert s.n_points == 400 and np.array_equal(s.vertex_ids[s.idx68], bfm.keypoints68)
    assert np.array_equal(s.flip[s.flip], np.arange(400))
    assert face_region(bfm, face_mask, erode_px=0)[s.vertex_ids].all()
    with pytest.raises(ValueError, match="below"):
        build_landmark_set(bfm, 100, face_mask=face_mask)


def test_cli_errors(tmp_path, capsys):
    assert cli(["landmarks", "show", "nope"]) == 3
    assert "unknown landmark set 'nope'" in capsys.readouterr().err
    assert cli(["landmarks", "build", "--out", str(tmp_path / "x.txt")]) == 4
    assert cli(["landmarks", "build", "--out", str(tmp_path / "no" / "x.npz")]) == 4
    assert cli(["landmarks", "build", "--bfm", str(tmp_path / "nobfm"), "--out", str(tmp_path / "a.npz")]) == 3
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 3


def test_paper_loader_with_our_set_in_their_format(landmark_set, bfm, tmp_path):
    """Write our set in the authors' format (indices into face_ind) and load it back."""
    face_ind = read_face_ind(need_shared("data", "paper_520", "face_ind.txt"))
    k = face_indices_of_vertices(bfm, landmark_set.vertex_ids, face_ind)
    assert np.all(k >= 0)                 # all 520 sampled inside PRNet's face mask
    assert len(np.unique(k)) == 520       # on 520 distinct face pixels
    path = tmp_path / "ours_in_paper_format.txt"
    write_index_list(path, k)
    loaded = load_paper_set(path, bfm, face_ind_path=need_shared("data", "paper_520", "face_ind.txt"))
    assert loaded.n_points == 520 and np.array_equal(loaded.face_index, k)
    assert len(np.unique(loaded.vertex_ids)) == 520
    assert loaded.uv_distance.max() < 0.75                 # a rounded UV pixel: <= sqrt(2)/2
    d = np.linalg.norm(bfm.mean[loaded.vertex_ids] - bfm.mean[landmark_set.vertex_ids], axis=1) / MM
    print(f"our set via face_ind and back: {np.mean(d == 0):.1%} same vertex, median {np.median(d):.2f} mm, "
          f"p90 {np.percentile(d, 90):.2f} mm, p99 {np.percentile(d, 99):.2f} mm, max {d.max():.2f} mm "
          f"(UV is compressed inside the nostrils)")
    assert np.mean(d == 0) > 0.85 and np.percentile(d, 90) < 1.0 and np.percentile(d, 99) < 2.5


def test_paper_authors_set(bfm):
    """The authors' own 520 and 68 lists map onto the BFM; their 68 sit on the BFM keypoints."""
    folder = need_shared("data", "paper_520")
    s = load_paper_set(folder / "vertices_520_sel_from_blender.txt", bfm,
                       face_ind_path=folder / "face_ind.txt", idx68_path=folder / "vertices_68_fil_520.txt")
    assert s.n_points == 520 and len(np.unique(s.vertex_ids)) == 520
    assert s.uv_distance.max() < 1.5
    s68 = load_paper_set(folder / "vertices_68.txt", bfm, face_ind_path=folder / "face_ind.txt")
    assert np.array_equal(s.vertex_ids[s.idx68], s68.vertex_ids)
    d = np.linalg.norm(bfm.mean[s68.vertex_ids] - bfm.mean[bfm.keypoints68], axis=1) / MM
    print(f"authors' 68 vs BFM keypoints: median {np.median(d):.2f} mm, max {d.max():.2f} mm")
    assert np.median(d) < 0.5 and d.max() < 3.0


def test_paper_loader_errors(bfm, tmp_path):
    face_ind = need_shared("data", "paper_520", "face_ind.txt")
    bad = tmp_path / "bad.txt"
    bad.write_text("1\n2\n99999999\n")
    with pytest.raises(DenseFaceError, match="0..43866") as e:
        load_paper_set(bad, bfm, face_ind_path=face_ind)
    assert str(bad) in str(e.value)
    bad.write_text("1.5\n2\n")
    with pytest.raises(DenseFaceError, match="integers"):
        read_index_list(bad, 10)
    with pytest.raises(DenseFaceError, match="does not exist"):
        load_paper_set(tmp_path / "none.txt", bfm, face_ind_path=face_ind)
