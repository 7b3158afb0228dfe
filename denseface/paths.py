"""Where the data that is never shipped (BFM, datasets) lives.

The project never bundles the BFM or any dataset. Commands take explicit paths;
when a path is left out they look under the *shared root*: ``$DENSEFACE_SHARED``
if set, else the project's own ``../shared`` when denseface runs from its source checkout
(the folder beside the checkout that holds ``pyproject.toml``), never a folder found
relative to the current directory.
"""
from __future__ import annotations

import os
from pathlib import Path

from .errors import DenseFaceError

PACKAGE_DIR = Path(__file__).resolve().parent


def shared_root() -> Path | None:
    """The shared data folder, or None when there is none on this machine."""
    env = os.environ.get("DENSEFACE_SHARED")
    if env:
        return Path(env).resolve() if Path(env).is_dir() else None
    checkout = PACKAGE_DIR.parent
    if (checkout / "pyproject.toml").is_file() and (checkout.parent / "shared").is_dir():
        return (checkout.parent / "shared").resolve()
    return None


def shared_path(*parts: str) -> Path:
    """A path inside the shared root; raises a clear error when it is missing."""
    root = shared_root()
    env = os.environ.get("DENSEFACE_SHARED")
    if root is None and env:
        raise DenseFaceError("DENSEFACE_SHARED names a folder that does not exist: point it at "
                             "the shared data folder or pass the path explicitly", path=env)
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
