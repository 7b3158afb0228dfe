"""Qualitative pictures for the README and the model card.

    python benchmarks/qualitative.py [--model M] [--report docs/eval/dense520_mbv1_050/per_image.csv]

Writes docs/img/qualitative_photos.jpg (real photos from ../shared/data/face_landmark_samples,
detector boxes, 520 points, 68 subset, mesh and pose axes), docs/img/qualitative_profiles.jpg
(AFLW2000-3D faces at |yaw| > 60, ground-truth-box crops as in the benchmark) and, with
``--report``, docs/img/worst_cases.jpg (the AFLW2000-3D images with the highest NME).
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

import cv2
import numpy as np

from denseface.eval.calibration import QUALITATIVE_PHOTOS
from denseface.infer.api import DenseFace
from denseface.infer.draw import draw_faces
from denseface.paths import shared_path


def tile(images: list[np.ndarray], cols: int, height: int = 360) -> np.ndarray:
    """Resize to one height and lay out in a grid (RGB uint8)."""
    rs = [cv2.resize(im, (int(im.shape[1] * height / im.shape[0]), height)) for im in images]
    width = max(r.shape[1] for r in rs)
    rs = [cv2.copyMakeBorder(r, 0, 0, 0, width - r.shape[1], cv2.BORDER_CONSTANT, value=(255,) * 3) for r in rs]
    while len(rs) % cols:
        rs.append(np.full_like(rs[0], 255))
    rows = [np.concatenate(rs[i:i + cols], 1) for i in range(0, len(rs), cols)]
    return np.concatenate(rows, 0)


def save(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(f"wrote {path}")


def crop_view(image: np.ndarray, face, margin: float = 0.15) -> np.ndarray:
    x0, y0, x1, y1 = face.crop_box
    m = margin * (x1 - x0)
    h, w = image.shape[:2]
    x0, y0 = int(max(0, x0 - m)), int(max(0, y0 - m))
    x1, y1 = int(min(w, x1 + m)), int(min(h, y1 + m))
    return image[y0:y1, x0:x1]


def gt_faces(df: DenseFace, names: list[str]) -> list[np.ndarray]:
    """AFLW2000-3D images predicted from the ground-truth landmark box (benchmark crops)."""
    import scipy.io as sio

    root = shared_path("data", "aflw2000_3d")
    out = []
    for n in names:
        img = cv2.cvtColor(cv2.imread(str(root / n)), cv2.COLOR_BGR2RGB)
        pts = sio.loadmat(str(root / n.replace(".jpg", ".mat")))["pt3d_68"][:2].T
        x0, y0 = pts.min(0)
        x1, y1 = pts.max(0)
        faces = df.predict(img, boxes=[[x0, y0, x1, y1]])
        drawn = draw_faces(img, faces, df.landmark_set.triangles)
        out.append(crop_view(drawn, faces[0]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None)
    ap.add_argument("--report", type=Path, default=None, help="per_image.csv of an AFLW2000-3D eval")
    ap.add_argument("--out", type=Path, default=Path("docs/img"))
    args = ap.parse_args()
    df = DenseFace(args.model)
    root = shared_path("data", "face_landmark_samples")
    tiles = []
    for rel in QUALITATIVE_PHOTOS:
        img = cv2.cvtColor(cv2.imread(str(root / rel)), cv2.COLOR_BGR2RGB)
        faces = df.predict(img, max_faces=1)
        drawn = draw_faces(img, faces, df.landmark_set.triangles)
        tiles.append(crop_view(drawn, faces[0]) if faces else drawn)
    save(args.out / "qualitative_photos.jpg", tile(tiles, 3))

    import scipy.io as sio
    a2k = shared_path("data", "aflw2000_3d")
    yaws = {}
    for m in sorted(a2k.glob("*.mat"))[::10]:
        yaws[m.name.replace(".mat", ".jpg")] = abs(np.degrees(sio.loadmat(str(m))["Pose_Para"][0, 1]))
    profiles = [n for n, y in sorted(yaws.items(), key=lambda t: t[0]) if y > 60][:6]
    save(args.out / "qualitative_profiles.jpg", tile(gt_faces(df, profiles), 3))

    if args.report is not None:
        with open(args.report) as f:
            rows = list(csv.DictReader(f))
        key = "nme" if "nme" in rows[0] else next(k for k in rows[0] if k.startswith("nme"))
        worst = sorted(rows, key=lambda r: -float(r[key]))[:6]
        print("worst:", [(r.get("image", r.get("name")), r[key]) for r in worst])
        save(args.out / "worst_cases.jpg", tile(gt_faces(df, [r.get("image", r.get("name")) for r in worst]), 3))


if __name__ == "__main__":
    main()
