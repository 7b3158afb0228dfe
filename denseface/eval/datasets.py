"""Readers of the benchmark data: AFLW2000-3D (jpg + mat) and 3DDFA's protocol arrays.

Pixel frames. AFLW2000-3D's ``pt3d_68`` and every array of 3DDFA's ``test.configs`` use MATLAB's
1-based pixel frame (the centre of the top-left pixel is (1, 1)). Evidence: the fit projects with
``y = height + 1 - y``, and 3DDFA's benchmark crop boxes (``AFLW2000-3D_crop.roi_box.npy``) are
clipped to [1, 450], not [0, 449]. denseface works in OpenCV's 0-based frame (the centre of the
top-left pixel is (0, 0)), so these readers subtract :data:`MATLAB_TO_OPENCV` = 1 pixel from
every point and box they return. NME is unchanged by this shift when prediction and ground truth
are in the same frame; a model that predicts in the other frame pays about 1.4 px per point.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..geometry.boxes import roi_box_from_landmarks
from ..errors import DenseFaceError
from ..metrics import yaw_bin

#: 3DDFA / AFLW2000-3D pixel coordinates minus this = OpenCV (0-based) pixel coordinates.
MATLAB_TO_OPENCV = 1.0

#: The AFLW2000-3D images are 450 x 450.
AFLW2000_IMAGE_SIZE = (450, 450)
#: 3DDFA's yaw-bin counts of AFLW2000-3D (|yaw| <= 30, 30-60, > 60).
AFLW2000_BIN_COUNTS = (1312, 383, 305)
AFLW2000_N = 2000
AFLW_GT_N = 21080

AFLW2000_FILES = {
    "list": "AFLW2000-3D_crop.list",
    "pts68": "AFLW2000-3D.pts68.npy",
    "reannotated": "AFLW2000-3D-Reannotated.pts68.npy",
    "pose": "AFLW2000-3D.pose.npy",
    "roi_box": "AFLW2000-3D_crop.roi_box.npy",
    "pts21": "AFLW2000-3D.pts21.npy",
}
AFLW_FILES = {
    "list": "AFLW_GT_crop.list",
    "pts21": "AFLW_GT_pts21.npy",
    "yaws": "AFLW_GT_crop_yaws.npy",
    "roi_box": "AFLW_GT_crop_roi_box.npy",
}


def benchmark_roi_box(pts68_matlab: np.ndarray, width: int, height: int) -> np.ndarray:
    """3DDFA's AFLW2000-3D crop box, in its own (1-based) frame, as integers [sx, sy, ex, ey].

    The square of :func:`roi_box_from_landmarks` (side sqrt(2) x the longer side of the 68-point
    box); its top-left corner and its side are rounded to whole pixels, then the box is clipped
    to the image, [1, width] x [1, height]. This reproduces ``AFLW2000-3D_crop.roi_box.npy``
    exactly for all 2000 images (tests/test_eval.py). The clipped boxes (53 of 2000) are not
    square: their crops are stretched, as 3DDFA's were."""
    x0, y0, x1, _ = roi_box_from_landmarks(pts68_matlab)
    sx, sy, side = np.floor(x0 + 0.5), np.floor(y0 + 0.5), np.floor(x1 - x0 + 0.5)
    return np.array([max(sx, 1.0), max(sy, 1.0), min(sx + side, float(width)),
                     min(sy + side, float(height))])


def _require(folder: Path, name: str) -> Path:
    p = folder / name
    if not p.is_file():
        raise DenseFaceError(f"missing protocol file {name} (is this 3DDFA's test.configs folder?)",
                             path=p)
    return p


def _load_npy(path: Path, shape: tuple) -> np.ndarray:
    try:
        a = np.load(path, allow_pickle=False)
    except Exception as e:
        raise DenseFaceError(f"cannot read array ({type(e).__name__})", path=path) from None
    if a.shape != shape:
        raise DenseFaceError(f"array is {a.shape}, expected {shape}", path=path)
    return a


def _read_list(path: Path) -> list[str]:
    try:
        return [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
    except (OSError, UnicodeDecodeError) as e:
        raise DenseFaceError(f"cannot read name list ({type(e).__name__})", path=path) from None


@dataclass
class Aflw2000:
    """AFLW2000-3D with the 3DDFA protocol arrays; every point and box in OpenCV pixels.

    names (N,) image file names in protocol order (sorted = AFLW2000-3D_crop.list);
    image_paths (N,); pts68 (N, 68, 3) ground truth pt3d_68 (x, y, z; z towards the viewer);
    reannotated (N, 68, 2) the re-annotated 2D ground truth; yaw (N,) degrees (Pose_Para, signed);
    boxes (N, 4) 3DDFA's benchmark crop boxes [x0, y0, x1, y1]; indices (N,) positions in the
    full 2000-image protocol; pts21 (N, 21, 2) the human AFLW points (NaN = missing)."""

    names: np.ndarray
    image_paths: list[Path]
    pts68: np.ndarray
    reannotated: np.ndarray
    yaw: np.ndarray
    boxes: np.ndarray
    indices: np.ndarray
    pts21: np.ndarray

    def __len__(self) -> int:
        return len(self.names)

    @property
    def bins(self) -> np.ndarray:
        return yaw_bin(self.yaw)


def aflw2000_paths(data_dir: str | Path = "", configs_dir: str | Path = "") -> tuple[Path, Path]:
    """The AFLW2000-3D folder and 3DDFA's test.configs folder; "" = the shared copies
    (data/aflw2000_3d, data/3ddfa_test_configs)."""
    from ..paths import shared_path

    data = Path(data_dir) if data_dir else shared_path("data", "aflw2000_3d")
    configs = Path(configs_dir) if configs_dir else shared_path("data", "3ddfa_test_configs")
    return data, configs


def subset_indices(n: int, limit: int) -> np.ndarray:
    """``limit`` evenly spaced indices of ``range(n)`` (all when limit is 0 or >= n)."""
    if limit <= 0 or limit >= n:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, limit)).astype(np.int64))


def load_aflw2000(data_dir: str | Path, configs_dir: str | Path, limit: int = 0,
                  reannotated_offset: float = 0.0) -> Aflw2000:
    """Read AFLW2000-3D as distributed (450x450 jpg + .mat) plus 3DDFA's protocol arrays.

    The image order is the sorted file names, which must equal ``AFLW2000-3D_crop.list``; each
    .mat's pt3d_68 must equal ``AFLW2000-3D.pts68.npy`` and its Pose_Para yaw must equal
    ``AFLW2000-3D.pose.npy`` (within 1e-3): anything else is a wrong or modified layout.
    ``reannotated_offset`` (pixels) is added to the re-annotated points (0 = 3DDFA's protocol,
    which compares them in pt3d_68's frame). ``limit`` > 0 keeps that many evenly spaced images."""
    data_dir, configs_dir = Path(data_dir), Path(configs_dir)
    if not data_dir.is_dir():
        raise DenseFaceError("AFLW2000-3D folder does not exist", path=data_dir)
    if not configs_dir.is_dir():
        raise DenseFaceError("3DDFA test.configs folder does not exist", path=configs_dir)
    files = {k: _require(configs_dir, v) for k, v in AFLW2000_FILES.items()}
    listed = _listed_images(data_dir, files["list"])
    n = len(listed)
    pts68_npy = _load_npy(files["pts68"], (n, 3, 68)).astype(np.float64)
    re_npy = _load_npy(files["reannotated"], (n, 2, 68)).astype(np.float64)
    yaw_npy = _load_npy(files["pose"], (n,)).astype(np.float64)
    boxes_npy = _load_npy(files["roi_box"], (n, 4)).astype(np.float64)
    pts21_npy = _load_npy(files["pts21"], (n, 2, 21)).astype(np.float64).transpose(0, 2, 1)
    pts21_npy[(pts21_npy < 0).any(-1)] = np.nan          # -1 marks a missing point

    idx = subset_indices(n, limit)
    names = np.array([listed[i] for i in idx])
    pts68, yaw = _read_mats([data_dir / (Path(listed[i]).stem + ".mat") for i in idx])
    if np.abs(pts68 - pts68_npy[idx].transpose(0, 2, 1)).max() > 1e-3:
        raise DenseFaceError(f"pt3d_68 of the .mat files differs from {files['pts68'].name}: "
                             "wrong image order or modified data", path=data_dir)
    if np.abs(yaw - yaw_npy[idx]).max() > 1e-3:
        raise DenseFaceError(f"Pose_Para yaw differs from {files['pose'].name}", path=data_dir)
    if len(idx) == n:
        counts = tuple(int(c) for c in np.bincount(yaw_bin(yaw), minlength=3))
        if n != AFLW2000_N or counts != AFLW2000_BIN_COUNTS:
            raise DenseFaceError(f"{n} images with yaw-bin counts {counts}; the AFLW2000-3D "
                                 f"protocol has {AFLW2000_N} with {AFLW2000_BIN_COUNTS}", path=data_dir)

    w, h = AFLW2000_IMAGE_SIZE
    boxes = np.stack([benchmark_roi_box(p[:, :2], w, h) for p in pts68])
    if np.abs(boxes - boxes_npy[idx]).max() > 1.0:
        raise DenseFaceError(f"crop boxes from pt3d_68 differ from {files['roi_box'].name} by more "
                             "than 1 px", path=files["roi_box"])
    pts68_cv = pts68.copy()
    pts68_cv[..., :2] -= MATLAB_TO_OPENCV
    re_cv = re_npy[idx].transpose(0, 2, 1) - MATLAB_TO_OPENCV + reannotated_offset
    return Aflw2000(names, [data_dir / nm for nm in names], pts68_cv, re_cv, yaw,
                    boxes - MATLAB_TO_OPENCV, idx, pts21_npy[idx] - MATLAB_TO_OPENCV)


def _listed_images(data_dir: Path, list_file: Path) -> list[str]:
    """The image names of 3DDFA's list, checked against the folder's .jpg files (sorted)."""
    listed = _read_list(list_file)
    jpgs = sorted(p.name for p in data_dir.glob("*.jpg"))
    if not jpgs:
        raise DenseFaceError("no .jpg images: expected AFLW2000-3D as distributed "
                             "(image00002.jpg ... with .mat files)", path=data_dir)
    if jpgs != listed:
        missing = sorted(set(listed) - set(jpgs))
        extra = sorted(set(jpgs) - set(listed))
        detail = (f"missing {len(missing)} (first {missing[0]})" if missing else
                  f"{len(extra)} not in the list (first {extra[0]})")
        raise DenseFaceError(f"the images do not match {list_file.name}: {detail}", path=data_dir)
    return listed


def _read_mats(mat_paths: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """pt3d_68 (N, 68, 3) in 3DDFA's 1-based frame and the yaw (N,) degrees of Pose_Para of
    each image's .mat."""
    import scipy.io as sio

    pts68 = np.empty((len(mat_paths), 68, 3))
    yaw = np.empty(len(mat_paths))
    for k, mat_path in enumerate(mat_paths):
        if not mat_path.is_file():
            raise DenseFaceError("missing annotation .mat next to the image", path=mat_path)
        try:
            m = sio.loadmat(str(mat_path), variable_names=("pt3d_68", "Pose_Para"))
            pts68[k] = np.asarray(m["pt3d_68"], np.float64).reshape(3, 68).T
            yaw[k] = np.degrees(float(np.asarray(m["Pose_Para"], np.float64).reshape(-1)[1]))
        except (KeyError, ValueError) as e:
            raise DenseFaceError(f"not an AFLW2000-3D annotation (pt3d_68 3x68 and Pose_Para "
                                 f"needed; {type(e).__name__})", path=mat_path) from None
        except Exception as e:
            raise DenseFaceError(f"cannot read .mat ({type(e).__name__})", path=mat_path) from None
    return pts68, yaw


@dataclass
class AflwProtocol:
    """3DDFA's AFLW (21-point) protocol arrays, OpenCV pixels of each original AFLW photo.

    names (N,); pts21 (N, 21, 2) with NaN where AFLW has no point (3DDFA's -1); visible (N, 21);
    yaw (N,) degrees; boxes (N, 4) 3DDFA's crop boxes [x0, y0, x1, y1]; indices (N,) rows in
    the 21,080-row protocol."""

    names: np.ndarray
    pts21: np.ndarray
    visible: np.ndarray
    yaw: np.ndarray
    boxes: np.ndarray
    indices: np.ndarray

    def __len__(self) -> int:
        return len(self.names)

    def subset(self, idx: np.ndarray) -> "AflwProtocol":
        return AflwProtocol(self.names[idx], self.pts21[idx], self.visible[idx], self.yaw[idx],
                            self.boxes[idx], self.indices[idx])


def load_aflw_protocol(configs_dir: str | Path) -> AflwProtocol:
    """Read AFLW_GT_crop.list, AFLW_GT_pts21.npy (-1 = missing), AFLW_GT_crop_yaws.npy and
    AFLW_GT_crop_roi_box.npy (3DDFA's 21,080-image AFLW protocol)."""
    configs_dir = Path(configs_dir)
    if not configs_dir.is_dir():
        raise DenseFaceError("3DDFA test.configs folder does not exist", path=configs_dir)
    files = {k: _require(configs_dir, v) for k, v in AFLW_FILES.items()}
    names = np.array(_read_list(files["list"]))
    n = len(names)
    if n != AFLW_GT_N:
        raise DenseFaceError(f"{n} names, the AFLW protocol has {AFLW_GT_N}", path=files["list"])
    pts = _load_npy(files["pts21"], (n, 2, 21)).astype(np.float64).transpose(0, 2, 1)
    visible = (pts != -1.0).all(-1)
    pts = np.where(visible[..., None], pts - MATLAB_TO_OPENCV, np.nan)
    yaw = _load_npy(files["yaws"], (n,)).astype(np.float64)
    boxes = _load_npy(files["roi_box"], (n, 4)).astype(np.float64) - MATLAB_TO_OPENCV
    return AflwProtocol(names, pts, visible, yaw, boxes, np.arange(n))


def roi_normaliser(boxes: np.ndarray) -> np.ndarray:
    """The substitute AFLW-21 normaliser: sqrt(w * h) of 3DDFA's crop box divided by sqrt(2).

    3DDFA normalised by sqrt(w*h) of the 68-point box of AFLW_GT_pts68.npy, which is not
    available. Its crop boxes are sqrt(2) x the longer side of that 68-point box, so this is the
    longer side (for unclipped boxes). On AFLW2000-3D the true normaliser is 0.958 x this
    (median; see docs/evaluation.md), so NMEs with this normaliser read about 4% low."""
    b = np.asarray(boxes, np.float64)
    return np.sqrt((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])) / np.sqrt(2.0)


# ------------------------------------------------------------------ AFLW2000-3D's dense ground truth
# Each image's .mat holds the 3DMM fit AFLW2000-3D was made from (a fit, not a scan): its
# Pose_Para with Shape_Para[:40] and Exp_Para[:10] through our BFM (bfm_3ddfa_53215) gives a
# 53215-vertex mesh in 3DDFA's 1-based pixel frame; :func:`gt_cameras` puts it in the OpenCV
# 0-based frame of :class:`Aflw2000`. denseface.eval.dense scores against it.
def read_fit_params(data: Aflw2000, n_shape: int = 40, n_exp: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pose_Para (N, 7), Shape_Para[:n_shape] (N, ns), Exp_Para[:n_exp] (N, ne) of every image."""
    import scipy.io as sio

    pose = np.empty((len(data), 7))
    shape = np.empty((len(data), n_shape))
    exp = np.empty((len(data), n_exp))
    for i, img in enumerate(data.image_paths):
        p = Path(img).with_suffix(".mat")
        try:
            m = sio.loadmat(str(p), variable_names=("Pose_Para", "Shape_Para", "Exp_Para"))
            pose[i] = np.asarray(m["Pose_Para"], np.float64).reshape(-1)[:7]
            shape[i] = np.asarray(m["Shape_Para"], np.float64).reshape(-1)[:n_shape]
            exp[i] = np.asarray(m["Exp_Para"], np.float64).reshape(-1)[:n_exp]
        except (KeyError, ValueError) as e:
            raise DenseFaceError(f"not an AFLW2000-3D fit (Pose_Para, Shape_Para, Exp_Para needed; "
                                 f"{type(e).__name__})", path=p) from None
    return pose, shape, exp


def gt_cameras(pose_para: np.ndarray, image_height: int = AFLW2000_IMAGE_SIZE[1]) -> np.ndarray:
    """(N, 3, 4) cameras of the fits in the OpenCV 0-based pixel frame.

    ``fit_from_pose_para`` reproduces 3DDFA's projection, whose rows are 1-based (pt3d_68's
    frame, ``y = height + 1 - y``); subtracting MATLAB_TO_OPENCV from the x and y translation
    puts the mesh in the frame of :class:`Aflw2000` (its pt3d_68 minus 1 px). z is untouched:
    it is pt3d_68's z (the fit's s R X + tz, towards the viewer)."""
    from ..mesh.fit import fit_from_pose_para

    cams = np.stack([fit_from_pose_para(p, np.zeros(0), np.zeros(0), image_height).camera
                     for p in np.asarray(pose_para, np.float64).reshape(-1, 7)])
    cams[:, :2, 3] -= MATLAB_TO_OPENCV
    return cams


def face_region_vertices(bfm, face_mask: str | Path | np.ndarray | None = None) -> np.ndarray:
    """Sorted BFM vertex ids whose UV pixel lies inside PRNet's face mask.

    ``face_mask``: the 256x256 ``uv_face_mask.png``, PRNet's ``face_ind.txt`` (its non-zero
    pixels as flat indices), a boolean array, or None (the shared uv_face_mask.png). Each vertex
    sits at pixel ``round(uv_pixel_coords(uv))`` (col, row) of the face3d/PRNet layout."""
    from ..mesh.posmap import PRNET_SIZE, read_face_ind, uv_pixel_coords

    if bfm.uv is None:
        raise DenseFaceError("the BFM has no UV coordinates (BFM_UV.mat) to find the face region",
                             path=bfm.source or None)
    if face_mask is None or (isinstance(face_mask, str) and not face_mask):
        from ..paths import shared_path

        face_mask = shared_path("data", "paper_520", "uv_face_mask.png")
    if isinstance(face_mask, np.ndarray):
        mask = np.asarray(face_mask) > 0
    else:
        p = Path(face_mask)
        if p.suffix == ".txt":
            mask = np.zeros(PRNET_SIZE * PRNET_SIZE, bool)
            mask[read_face_ind(p)] = True
            mask = mask.reshape(PRNET_SIZE, PRNET_SIZE)
        else:
            import cv2

            if not p.is_file():
                raise DenseFaceError("face mask file does not exist", path=p)
            img = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)
            if img is None:
                raise DenseFaceError("cannot read the face mask image", path=p)
            mask = img > 0
    size = mask.shape[0]
    if mask.shape != (size, size):
        raise DenseFaceError(f"the UV face mask must be square, got {mask.shape}")
    pix = np.clip(np.round(uv_pixel_coords(bfm.uv, size)).astype(np.int64), 0, size - 1)
    return np.flatnonzero(mask[pix[:, 1], pix[:, 0]])


class MeshPoints:
    """Batched BFM vertices at fixed ids: ``points(cameras, shape, exp)`` -> (n, K, 3) pixels."""

    def __init__(self, bfm, ids: np.ndarray, n_shape: int = 40, n_exp: int = 10):
        self.ids = np.asarray(ids, np.int64)
        B = np.concatenate([bfm.shape_basis[self.ids][..., :n_shape], bfm.exp_basis[self.ids][..., :n_exp]], -1)
        self.basis = np.ascontiguousarray(B.reshape(-1, B.shape[-1]).T, dtype=np.float32)   # (D, 3K)
        self.mean = bfm.mean[self.ids].reshape(-1).astype(np.float32)
        self.n_shape, self.n_exp = n_shape, n_exp

    def points(self, cameras: np.ndarray, shape: np.ndarray, exp: np.ndarray) -> np.ndarray:
        coef = np.concatenate([_pad(shape, self.n_shape), _pad(exp, self.n_exp)], 1).astype(np.float32)
        X = (self.mean + coef @ self.basis).reshape(len(coef), -1, 3).astype(np.float64)
        cams = np.asarray(cameras, np.float64)
        return np.einsum("nij,nkj->nki", cams[:, :, :3], X) + cams[:, None, :, 3]


def _pad(a: np.ndarray, n: int) -> np.ndarray:
    a = np.asarray(a, np.float64).reshape(len(a), -1)
    return a[:, :n] if a.shape[1] >= n else np.pad(a, ((0, 0), (0, n - a.shape[1])))


def aflw_pl_val_photos(shared: str | Path, size: int = 240) -> tuple[list[np.ndarray], np.ndarray, np.ndarray] | None:
    """aflw_pl's val crops (our training set's validation split, all poses, no AFLW2000-3D image)
    as photos of one large face: each 120x120 crop padded to 240x240 with grey (127), resized to
    size x size px (bilinear) when size is not 240. Returns the RGB photos, the face box
    [x0, y0, x1, y1] in their pixels (the central square of side 120/sqrt(2) of the crop, which
    is sqrt(2) x the landmark box) and each face's |yaw| in degrees; None without the split's
    labels.npz."""
    import cv2

    from ..io.images import read_image, to_rgb

    folder = Path(shared) / "data" / "aflw_pl" / "val"
    if not (folder / "labels.npz").exists():
        return None
    labels = np.load(folder / "labels.npz")
    side, centre = 120 / np.sqrt(2), 120.0
    face = np.array([centre - side / 2, centre - side / 2, centre + side / 2, centre + side / 2]) * (size / 240)
    photos = []
    for name in labels["names"]:
        im = to_rgb(read_image(folder / "images" / str(name)))
        im = cv2.copyMakeBorder(im, 60, 60, 60, 60, cv2.BORDER_CONSTANT, value=(127, 127, 127))
        photos.append(im if size == 240 else cv2.resize(im, (size, size), interpolation=cv2.INTER_LINEAR))
    return photos, face, np.abs(labels["yaw"])
