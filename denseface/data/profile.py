"""Face profiling: new views of a fitted face at larger yaw, with exact labels (300W-LP's recipe).

Zhu et al. 2016 (3DDFA, "Face alignment across large poses: a 3D solution", section "face
profiling") made 300W-LP by turning each fitted 300-W face out of plane and rendering the image
again from the fitted mesh and a meshed background. This module does the same from any image
with a 3DMM fit (the aflw_pl crops with their refined fits, the 300-W faces with fits to their
human points):

1. **Face.** The fit's mesh (BFM, 53215 vertices) is rotated about its centroid to the target yaw
   (and a small pitch change): the new camera is ``Q @ camera`` with ``Q`` a rotation of the image
   frame, so the labels are the rotated fit itself, exact. Every output pixel the rotated mesh
   covers (z-buffered, :func:`denseface.geometry.raster.rasterize`) takes its colour from the
   source image at the point the same surface point had there (barycentric interpolation of the
   source vertex positions; one ``cv2.remap`` for the whole image). As in 300W-LP, views turn
   further the way the face already faces (:func:`target_yaws`), so surfaces hidden in the source
   stay hidden; what little comes into view is sampled at its own (compressed) projection.
2. **Background.** 3DDFA's 3D image meshing: anchors are the mesh's outline vertices, rings
   around the face at 1.25, 1.6, 2, 2.6 and 3.5 times its radius, and a fixed frame. The outline
   moves with the face (in 3D); each ring moves by a decreasing share of its outline vertex's
   motion (0.9, 0.76, 0.6, 0.36, 0), its depth blended the same way towards the face centre's;
   the frame stays. The anchors are Delaunay-triangulated in the source image and the moved
   mesh is drawn with a z-buffer, piecewise affine from the source, so hair, ears and background
   follow the face, where the far side folds over the near side the nearer part wins, and
   the revealed side is filled by stretched surroundings (as in 300W-LP); the motion falls off
   slowly enough (0.4 of the outline's motion per face radius) that the warp never folds for
   motions up to 2.5 radii, so nothing tears or mirrors. Pixels that sample beyond the source
   image (the crops are tight) take its mirror, blurred (out-of-focus background).
3. **Crop.** The output crop follows the face: the source crop box shifted and scaled as the
   3DDFA crop box of the 68 landmarks (``roi_box_from_landmarks``) moves, so a profile of 0 degrees
   is the source crop itself. It is rendered ``supersample`` times larger and shrunk with
   ``INTER_AREA`` (anti-aliased silhouettes).

Frames: image pixels x right, y down, OpenCV 0-based centres, z towards the viewer on the same
scale. Crops follow denseface.geometry.crop's convention (labels ``(p - x0) * s``, images sampled
like ``cv2.resize``), composed exactly, so a profiled crop pairs labels and pixels as the source
crops do. Output fits keep the aflw_pl convention: camera into crop pixels, min z over the mesh 0.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
from scipy.spatial import Delaunay

from ..errors import DenseFaceError, OutputError

from ..geometry.boxes import roi_box_from_landmarks
from ..geometry.crop import crop_matrix, resize_sampling
from ..geometry.raster import rasterize
from ..geometry.rotations import euler_3ddfa, rotation_3ddfa
from ..io.files import atomic_write
from ..io.images import read_image, to_rgb
from ..mesh.bfm import BFM, mesh_min_z
from ..mesh.fit import Fit, pose_from_camera
from ..mesh.readers import FitTable, read_fit_table

#: Image-frame flip between the BFM's y-up model frame and image rows (y down).
FLIP_Y = np.diag([1.0, -1.0, 1.0])


@dataclass(frozen=True)
class ProfileConfig:
    """size: output crop side (px); views: new views per source face; yaw_max: largest |yaw|
    (degrees); min_step: the first view turns at least this much beyond the source's |yaw|;
    pitch_jitter: each view's pitch changes by a uniform draw in [-p, p] degrees; supersample:
    render this many times larger, then shrink (anti-aliasing); rings / ring_motion: the
    background anchor rings (multiples of the face radius) and the share of the outline's motion
    each follows; outline_bins: outline anchors (angle bins around the face)."""

    size: int = 120
    views: int = 3
    yaw_max: float = 90.0
    min_step: float = 10.0
    pitch_jitter: float = 10.0
    supersample: int = 2
    rings: tuple[float, ...] = (1.25, 1.6, 2.0, 2.6, 3.5)
    ring_motion: tuple[float, ...] = (0.9, 0.76, 0.6, 0.36, 0.0)
    outline_bins: int = 72
    jpeg_quality: int = 95

    def __post_init__(self) -> None:
        if len(self.rings) != len(self.ring_motion):
            raise ValueError("rings and ring_motion need the same length")
        if self.size < 8 or self.views < 1 or self.supersample < 1 or not 0 < self.yaw_max <= 90:
            raise ValueError("size >= 8, views >= 1, supersample >= 1 and 0 < yaw_max <= 90 required")


@dataclass
class ProfiledView:
    """image (size, size, 3) uint8 (the source's channel order); fit: camera into the crop's
    pixels, min mesh z = 0; box (4,) the crop box in source-image pixels; yaw / pitch (degrees)
    of the new fit (pose_from_camera)."""

    image: np.ndarray
    fit: Fit
    box: np.ndarray
    yaw: float
    pitch: float


def outline_vertices(bfm: BFM, bins: int = 72) -> np.ndarray:
    """(<= bins,) vertex ids of the mesh's outer outline: among the vertices on an open edge of
    the triangulation, the one farthest from the mean face's centre in each angle bin (model x-y,
    frontal view), so the mouth slit's open edges are never chosen. Cached on the BFM."""
    key = ("outline", bins)
    if key not in bfm._cache:
        tri = np.asarray(bfm.triangles, np.int64)
        edges = np.sort(np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]]), 1)
        uniq, count = np.unique(edges, axis=0, return_counts=True)
        border = np.unique(uniq[count == 1])
        xy = bfm.mean[border, :2].astype(np.float64)
        d = xy - bfm.mean[:, :2].astype(np.float64).mean(0)
        ang = np.floor((np.arctan2(d[:, 1], d[:, 0]) + np.pi) / (2 * np.pi) * bins).astype(int) % bins
        r = np.hypot(d[:, 0], d[:, 1])
        ids = [border[ang == b][np.argmax(r[ang == b])] for b in range(bins) if (ang == b).any()]
        bfm._cache[key] = np.asarray(ids, np.int64)
    return bfm._cache[key]


def image_rotation(camera: np.ndarray, yaw_deg: float, pitch_delta_deg: float) -> np.ndarray:
    """The rotation Q (3, 3) of the image frame (x right, y down, z to the viewer) that takes the
    camera's head pose to yaw ``yaw_deg`` with its pitch changed by ``pitch_delta_deg`` and its
    roll kept (3DDFA's Euler angles, denseface.geometry.rotations)."""
    M = np.asarray(camera, np.float64)[:, :3]
    r1, r2 = M[0] / np.linalg.norm(M[0]), -M[1] / np.linalg.norm(M[1])
    U, _, Vt = np.linalg.svd(np.stack([r1, r2]), full_matrices=False)
    R2 = U @ Vt
    R = np.stack([R2[0], R2[1], np.cross(R2[0], R2[1])])
    with warnings.catch_warnings():       # gimbal lock at |yaw| = 90 is harmless here
        warnings.simplefilter("ignore", UserWarning)
        pitch, _, roll = euler_3ddfa(R)
    R_new = rotation_3ddfa(pitch + np.radians(pitch_delta_deg), np.radians(yaw_deg), roll)
    return FLIP_Y @ R_new @ R.T @ FLIP_Y


def follow_box(box: np.ndarray, landmarks_before: np.ndarray, landmarks_after: np.ndarray) -> np.ndarray:
    """The crop box (x0, y0, x1, y1) moved and scaled as the 3DDFA crop box of the landmarks moves
    from ``landmarks_before`` to ``landmarks_after`` (both (68, >=2) image px): unchanged when they
    are equal."""
    b0 = roi_box_from_landmarks(np.asarray(landmarks_before)[:, :2])
    b1 = roi_box_from_landmarks(np.asarray(landmarks_after)[:, :2])
    k = (b1[2] - b1[0]) / (b0[2] - b0[0])
    c0, c1 = 0.5 * (b0[:2] + b0[2:]), 0.5 * (b1[:2] + b1[2:])
    box = np.asarray(box, np.float64)
    lo, hi = c1 + (box[:2] - c0) * k, c1 + (box[2:] - c0) * k
    return np.concatenate([lo, hi])


def _anchors(bfm: BFM, src: np.ndarray, dst: np.ndarray, depth: float, frame: np.ndarray,
             cfg: ProfileConfig) -> tuple[np.ndarray, np.ndarray]:
    """Background anchors at their source positions (A, 2) and moved positions with a depth
    (A, 3), image px: the outline vertices (their own 3D motion), the rings (a share of their
    outline vertex's motion, depth blended the same way towards ``depth``), and the fixed frame
    box ``frame`` (x0, y0, x1, y1), 8 points a side, at ``depth``."""
    ids = outline_vertices(bfm, cfg.outline_bins)
    o_src, o_dst = src[ids, :2], dst[ids]
    centre = o_src.mean(0)
    move = o_dst[:, :2] - o_src
    a_src, a_dst = [o_src], [o_dst]
    for f, share in zip(cfg.rings, cfg.ring_motion):
        ring = centre + (o_src - centre) * f
        a_src.append(ring)
        a_dst.append(np.concatenate([ring + share * move, (share * o_dst[:, 2] + (1 - share) * depth)[:, None]], 1))
    x0, y0, x1, y1 = frame
    t = np.linspace(0.0, 1.0, 9)[:-1]
    border = np.concatenate([np.stack([x0 + t * (x1 - x0), np.full_like(t, y0)], 1),
                             np.stack([np.full_like(t, x1), y0 + t * (y1 - y0)], 1),
                             np.stack([x1 - t * (x1 - x0), np.full_like(t, y1)], 1),
                             np.stack([np.full_like(t, x0), y1 - t * (y1 - y0)], 1)])
    a_src.append(border)
    a_dst.append(np.concatenate([border, np.full((len(border), 1), depth)], 1))
    return np.concatenate(a_src), np.concatenate(a_dst)


def profile_view(image: np.ndarray, fit: Fit, box: np.ndarray, bfm: BFM, yaw_deg: float,
                 pitch_delta_deg: float = 0.0, cfg: ProfileConfig = ProfileConfig(),
                 vertices: np.ndarray | None = None) -> ProfiledView:
    """One new view of ``image`` (H, W, 3) uint8 whose ``fit`` maps model coordinates to its
    pixels; ``box`` (x0, y0, x1, y1) is the source crop box in those pixels (the view at the
    source pose reproduces it). ``vertices`` (the fit's mesh, ``bfm.vertices(fit)``) may be passed
    to reuse it across views of one face."""
    tri = np.asarray(bfm.triangles, np.int64)
    V = bfm.vertices(fit) if vertices is None else vertices
    Q = image_rotation(fit.camera, yaw_deg, pitch_delta_deg)
    centre = V.mean(0)
    Vt = (V - centre) @ Q.T + centre
    cam = np.concatenate([Q @ fit.camera[:, :3], (Q @ (fit.camera[:, 3] - centre) + centre)[:, None]], 1)
    kp = bfm.keypoints68
    out_box = follow_box(box, V[kp], Vt[kp])
    size, k = cfg.size, cfg.supersample
    hi = k * size
    to_hi = resize_sampling(crop_matrix(out_box, hi))             # source px -> hi-res pixel
    M_hi = cv2.invertAffineTransform(to_hi)                       # hi-res pixel -> source px
    scale_hi = to_hi[0, 0]
    Vh = np.concatenate([Vt[:, :2] @ to_hi[:, :2].T + to_hi[:, 2], Vt[:, 2:] * scale_hi], 1)

    # background: anchors warped piecewise affinely (source positions per moved-anchor triangle)
    h, w = image.shape[:2]
    span = max(h, w, out_box[2] - out_box[0])
    frame = np.array([min(0, out_box[0]), min(0, out_box[1]), max(w, out_box[2]), max(h, out_box[3])]) \
        + np.array([-1, -1, 1, 1]) * span
    a_src, a_dst = _anchors(bfm, V, Vt, centre[2], frame, cfg)
    a_hi = np.concatenate([a_dst[:, :2] @ to_hi[:, :2].T + to_hi[:, 2], a_dst[:, 2:] * scale_hi], 1)
    bg_tri = Delaunay(a_src).simplices          # meshed in the source, so where the moved mesh
    bg = rasterize(a_hi, bg_tri, hi, hi)        # overlaps itself the z-buffer keeps the nearer part
    map_xy = bg.interpolate(a_src, bg_tri)

    # face: each covered pixel samples where its surface point was in the source
    corner_src = V[tri, :2]
    fr = rasterize(Vh, tri, hi, hi)
    cov = fr.covered
    face_xy = np.einsum("nk,nkc->nc", fr.weights[cov].astype(np.float64), corner_src[fr.triangle[cov]])
    map_xy[cov] = face_xy
    missing = ~cov & ~bg.covered
    if missing.any():       # cannot happen with the frame around everything; keep it total anyway
        jj, ii = np.meshgrid(np.arange(hi), np.arange(hi))
        map_xy[missing] = np.stack([jj[missing], ii[missing]], 1) @ M_hi[:, :2].T + M_hi[:, 2]
    maps = map_xy.astype(np.float32)
    render = cv2.remap(image, maps[..., 0], maps[..., 1], cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REFLECT_101)
    render = _soften_outside(render, maps, h, w)
    out = render if k == 1 else cv2.resize(render, (size, size), interpolation=cv2.INTER_AREA)

    # labels: the rotated fit in crop pixels, z scaled like x and y, min mesh z = 0
    M = crop_matrix(out_box, size)
    s = float(np.sqrt(abs(np.linalg.det(M[:, :2]))))
    cfit = Fit(cam, fit.shape, fit.expression).transformed(M, z_scale=s, z_shift=-s * Vt[:, 2].min())
    yaw, pitch = source_pose(cfit.camera)
    return ProfiledView(out, cfit, out_box, yaw, pitch)


def _soften_outside(render: np.ndarray, maps: np.ndarray, h: int, w: int) -> np.ndarray:
    """Pixels that sample beyond the source image (``maps`` (H, W, 2) source px of an h x w
    image) show its mirror (BORDER_REFLECT_101); blur them, with a feathered edge, so that they
    read as out-of-focus background rather than a mirrored copy."""
    outside = ((maps[..., 0] < -0.5) | (maps[..., 0] > w - 0.5)
               | (maps[..., 1] < -0.5) | (maps[..., 1] > h - 0.5)).astype(np.float32)
    if not outside.any():
        return render
    side = render.shape[0]
    soft = cv2.GaussianBlur(render, (0, 0), side / 30.0)
    alpha = cv2.GaussianBlur(outside, (0, 0), side / 80.0)[..., None]
    return np.clip(render * (1.0 - alpha) + soft * alpha + 0.5, 0, 255).astype(np.uint8)


def source_pose(camera: np.ndarray) -> tuple[float, float]:
    """(yaw, pitch) in degrees of a fit's camera (3, 4) (pose_from_camera; no gimbal-lock
    warning)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yaw, pitch, _ = pose_from_camera(camera)
    return yaw, pitch


def target_yaws(source_yaw: float, rng: np.random.Generator, cfg: ProfileConfig) -> np.ndarray:
    """(views,) target yaws (degrees): the face keeps turning the way it faces (a random way when
    it is within 2 degrees of frontal); |yaw| is drawn once in each of ``views`` equal bins of
    [|source| + min_step, yaw_max] (an empty range gives no views)."""
    lo = abs(source_yaw) + cfg.min_step
    if lo > cfg.yaw_max:
        return np.zeros(0)
    side = np.sign(source_yaw) if abs(source_yaw) > 2.0 else (1.0 if rng.random() < 0.5 else -1.0)
    edges = np.linspace(lo, cfg.yaw_max, cfg.views + 1)
    return side * rng.uniform(edges[:-1], edges[1:])


# ----------------------------------------------------------------------------- sources and sets
@dataclass
class Sources:
    """Faces to profile: crops (N, S, S, 3) uint8 RGB, their fits (a FitTable: cameras into the
    crops' pixels, min mesh z 0; ``roi_box`` the crop boxes in the original photos)."""

    crops: np.ndarray
    table: FitTable


def fit_human68(folder: str | Path, bfm: BFM, size: int = 120, teacher_dir: str | Path | None = None,
                jaw_max_yaw: float = 15.0) -> tuple[Sources, dict]:
    """3DMM fits for the *train* part of a human-68 folder (data/w300_afw_helen layout; the
    held-out photos of denseface.data.human68 are never read): each face's training crop
    (``load_human68``), the teacher's fit on it (3DDFA-V2 mb05, as aflw_pl), then the refiner
    fitted to the human 68 points (mapping ``ibug68``, whose jaw points are fixed vertices). Human
    jaw points follow the visible outline, so the jaw (points 0-16) is fitted only on faces the
    teacher puts within ``jaw_max_yaw`` degrees of frontal, where outline and fixed vertices
    agree (3DDFA's own convention on frontal faces); beyond, it is left out. Returns the sources
    (roi_box in the original photos) and the refiner's summary."""
    from ..paths import shared_path
    from ..refine.refiner import RefineConfig, Refiner
    from ..refine.teacher import cameras_from_params, load_teacher, predict_params
    from .human68 import load_human68, read_labels

    folder = Path(folder)
    split = load_human68(folder, "train", size)
    labels = read_labels(folder)
    with np.load(folder / "labels.npz", allow_pickle=False) as d:
        crop_box, scale = d["crop_box"].astype(np.float64), d["scale"].astype(np.float64)
    row = {str(n): i for i, n in enumerate(labels["names"])}
    idx = np.array([row[str(n)] for n in split.names])
    teacher = load_teacher(teacher_dir or shared_path("models", "3ddfa_v2_mb05"))
    params = predict_params(teacher, np.ascontiguousarray(split.images[..., ::-1]))
    cam = cameras_from_params(params, size)
    ks, ke = bfm.n_shape, bfm.n_exp
    shape, expr = params[:, 12:12 + ks], params[:, 12 + ks:12 + ks + ke]
    cam[:, 2, 3] = -mesh_min_z(bfm, cam[:, 2, :3], shape, expr)
    pts = split.points[..., :2].astype(np.float64).copy()
    turned = np.array([abs(source_pose(c)[0]) >= jaw_max_yaw for c in cam])
    pts[turned, :17] = np.nan
    # the crop box of each face in its w300 image, then in the original photo
    boxes = np.stack([roi_box_from_landmarks(p) for p in labels["pts68"][idx].astype(np.float64)])
    photo = boxes / scale[idx, None] + np.tile(crop_box[idx, :2], 2)
    table = FitTable(np.array([str(n) for n in split.names]), cam, shape, expr,
                     np.full((len(idx), 21, 2), np.nan, np.float32), None, photo.astype(np.float32))
    result = Refiner(bfm, RefineConfig(mapping="ibug68")).run(table, points=pts)
    t = result.table
    yaw = np.array([source_pose(c)[0] for c in t.camera], np.float32)
    t = FitTable(t.names, t.camera, t.shape, t.expression, t.pts21, yaw, t.roi_box)
    return Sources(split.images, t), result.summary()


def select_sources(yaw: np.ndarray, max_yaw: float, limit: int, seed: int) -> np.ndarray:
    """Sorted row indices with |yaw| < ``max_yaw`` (degrees); ``limit`` > 0 draws that many of
    them with ``seed``."""
    idx = np.flatnonzero(np.abs(np.asarray(yaw)) < max_yaw)
    if limit and limit < len(idx):
        idx = np.sort(np.random.default_rng(seed).choice(idx, limit, replace=False))
    return idx


def read_sources(folder: str | Path, labels: str | Path | None = None, max_yaw: float = 90.0,
                 limit: int = 0, seed: int = 0) -> Sources:
    """Faces of an aflw_pl-layout split (``images/`` + ``labels.npz``, or the ``labels`` file
    given, e.g. refined fits) whose fit's |yaw| is below ``max_yaw``; ``limit`` > 0 draws that
    many of them (``seed``). Unreadable crops are skipped with one line each."""
    folder = Path(folder)
    table = read_fit_table(labels or folder)
    yaw = np.array([source_pose(c)[0] for c in table.camera])
    idx = select_sources(yaw, max_yaw, limit, seed)
    images, keep = [], []
    for i in idx:
        try:
            images.append(to_rgb(read_image(folder / "images" / str(table.names[i]))))
            keep.append(i)
        except DenseFaceError as e:
            print(f"denseface: skipped {e}", file=sys.stderr)
    if not keep:
        raise DenseFaceError(f"no readable crop with |yaw| < {max_yaw}", path=folder)
    if len({im.shape for im in images}) > 1:
        raise DenseFaceError("crops of different sizes", path=folder / "images")
    table = table.subset(np.asarray(keep, np.int64))
    table.yaw = yaw[keep].astype(np.float32)
    return Sources(np.stack(images), table)


def _profile_source(args) -> list[tuple[str, bytes, Fit, float, float, np.ndarray, int]]:
    """Worker: every view of one source face -> (name, jpeg bytes, fit, yaw, pitch, roi_box,
    source index)."""
    i, crop, fit, roi, name, seed, cfg = args
    bfm = _WORKER["bfm"]
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    V = bfm.vertices(fit)
    side = crop.shape[0]
    yaw0 = source_pose(fit.camera)[0]
    out = []
    stem = Path(name).stem
    for j, yaw in enumerate(target_yaws(yaw0, rng, cfg)):
        pitch = rng.uniform(-cfg.pitch_jitter, cfg.pitch_jitter)
        view = profile_view(crop, fit, np.array([0.0, 0.0, side, side]), bfm, yaw, pitch, cfg, vertices=V)
        ok, jpg = cv2.imencode(".jpg", cv2.cvtColor(view.image, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, cfg.jpeg_quality])
        if not ok:
            raise OutputError("cannot encode image", path=name)
        box = np.asarray(roi, np.float64)
        k = (box[2:] - box[:2]) / side                    # photo px per source-crop px
        photo_box = np.concatenate([box[:2] + view.box[:2] * k, box[:2] + view.box[2:] * k])
        out.append((f"{stem}_p{j}{int(round(view.yaw)):+03d}.jpg", jpg.tobytes(), view.fit, view.yaw,
                    float(pitch), photo_box, i))
    return out


_WORKER: dict = {}


def profile_sources(sources: Sources, out: str | Path, bfm: BFM, cfg: ProfileConfig = ProfileConfig(),
                    seed: int = 0, workers: int = 1, progress: bool = False) -> tuple[FitTable, dict]:
    """Profile every source face into ``out/images/`` (JPEG); returns the views' fits (aflw_pl
    layout: camera into the view's crop, pts21 all NaN, yaw of the new fit, roi_box in the
    original photo) and extra arrays for labels.npz: ``source`` (each view's source crop) and
    ``pitch_delta`` (degrees). Deterministic for a seed, whatever ``workers``."""
    img_dir = Path(out) / "images"
    try:
        img_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create output folder ({e.strerror})", path=img_dir) from None
    t = sources.table
    roi = t.roi_box if t.roi_box is not None else np.tile([0.0, 0.0, sources.crops.shape[1],
                                                           sources.crops.shape[1]], (len(t), 1))
    jobs = [(i, sources.crops[i], t.fit(i), roi[i], str(t.names[i]), seed, cfg) for i in range(len(t))]
    _WORKER["bfm"] = bfm
    if workers > 1:
        import multiprocessing as mp

        with mp.get_context("fork").Pool(workers) as pool:
            results = pool.imap(_profile_source, jobs, chunksize=8)
            rows = _collect(results, img_dir, len(jobs), progress)
    else:
        rows = _collect(map(_profile_source, jobs), img_dir, len(jobs), progress)
    if not rows:
        raise DenseFaceError("no views made (every source is beyond yaw_max - min_step)")
    table = FitTable(np.array([r[0] for r in rows]), np.stack([r[1].camera for r in rows]),
                     np.stack([r[1].shape for r in rows]), np.stack([r[1].expression for r in rows]),
                     np.full((len(rows), 21, 2), np.nan, np.float32),
                     np.array([r[2] for r in rows], np.float32), np.stack([r[4] for r in rows]).astype(np.float32))
    extras = {"source": np.array([str(t.names[r[5]]) for r in rows]),
              "pitch_delta": np.array([r[3] for r in rows], np.float32)}
    return table, extras


def _collect(results, img_dir: Path, n: int, progress: bool) -> list:
    """Write each view's JPEG as it arrives; the rows without the bytes, in source order."""
    rows = []
    if progress:
        from tqdm import tqdm
        results = tqdm(results, total=n, desc="profile", unit="face")
    for views in results:
        for name, jpg, *rest in views:
            atomic_write(img_dir / name, jpg)
            rows.append((name, *rest))
    return rows
