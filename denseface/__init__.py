"""denseface: dense 3D facial landmarks (520 points) from one photo.

``from denseface import DenseFace`` is lazy and imports no torch (ONNX Runtime runs the model).
"""


def __getattr__(name):  # lazy: importing the package stays cheap
    if name in ("DenseFace", "Face"):
        from .infer import api

        return getattr(api, name)
    raise AttributeError(f"module 'denseface' has no attribute {name!r}")
