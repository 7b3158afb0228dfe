"""The inputs of a batch: PATH arguments expanded into image and video files.

Files are taken as given (their kind by suffix: video, else image); folders are walked
recursively for image and video suffixes, sorted, without following symlinked sub-folders.
Nothing is read here beyond the file system's metadata: a folder entry that is not a regular
file (named pipe, device, socket, broken link) becomes an error naming it, so a batch reports
it and goes on.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import NamedTuple

from ..errors import DenseFaceError
from ..io.images import IMAGE_SUFFIXES, VIDEO_SUFFIXES, file_problem

#: A PATH that looks like a URL (scheme://...): denseface reads local files only.
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


class Inputs(NamedTuple):
    """items: [(path, "image" | "video")] in input order; errors: one DenseFaceError per
    missing, unreadable or empty PATH and per unusable folder entry; not_followed: the
    symlinked sub-folders that were not walked."""

    items: list[tuple[Path, str]]
    errors: list[DenseFaceError]
    not_followed: list[Path]


def input_kind(p: Path) -> str:
    """"video" for a video suffix, else "image" (any other suffix is tried as an image)."""
    return "video" if p.suffix.lower() in VIDEO_SUFFIXES else "image"


def walk_folder(folder: Path) -> Inputs:
    """Image and video files under ``folder`` (sorted), the entries that cannot be read, and the
    symlinked sub-folders (not followed)."""
    files, errors, not_followed = [], [], []
    for root, dirs, names in os.walk(folder, followlinks=False):
        r = Path(root)
        not_followed += [r / d for d in dirs if (r / d).is_symlink()]
        dirs.sort()
        for name in sorted(names):
            p = r / name
            if p.suffix.lower() not in IMAGE_SUFFIXES + VIDEO_SUFFIXES:
                continue
            problem = file_problem(p)
            if problem is None:
                files.append(p)
            else:
                errors.append(DenseFaceError(problem, path=p))
    return Inputs([(p, input_kind(p)) for p in sorted(files)], errors, not_followed)


def collect_inputs(paths) -> Inputs:
    """Expand PATH arguments: files as given, folders recursively (image and video suffixes
    only, sorted); see :class:`Inputs`."""
    items: list[tuple[Path, str]] = []
    errors: list[DenseFaceError] = []
    not_followed: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if str(raw) == "":
            errors.append(DenseFaceError("empty path"))
        elif p.is_dir():
            found = walk_folder(p)
            items += found.items
            errors += found.errors
            not_followed += found.not_followed
            if not found.items and not found.errors:
                errors.append(DenseFaceError("folder holds no image or video files", path=p))
        elif os.path.lexists(p):
            items.append((p, input_kind(p)))
        elif _URL.match(str(raw)):
            errors.append(DenseFaceError("is a URL: denseface reads local files only (download it "
                                         "first)", path=raw))
        else:
            errors.append(DenseFaceError("does not exist", path=p))
    return Inputs(items, errors, not_followed)
