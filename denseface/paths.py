"""Where the data that is never shipped (BFM, datasets) lives.

The project never bundles the BFM or any dataset. Commands take explicit paths;
when a path is left out they look under the *shared root*: ``$DENSEFACE_SHARED``
if set, else ``../shared`` next to the current directory or the source checkout.
"""
from __future__ import annotations

import os
from pathlib import Path

from .errors import DenseFaceError

PACKAGE_DIR = Path(__file__).resolve().parent


def shared_root() -> Path | None:
    """The shared data folder, or None when there is none on this machine."""
    env = os.environ.get("DENSEFACE_SHARED")
    candidates = [Path(env)] if env else []
    candidates += [Path.cwd().parent / "shared", PACKAGE_DIR.parent.parent / "shared"]
    for c in candidates:
        if c.is_dir():
            return c.resolve()
    return None


def shared_path(*parts: str) -> Path:
    """A path inside the shared root; raises a clear error when it is missing."""
    root = shared_root()
    if root is None:
        raise DenseFaceError(
            "no shared data folder: set DENSEFACE_SHARED or pass the path explicitly",
            path="../shared",
        )
    p = root.joinpath(*parts)
    if not p.exists():
        raise DenseFaceError("does not exist", path=p)
    return p


def default_bfm_dir() -> Path:
    return shared_path("models", "bfm_3ddfa_53215")
