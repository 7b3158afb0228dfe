"""denseface: dense 3D facial landmarks (520 points) from one photo.

``from denseface import DenseFace`` is lazy and imports no torch (ONNX Runtime runs the model).
"""
from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("denseface")
except _metadata.PackageNotFoundError:   # running from a source tree that is not installed
    __version__ = "0+unknown"


def __getattr__(name):  # lazy: importing the package stays cheap
    if name in ("DenseFace", "Face"):
        from .infer import api

        return getattr(api, name)
    raise AttributeError(f"module 'denseface' has no attribute {name!r}")
