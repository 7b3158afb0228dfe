"""Writing predictions: safe unique output names, atomic files, JSON / npy / csv, PLY / OBJ.

Output names are built from the input's file stem only (never its folders), with every
character outside letters, digits, ``.``, ``_`` and ``-`` replaced by ``_`` and no leading dot,
so nothing can be written outside the output folder; two inputs with the same stem get
``name``, ``name_2``, ``name_3``, ... in the order they are processed.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
from pathlib import Path

import numpy as np

from ..errors import OutputError

FORMATS = ("json", "npy", "csv")
MESH_FORMATS = ("ply", "obj")
_UNSAFE = re.compile(r"[^\w.\-]+", re.UNICODE)
MAX_NAME = 100


def safe_stem(name: str) -> str:
    """A file-name stem that is safe as a single path component (no separators, no leading
    dot, at most MAX_NAME characters; "image" when nothing is left)."""
    stem = _UNSAFE.sub("_", Path(str(name)).stem).lstrip(".")[:MAX_NAME]
    return stem or "image"


class OutputNamer:
    """Unique, safe output stems inside one output folder (case-insensitive)."""

    def __init__(self, out_dir: str | Path):
        self.out_dir = Path(out_dir)
        self._used: set[str] = set()

    def stem_for(self, input_path: str | Path) -> str:
        base = safe_stem(Path(str(input_path)).name)
        name, k = base, 2
        while name.casefold() in self._used:
            name, k = f"{base}_{k}", k + 1
        self._used.add(name.casefold())
        return name

    def path(self, stem: str, suffix: str) -> Path:
        """out_dir / (stem + suffix); checked to stay inside out_dir."""
        p = self.out_dir / f"{stem}{suffix}"
        if p.resolve().parent != self.out_dir.resolve():
            raise OutputError("output name would leave the output folder", path=p)
        return p


def ensure_out_dir(out_dir: str | Path) -> Path:
    """Create the output folder and check it is writable; OutputError otherwise."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create the output folder ({e.strerror or e})", path=out) from None
    if not out.is_dir():
        raise OutputError("output path exists and is not a folder", path=out)
    probe = out / f".denseface_write_test_{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise OutputError(f"cannot write in the output folder ({e.strerror or e})", path=out) from None
    return out


def atomic_write(path: str | Path, data: bytes) -> Path:
    """Write bytes to a temporary file beside ``path`` and rename it into place, so a crash
    never leaves a half-written file and an earlier good file is only replaced whole."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as e:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        raise OutputError(f"cannot write ({e.strerror or e})", path=path) from None
    return path


def image_record(image_name: str, width: int, height: int, faces) -> dict:
    """The per-image JSON document (docs/predict.md)."""
    return {"image": str(image_name), "width": int(width), "height": int(height),
            "faces": [f.to_dict() for f in faces]}


def json_bytes(record: dict) -> bytes:
    return (json.dumps(record, allow_nan=False, separators=(",", ":")) + "\n").encode()


def npy_bytes(faces, n_points: int) -> bytes:
    """(F, N, 3) float32 landmarks in image pixels (F = 0 when no face)."""
    arr = np.zeros((len(faces), n_points, 3), np.float32)
    for i, f in enumerate(faces):
        arr[i] = f.landmarks
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def csv_bytes(faces) -> bytes:
    """Rows ``face,point,x,y,z`` (image pixels), one per landmark; header only when no face."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["face", "point", "x", "y", "z"])
    for i, f in enumerate(faces):
        for j, (x, y, z) in enumerate(np.asarray(f.landmarks, np.float64)):
            w.writerow([i, j, f"{x:.3f}", f"{y:.3f}", f"{z:.3f}"])
    return buf.getvalue().encode()


def prediction_bytes(fmt: str, record: dict, faces, n_points: int) -> tuple[str, bytes]:
    """(suffix, content) of one image's prediction in format ``fmt``."""
    if fmt == "json":
        return ".json", json_bytes(record)
    if fmt == "npy":
        return ".npy", npy_bytes(faces, n_points)
    if fmt == "csv":
        return ".csv", csv_bytes(faces)
    raise OutputError(f"unknown output format '{fmt}' (expected one of {FORMATS})")


def mesh_bytes(fmt: str, points: np.ndarray, triangles: np.ndarray) -> bytes:
    """ASCII PLY or OBJ of points (N, 3) image pixels (x right, y down, z towards the viewer)
    and triangles (T, 3) 0-based indices."""
    p = np.asarray(points, np.float64)
    t = np.asarray(triangles, np.int64)
    lines: list[str]
    if fmt == "ply":
        lines = ["ply", "format ascii 1.0", "comment denseface landmarks, image pixels, y down",
                 f"element vertex {len(p)}", "property float x", "property float y", "property float z",
                 f"element face {len(t)}", "property list uchar int vertex_indices", "end_header"]
        lines += [f"{x:.4f} {y:.4f} {z:.4f}" for x, y, z in p]
        lines += [f"3 {a} {b} {c}" for a, b, c in t]
    elif fmt == "obj":
        lines = ["# denseface landmarks, image pixels (x right, y down, z towards the viewer)"]
        lines += [f"v {x:.4f} {y:.4f} {z:.4f}" for x, y, z in p]
        lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in t]
    else:
        raise OutputError(f"unknown mesh format '{fmt}' (expected one of {MESH_FORMATS})")
    return ("\n".join(lines) + "\n").encode()


def encode_image(image_rgb: np.ndarray, suffix: str = ".jpg") -> bytes:
    """Encode an RGB uint8 image (jpg/png) to bytes."""
    import cv2

    ok, buf = cv2.imencode(suffix, cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, 90] if suffix == ".jpg" else [])
    if not ok:
        raise OutputError(f"cannot encode the drawing as {suffix}")
    return buf.tobytes()
