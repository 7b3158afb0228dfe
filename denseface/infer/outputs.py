"""Writing predictions: safe unique output names, JSON / npy / csv, PLY / OBJ (files are written
with denseface.io.files.atomic_write).

The per-image prediction formats are a registry (:data:`FORMATS`, name -> :class:`OutputFormat`):
each states its file suffix, its one-line description (``--format``'s help), its encoder and
its face counter (how ``--skip-existing`` knows how many meshes an image has), so a new format
is one :func:`register_format` call.

Output names are built from the input's file stem only (never its folders), with every
character outside letters, digits, ``.``, ``_`` and ``-`` replaced by ``_`` and no leading dot,
so nothing can be written outside the output folder; two inputs with the same stem get
``name``, ``name_2``, ``name_3``, ... in the order they are processed.
"""
from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import OutputError
from ..geometry.meshes import to_export_frame
from ..io.files import MAX_NAME_BYTES, truncate_utf8

MESH_FORMATS = ("ply", "obj")
_UNSAFE = re.compile(r"[^\w.\-]+", re.UNICODE)
#: Longest output stem in UTF-8 bytes: room is left for the longest suffix
#: ("_face99.ply", "_draw.webm", a "_N" de-duplication) and the atomic writer's temp name.
MAX_STEM_BYTES = MAX_NAME_BYTES - 64


def safe_stem(name: str) -> str:
    """A file-name stem that is safe as a single path component (no separators, no leading
    dot, at most MAX_STEM_BYTES bytes of UTF-8; "image" when nothing is left)."""
    stem = truncate_utf8(_UNSAFE.sub("_", Path(str(name)).stem).lstrip("."), MAX_STEM_BYTES)
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
        """out_dir / (stem + suffix); checked to stay inside out_dir (the name itself is never
        resolved: a planted symlink there is replaced by the atomic writer, not followed)."""
        p = self.out_dir / f"{stem}{suffix}"
        if "/" in p.name or p.name in (".", "..") or p.parent.resolve() != self.out_dir.resolve():
            raise OutputError("output name would leave the output folder", path=p)
        return p


def image_record(image_name: str, width: int, height: int, faces) -> dict:
    """The per-image JSON document (docs/predict.md)."""
    return {"image": str(image_name), "width": int(width), "height": int(height),
            "faces": [f.to_dict() for f in faces]}


@dataclass(frozen=True)
class OutputFormat:
    """A per-image prediction format: its name (``--format``), file suffix, one-line
    description, encoder ``(record, faces, n_points) -> bytes`` (``record``: the image's JSON
    document, :func:`image_record`; ``faces``: its Face objects, landmarks in image pixels) and
    face counter ``(path) -> number of faces`` of a file it wrote."""

    name: str
    suffix: str
    summary: str
    encode: Callable[[dict, list, int], bytes]
    count_faces: Callable[[Path], int]


#: The per-image prediction formats by name, in --format's order (:func:`register_format`).
FORMATS: dict[str, OutputFormat] = {}


def register_format(fmt: OutputFormat) -> OutputFormat:
    """Add (or replace) a prediction format; returns it."""
    FORMATS[fmt.name] = fmt
    return fmt


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


def _faces_in_csv(path: Path) -> int:
    rows = path.read_text().splitlines()[1:]
    return 1 + max((int(r.split(",", 1)[0]) for r in rows), default=-1)


register_format(OutputFormat(
    "json", ".json", "json (default; box, score, 520 and 68 points, pose)",
    lambda record, faces, n_points: json_bytes(record),
    lambda path: len(json.loads(path.read_bytes())["faces"])))
register_format(OutputFormat(
    "npy", ".npy", "npy (the (faces, 520, 3) landmarks only)",
    lambda record, faces, n_points: npy_bytes(faces, n_points),
    lambda path: int(np.load(path, mmap_mode="r").shape[0])))
register_format(OutputFormat(
    "csv", ".csv", "csv (one row per landmark: face, point, x, y, z; landmarks only)",
    lambda record, faces, n_points: csv_bytes(faces), _faces_in_csv))


def output_format(name: str) -> OutputFormat:
    """The registered format ``name``; OutputError for an unknown one."""
    if name not in FORMATS:
        raise OutputError(f"unknown output format '{name}' (expected one of {', '.join(FORMATS)})")
    return FORMATS[name]


def prediction_bytes(fmt: str, record: dict, faces, n_points: int) -> tuple[str, bytes]:
    """(suffix, content) of one image's prediction in format ``fmt``."""
    f = output_format(fmt)
    return f.suffix, f.encode(record, faces, n_points)


def mesh_bytes(fmt: str, points: np.ndarray, triangles: np.ndarray) -> bytes:
    """PLY (binary) or OBJ of a face mesh, written by trimesh in the export frame of
    denseface.geometry.meshes (image pixels with y flipped up: x right, y up, z towards the
    viewer; right-handed). ``points`` (N, 3) image pixels; ``triangles`` (T, 3) 0-based, wound
    outward (geometry.meshes.outward_triangles), so normals point out of the face."""
    import trimesh

    if fmt not in MESH_FORMATS:
        raise OutputError(f"unknown mesh format '{fmt}' (expected one of {MESH_FORMATS})")
    mesh = trimesh.Trimesh(to_export_frame(points), np.asarray(triangles, np.int64), process=False)
    data = mesh.export(file_type=fmt)
    return data.encode() if isinstance(data, str) else data


def encode_image(image_rgb: np.ndarray, suffix: str = ".jpg") -> bytes:
    """Encode an RGB uint8 image (jpg/png) to bytes."""
    import cv2

    ok, buf = cv2.imencode(suffix, cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, 90] if suffix == ".jpg" else [])
    if not ok:
        raise OutputError(f"cannot encode the drawing as {suffix}")
    return buf.tobytes()
