"""Shared fixtures. Data-dependent tests skip with a reason when ../shared is absent."""
from __future__ import annotations

import pytest

from denseface.paths import shared_root

SHARED = shared_root()


def need_shared(*parts: str):
    """Skip the test unless shared/<parts> exists; return the path."""
    if SHARED is None:
        pytest.skip("no shared data folder (../shared or $DENSEFACE_SHARED): data test skipped")
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"{p} is missing: data test skipped")
    return p


@pytest.fixture(scope="session")
def bfm():
    from denseface.mesh import load_bfm
    return load_bfm(need_shared("models", "bfm_3ddfa_53215"))


@pytest.fixture(scope="session")
def landmark_set():
    from denseface.landmarks import load_landmark_set
    return load_landmark_set()
