"""denseface: dense 3D facial landmarks (520 points) from one photo.

``from denseface import DenseFace`` is lazy and imports no torch (ONNX Runtime runs the model).
"""
#: The public API, imported lazily from denseface.infer.api on first use.
_LAZY = ("DenseFace", "Face", "PredictConfig")
__all__ = [*_LAZY, "__version__"]


def _installed_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("denseface")
    except metadata.PackageNotFoundError:   # running from a source tree that is not installed
        return "0+unknown"


def __getattr__(name):  # lazy: importing the package stays cheap (also the version lookup)
    if name == "__version__":
        globals()["__version__"] = version = _installed_version()
        return version
    if name in _LAZY:
        from .infer import api

        return getattr(api, name)
    raise AttributeError(f"module 'denseface' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | {"__version__"})
