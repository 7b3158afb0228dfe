"""One file of predictions for many images: a Parquet or JSON Lines table with a row per image.

The row holds the per-image JSON's fields (docs/predict.md) plus ``error`` (null, or the one-line
message of a failed image). ``denseface predict --table`` and the Ray Data predictor
(denseface.infer.ray_data) write the same schema (docs/scale.md).
"""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import ConfigError, OutputError, first_line
from .outputs import json_bytes


#: The one-line message when pyarrow, the optional [parquet] extra, is missing.
PARQUET_EXTRA_HINT = ("--table parquet needs pyarrow, the optional [parquet] extra: pip install "
                      "'denseface[parquet]' (from the checkout: pip install -e '.[parquet]'), or use "
                      "--table jsonl")


def require_pyarrow():
    """pyarrow.parquet, or a one-line ConfigError naming the [parquet] extra."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ConfigError(PARQUET_EXTRA_HINT) from None
    return pq


def table_schema():
    """The pyarrow schema of a predictions table (and of the Ray Data predictor's rows): the
    per-image JSON's fields (docs/predict.md; points as [x, y, z] lists, [x, y] for
    landmarks68_300w, null for a non-finite number or a model without that head) plus ``error``: null, or the one-line message of a failed image (then width,
    height and faces are null)."""
    import pyarrow as pa

    f64 = pa.float64()
    point = pa.list_(f64, 3)
    face = pa.struct([("box", pa.list_(f64, 4)), ("score", f64),
                      ("landmarks", pa.list_(point)), ("landmarks68", pa.list_(point)),
                      ("landmarks68_300w", pa.list_(pa.list_(f64, 2))),   # null without the head
                      ("pose", pa.struct([("yaw", f64), ("pitch", f64), ("roll", f64)])),
                      ("eye_open_left", f64), ("eye_open_right", f64), ("mouth_open", f64),
                      ("visibility", pa.list_(pa.bool_())), ("visibility68", pa.list_(pa.bool_(), 68)),
                      ("uncertainty", pa.list_(f64)), ("uncertainty68", pa.list_(f64, 68)),
                      ("quality", f64),      # null without the uncertainty head
                      ("expression", pa.list_(f64, 10))])   # null unless asked for (--expression)
    return pa.schema([pa.field("image", pa.string(), nullable=False), ("width", pa.int32()),
                      ("height", pa.int32()), ("faces", pa.list_(face)), ("error", pa.string())])


def error_row(image: str, message: str) -> dict:
    """The table row of a failed image."""
    return {"image": str(image), "width": None, "height": None, "faces": None, "error": message}


class PredictionTable:
    """Rows streamed into one Parquet (row groups of ``row_group`` rows, zstd) or JSON Lines
    file at ``path`` (a temporary file; denseface.infer.batch renames it at the end). ``done``: image -> faces
    of the rows kept from an earlier table (:meth:`copy_from`)."""

    def __init__(self, path: Path, kind: str, row_group: int = 256):
        self.path, self.kind, self.row_group = Path(path), kind, row_group
        self.rows = 0
        self.done: dict[str, int] = {}
        self._pending: list[dict] = []
        if kind == "parquet":
            pq = require_pyarrow()
            self._schema = table_schema()
            self._writer = pq.ParquetWriter(str(self.path), self._schema, compression="zstd")
        else:
            self._file = open(self.path, "wb")

    def add(self, record: dict) -> None:
        self._add({**record, "error": None})

    def add_error(self, image: str, message: str) -> None:
        self._add(error_row(image, message))

    def _add(self, row: dict) -> None:
        self.rows += 1
        if self.kind == "jsonl":
            self._file.write(json_bytes(row))
            return
        self._pending.append(row)
        if len(self._pending) >= self.row_group:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if self._pending:
            self._writer.write_batch(pa.RecordBatch.from_pylist(self._pending, schema=self._schema))
            self._pending = []

    def copy_from(self, old: Path, keep) -> None:
        """Copy the rows of an earlier table at ``old`` without an error for which
        ``keep(image, faces)`` is true, streaming; their images go to ``done``."""
        try:
            if self.kind == "jsonl":
                self._copy_jsonl(old, keep)
            else:
                self._copy_parquet(old, keep)
        except OSError as e:
            raise OutputError(f"cannot read the existing table ({e.strerror or e})", path=old) from None

    def _copy_jsonl(self, old: Path, keep) -> None:
        with open(old, "rb") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    image, faces = row["image"], len(row.get("faces") or ())
                except (ValueError, KeyError, TypeError):
                    raise OutputError(f"line {n} of the existing table is not a prediction row "
                                      "(move the file away to start afresh)", path=old) from None
                if row.get("error") is None and keep(image, faces):
                    self.done[image] = faces
                    self._file.write(line if line.endswith(b"\n") else line + b"\n")
                    self.rows += 1

    def _copy_parquet(self, old: Path, keep) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(str(old))
            if not pf.schema_arrow.equals(self._schema):
                raise OutputError("the existing table has another schema (move it away to start "
                                  "afresh)", path=old)
            for batch in pf.iter_batches(batch_size=self.row_group):
                images = batch.column("image").to_pylist()
                faces = pc.fill_null(pc.list_value_length(batch.column("faces")), 0).to_pylist()
                ok = pc.is_null(batch.column("error")).to_pylist()
                mask = [bool(o and keep(i, n)) for i, n, o in zip(images, faces, ok)]
                if not any(mask):
                    continue
                self._flush()
                kept = batch.filter(pa.array(mask))
                self._writer.write_batch(kept)
                self.rows += kept.num_rows
                self.done.update((i, n) for i, n, m in zip(images, faces, mask) if m)
        except (pa.ArrowException, ValueError) as e:
            raise OutputError(f"cannot read the existing table ({first_line(e)})", path=old) from None

    def close(self) -> None:
        if self.kind == "jsonl":
            self._file.close()
        else:
            self._flush()
            self._writer.close()
