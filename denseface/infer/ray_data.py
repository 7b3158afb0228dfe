"""Dense landmarks over datasets beyond one machine, with Ray Data (docs/scale.md).

``DenseFaceBatchPredictor`` is a callable class for ``ray.data.Dataset.map_batches``: Ray
builds it once per actor (one DenseFace: model, detector and landmark set loaded once) and
calls it on batches of rows::

    import ray
    from denseface.infer.ray_data import DenseFaceBatchPredictor

    ds = ray.data.read_binary_files("photos/", include_paths=True)   # or s3://..., gs://...
    rows = ds.map_batches(DenseFaceBatchPredictor, fn_constructor_kwargs={"model": None},
                          concurrency=4, batch_size=16)
    rows.write_parquet("landmarks/")                                 # or s3://...

Input columns (any one of these per batch, ``path`` names the row):

* ``bytes`` + ``path`` (``read_binary_files(..., include_paths=True)``): the encoded file,
  decoded exactly as ``denseface predict`` decodes a file (OpenCV, EXIF orientation, the same
  size limits), so results equal the CLI's;
* ``image`` + ``path`` (``read_images(..., include_paths=True, mode="RGB")``): decoded
  arrays (Pillow's decoder: no EXIF orientation);
* ``path`` only (a table of paths, e.g. ``ray.data.from_items([{"path": p} ...])``): each actor
  reads the file itself, a local path (every node must see it) or a URI (``s3://``, ``gs://``:
  pyarrow's file systems), decoded like the CLI;
* optional ``boxes``: per-row user face boxes (a list of [x0, y0, x1, y1], read as landmark
  boxes like ``--box``), else the detector runs.

Output rows (a pyarrow table with the schema of ``denseface predict --table parquet``,
:func:`denseface.infer.tables.table_schema`): image (the path), width, height, faces (box,
score, landmarks 520x3, landmarks68, pose, rounded like the per-image JSON), error (null, or
the one-line message of a failed row: a bad image never fails the job).

This module needs Ray only where Ray calls it; nothing else in denseface imports it.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError, DenseFaceError, first_line
from ..io.images import DEFAULT_LIMITS, decode_image, normalise_array, read_image
from .api import ModelSpec, PredictConfig
from .jobs import item_error
from .tables import error_row, table_schema
from .outputs import image_record

RAY_HINT = "pip install -e '.[ray]' (from the denseface checkout)"


def require_ray():
    """The ``ray`` module, or a one-line ConfigError naming the install command."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise ConfigError(f"Ray Data is not installed: {RAY_HINT}") from None
    return ray


class DenseFaceBatchPredictor:
    """``map_batches`` callable: batches of images -> rows of predictions (module docstring).

    Constructor arguments (``fn_constructor_kwargs``): model (registry name or file; None: the
    default), detector and detector_options, device, threads (ONNX Runtime and detector threads
    per actor; default 1: give each actor one CPU), config (a PredictConfig or its fields as a
    dict), bfm; max_faces per image; boxes (user boxes for every row, when no ``boxes``
    column); net_batch: images whose crops share one network call."""

    def __init__(self, model=None, detector: str = "default", detector_options: dict | None = None,
                 device: str = "cpu", threads: int | None = 1, config=None, bfm=None,
                 max_faces: int | None = None, boxes=None, net_batch: int = 16):
        if isinstance(config, dict):
            config = PredictConfig(**config)
        self.spec = ModelSpec(None if model is None else str(model), detector, device,
                              config or PredictConfig(), threads, dict(detector_options or {}),
                              None if bfm is None else str(bfm))
        self.model = self.spec.build()
        self.max_faces, self.boxes, self.net_batch = max_faces, boxes, net_batch
        self.schema = table_schema()

    def __call__(self, batch):
        import pyarrow as pa

        columns = _columns(batch)
        n = len(next(iter(columns.values()))) if columns else 0
        paths = columns.get("path")
        names = [str(paths[i]) if paths is not None else f"row {i}" for i in range(n)]
        rows: list = [None] * n
        arrays: dict[int, np.ndarray] = {}
        for i in range(n):
            try:
                arrays[i] = _image_of(columns, i, names[i])
            except Exception as e:   # a bad row: its error column, never a failed job
                rows[i] = error_row(names[i], str(item_error(e, names[i])))
        row_boxes = columns.get("boxes")
        if row_boxes is None:        # one batched network call per net_batch images
            order = list(arrays)
            try:
                results = self.model.predict_many((arrays[i] for i in order), self.net_batch,
                                                  boxes=self.boxes, max_faces=self.max_faces,
                                                  errors="yield")
                for i, faces in zip(order, results):
                    rows[i] = self._row(names[i], arrays[i], faces)
            except Exception:        # a failure inside a network batch: redo its rows one by one
                pass
        for i, image in arrays.items():
            if rows[i] is None:
                try:
                    boxes = self.boxes if row_boxes is None else _boxes_of(row_boxes[i])
                    faces = self.model.predict_array(image, boxes=boxes, max_faces=self.max_faces)
                except Exception as e:   # a bad row: its error column, never a failed job
                    faces = e
                rows[i] = self._row(names[i], image, faces)
        return pa.Table.from_pylist(rows, schema=self.schema)

    def _row(self, name: str, image: np.ndarray, faces) -> dict:
        if isinstance(faces, BaseException):
            return error_row(name, str(item_error(faces, name)))
        h, w = image.shape[:2]
        return {**image_record(name, w, h, faces), "error": None}


def _boxes_of(value):
    """A ``boxes`` cell -> a list of [x0, y0, x1, y1] (None or empty: run the detector)."""
    if value is None or len(value) == 0:
        return None
    return [[float(v) for v in np.asarray(b, np.float64).reshape(-1)] for b in value]


def _columns(batch) -> dict:
    """A batch (dict of numpy arrays, pandas or pyarrow table) -> {column: sequence}."""
    if isinstance(batch, dict):
        return batch
    if hasattr(batch, "to_pydict"):                # pyarrow.Table
        return batch.to_pydict()
    if hasattr(batch, "to_dict"):                  # pandas.DataFrame
        return {c: batch[c].tolist() for c in batch.columns}
    raise ConfigError(f"unsupported batch type {type(batch).__name__}")


def _image_of(columns: dict, i: int, name: str) -> np.ndarray:
    """Row i's normalised image: decoded from ``bytes``, taken from ``image`` or read from ``path``."""
    if "bytes" in columns:
        return decode_image(columns["bytes"][i], name)
    if "image" in columns:
        return normalise_array(np.asarray(columns["image"][i]), "rgb", path=name)
    if "path" in columns:
        path = str(columns["path"][i])
        if "://" in path:            # s3://, gs://, ...: read through pyarrow's file systems
            return decode_image(_read_uri(path), path)
        return read_image(path)
    raise ConfigError("a batch needs a 'bytes', 'image' or 'path' column")


def _read_uri(uri: str) -> bytes:
    """The content of a file named by a URI (pyarrow.fs: s3://, gs://, hdfs://, file://)."""
    import pyarrow.fs as pafs

    try:
        fs, path = pafs.FileSystem.from_uri(uri)
        with fs.open_input_stream(path) as f:
            return f.read(DEFAULT_LIMITS.max_file_bytes + 1)
    except (OSError, ValueError) as e:
        raise DenseFaceError(f"cannot read ({first_line(e)})", path=uri) from None
