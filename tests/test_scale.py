"""Many images: the process pool (--workers), --skip-existing, the prediction tables, the batched
API (predict_many) and the Ray Data predictor, on real photos with the shipped model.

Tests that need ../shared (the photos) or Ray skip with a reason when they are absent."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import need_modules, need_shared
from denseface.cli.main import main
from denseface.errors import EXIT_OK, EXIT_PARTIAL, DenseFaceError

N_AFLW, N_SAMPLES = 6, 2     # 8 real photos for the pool tests


def _shipped_model():
    from denseface.models.registry import resolve_model_path

    try:
        return resolve_model_path(None)
    except DenseFaceError as e:
        pytest.skip(f"the shipped model is missing ({e}): test skipped")


def real_photos(n_aflw: int, n_samples: int) -> list[Path]:
    """The first AFLW2000-3D photos and photos of face_landmark_samples (sorted)."""
    aflw = sorted(need_shared("data", "aflw2000_3d").glob("*.jpg"))[:n_aflw]
    root = need_shared("data", "face_landmark_samples")
    samples = sorted(p for p in root.rglob("*") if p.suffix.lower() in (".jpg", ".png"))[:n_samples]
    return aflw + samples


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory) -> Path:
    """8 real photos (two in a sub-folder with a stem already used: names get _2), a corrupt
    file and a 0-byte file."""
    _shipped_model()
    src = tmp_path_factory.mktemp("photos")
    photos = real_photos(N_AFLW, N_SAMPLES)
    for p in photos[:-2]:
        shutil.copy(p, src / p.name)
    (src / "z").mkdir()
    for p, name in zip(photos[-2:], (photos[0].name, photos[1].name)):
        shutil.copy(p, src / "z" / name)          # same stems as the first two: x_2.json
    (src / "corrupt.jpg").write_bytes(photos[0].read_bytes()[:400])
    (src / "empty.png").write_bytes(b"")
    return src


@pytest.fixture(scope="module")
def one_process(photo_dir, tmp_path_factory):
    """The 1-process run's outputs and stderr (the reference)."""
    out = tmp_path_factory.mktemp("w1")
    rc, err = _run_cli([str(photo_dir), "--out", str(out), "--format", "json,npy", "--quiet"])
    return out, rc, err


def _run_cli(argv) -> tuple[int, str]:
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stderr(buf):
        rc = main(["predict", *argv])
    return rc, buf.getvalue()


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


# ------------------------------------------------------------------------------ --workers
def test_workers_give_the_same_files_errors_and_summary(photo_dir, one_process, tmp_path):
    out1, rc1, err1 = one_process
    out2 = tmp_path / "w2"
    rc2, err2 = _run_cli([str(photo_dir), "--out", str(out2), "--format", "json,npy", "--quiet",
                          "--workers", "2"])
    assert rc1 == rc2 == EXIT_PARTIAL
    a, b = _files(out1), _files(out2)
    assert sorted(a) == sorted(b)                       # the same names ...
    assert all(a[k] == b[k] for k in a)                 # ... and byte-identical content
    stems = sorted(k[:-5] for k in a if k.endswith(".json"))
    assert len(stems) == N_AFLW + N_SAMPLES and sum(s.endswith("_2") for s in stems) == 2
    # a failed input still reserves its stem: names depend on the input list only
    assert "corrupt.json" not in a and "empty.json" not in a
    assert "in 2 worker processes" in err2              # the summary says how the images ran
    assert err1 == err2.replace(" in 2 worker processes", "")   # else line for line, in order
    lines = err2.splitlines()
    assert sum(ln.startswith("denseface: ") for ln in lines) == 2
    assert any("corrupt.jpg: not a readable image" in ln for ln in lines)
    assert any("empty.png: empty file (0 bytes)" in ln for ln in lines)
    assert f"{N_AFLW + N_SAMPLES + 2} input(s): {N_AFLW + N_SAMPLES} done, 2 failed" in err2


def test_pool_isolates_a_worker_that_dies(photo_dir, tmp_path):
    """A worker killed while predicting one image fails that image only; the images it had in
    flight are run again one at a time in a fresh pool."""
    from denseface.infer.api import ModelSpec
    from denseface.infer.jobs import BatchOptions, Item
    from denseface.infer.pool import pool_outcomes

    photos = sorted(photo_dir.glob("image*.jpg"))[:3]
    items = [Item(i, p, "image", p.stem) for i, p in enumerate(photos)]
    items.insert(1, Item(9, photo_dir / "die.jpg", "image", "die"))
    options = BatchOptions(out_dir=tmp_path, workers=2)
    seen = []
    outs = list(pool_outcomes(items, ModelSpec(), options, tmp_path, seen.append, task=_die_on))
    assert [o.index for o in outs] == [it.index for it in items] and sum(seen) == len(items)
    assert [o.error is None for o in outs] == [True, False, True, True]
    assert "worker process died" in str(outs[1].error)
    assert sorted(p.name for p in tmp_path.glob("*.json")) == sorted(p.stem + ".json" for p in photos)
    assert all(o.peak_rss and o.peak_rss > 10e6 for o in outs if o.error is None)


def test_pool_stops_when_workers_keep_dying(photo_dir, tmp_path):
    """Workers that die before any result (3 pools in a row) stop the batch with one line,
    instead of trying every image alone."""
    from denseface.infer.api import ModelSpec
    from denseface.infer.jobs import BatchOptions, Item
    from denseface.infer.pool import WorkerStartError, pool_outcomes

    items = [Item(i, p, "image", p.stem) for i, p in enumerate(sorted(photo_dir.glob("*.jpg")))]
    with pytest.raises(WorkerStartError, match="die before finishing any image"):
        list(pool_outcomes(items, ModelSpec(), BatchOptions(out_dir=tmp_path, workers=2),
                            tmp_path, lambda n: None, task=_die_always))


def _die_always(items):
    os._exit(1)


def _die_on(items):
    """Pool task for the test above: the worker process dies on 'die.jpg'."""
    from denseface.infer.pool import run_task

    if any(it.path.name == "die.jpg" for it in items):
        os._exit(1)
    return run_task(items)


def test_workers_need_a_spec(tmp_path):
    from denseface.errors import ConfigError
    from denseface.infer.batch import BatchOptions, run_batch

    with pytest.raises(ConfigError, match="ModelSpec"):
        run_batch(None, [tmp_path], BatchOptions(out_dir=tmp_path, workers=2))
    with pytest.raises(SystemExit) as e:                # argparse: one line, the usage code
        main(["predict", str(tmp_path), "--workers", "0"])
    assert e.value.code == 2
    assert main(["predict", str(tmp_path), "--table", "jsonl", "--format", "npy"]) == 2


# ------------------------------------------------------------------------------ --skip-existing
def test_skip_existing_skips_and_redoes_what_is_missing(tmp_path):
    _shipped_model()
    photos = real_photos(3, 0)
    out = tmp_path / "out"
    args = [*map(str, photos), "--out", str(out), "--draw", "--quiet"]
    assert _run_cli(args)[0] == EXIT_OK
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    (out / f"{photos[1].stem}.json").unlink()           # a run killed before this output
    (out / f"{photos[2].stem}_draw.jpg").unlink()       # ... or before this drawing
    rc, err = _run_cli([*args, "--skip-existing", "--workers", "2"])
    assert rc == EXIT_OK
    assert "3 input(s): 2 done, 0 failed, 1 skipped, already done" in err
    after = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert sorted(after) == sorted(before)
    assert after[f"{photos[0].stem}.json"] == before[f"{photos[0].stem}.json"]   # not redone
    rc, err = _run_cli([*args, "--skip-existing"])
    assert rc == EXIT_OK and "0 done, 0 failed, 3 skipped, already done" in err
    # another requested output (npy) is missing everywhere: all are done again
    rc, err = _run_cli([*args, "--skip-existing", "--format", "json,npy"])
    assert rc == EXIT_OK and "3 input(s): 3 done, 0 failed" in err and "skipped" not in err


# ------------------------------------------------------------------------------ --table
def _table_rows(path: Path) -> list[dict]:
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines()]
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


@pytest.mark.parametrize("kind", ["parquet", "jsonl"])
def test_table_rows_equal_the_json_files(photo_dir, one_process, tmp_path, kind):
    if kind == "parquet":
        need_modules("pyarrow")
    from denseface.infer.tables import table_schema

    out1 = one_process[0]
    out = tmp_path / kind
    rc, err = _run_cli([str(photo_dir), "--out", str(out), "--quiet", "--workers", "2",
                        "--table", kind])
    assert rc == EXIT_PARTIAL
    table = out / f"predictions.{kind}"
    assert sorted(p.name for p in out.iterdir()) == [table.name]    # no per-image files, no temp
    if kind == "parquet":
        import pyarrow.parquet as pq

        assert pq.read_schema(table).equals(table_schema())
    rows = _table_rows(table)
    assert len(rows) == N_AFLW + N_SAMPLES + 2
    json_docs = {json.loads(p.read_text())["image"]: json.loads(p.read_text())
                 for p in out1.glob("*.json")}
    errors = {}
    for row in rows:
        if row["error"] is None:
            doc = json_docs.pop(row["image"])
            assert {k: v for k, v in row.items() if k != "error"} == doc     # exactly the JSON
        else:
            assert row["width"] is None and row["faces"] is None
            errors[Path(row["image"]).name] = row["error"]
    assert not json_docs                                 # every JSON file has its row
    assert sorted(errors) == ["corrupt.jpg", "empty.png"]
    assert errors["empty.png"].endswith("empty.png: empty file (0 bytes)")
    # rows in input order (the folder is walked sorted)
    from denseface.infer.sources import collect_inputs

    assert [r["image"] for r in rows] == [str(p) for p, _ in collect_inputs([photo_dir])[0]]

    # rerun with --skip-existing and one more photo: the old rows are copied, not predicted
    # again (a marker in an old row survives), the failed ones are tried again (one row each)
    first = next(r for r in rows if r["faces"])
    marked = first["image"]
    first["faces"][0]["score"] = -123.0
    _write_table(table, rows, kind)
    extra = tmp_path / "extra"
    extra.mkdir()
    new = real_photos(N_AFLW + 1, 0)[-1]
    shutil.copy(new, extra / new.name)
    rc, err = _run_cli([str(photo_dir), str(extra), "--out", str(out), "--quiet", "--table", kind,
                        "--skip-existing", "--workers", "2"])
    assert rc == EXIT_PARTIAL
    assert f"1 done, 2 failed (each named above), {N_AFLW + N_SAMPLES} skipped, already done" in err
    rows2 = _table_rows(table)
    assert len(rows2) == N_AFLW + N_SAMPLES + 3
    by_image = {r["image"]: r for r in rows2}
    assert len(by_image) == len(rows2)                   # no image twice
    assert by_image[marked]["faces"][0]["score"] == -123.0
    assert by_image[str(extra / new.name)]["error"] is None
    assert sorted(p.name for p in out.iterdir()) == [table.name]


def _write_table(path: Path, rows: list[dict], kind: str) -> None:
    if kind == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    from denseface.infer.tables import table_schema

    pq.write_table(pa.Table.from_pylist(rows, schema=table_schema()), path)


# ------------------------------------------------------------------------------ predict_many
def test_predict_many_equals_predict(tmp_path):
    from denseface.infer.api import DenseFace

    _shipped_model()
    photos = real_photos(3, 2)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(photos[0].read_bytes()[:300])
    items = [photos[0], photos[1], bad, photos[2], photos[3], photos[4]]
    model = DenseFace(threads=1)
    single = [model.predict(p) for p in photos]
    got = list(model.predict_many(items, batch_size=2, errors="yield"))
    assert len(got) == len(items) and isinstance(got[2], DenseFaceError)
    assert "bad.jpg" in str(got[2])
    got = got[:2] + got[3:]
    assert [len(f) for f in got] == [len(f) for f in single] and sum(map(len, single)) >= 5
    for faces, ref in zip(got, single):
        for f, r in zip(faces, ref):
            np.testing.assert_allclose(f.landmarks, r.landmarks, atol=1e-6, rtol=0)
            np.testing.assert_allclose(f.box, r.box, atol=1e-6, rtol=0)
            assert abs(f.pose.yaw - r.pose.yaw) < 1e-6
    with pytest.raises(DenseFaceError, match="bad.jpg"):
        list(model.predict_many(items, batch_size=2))


# ------------------------------------------------------------------------------ Ray Data
@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_ray_data_equals_the_cli(tmp_path):
    """20 real photos and a corrupt file through a local Ray instance (2 CPUs): the rows equal
    the CLI's per-image JSON to 1e-4 px; the corrupt file is a row with its error."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[ray]'): test skipped")
    pytest.importorskip("ray.data", reason="Ray Data is not installed: test skipped")
    from denseface.infer.ray_data import DenseFaceBatchPredictor

    _shipped_model()
    photos = real_photos(14, 6)
    assert len(photos) == 20
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(photos[0].read_bytes()[:300])
    out = tmp_path / "cli"
    assert _run_cli([*map(str, photos), "--out", str(out), "--quiet"])[0] == EXIT_OK
    cli = {}
    for p in out.glob("*.json"):
        doc = json.loads(p.read_text())
        cli[doc["image"]] = doc

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        # the recipe of docs/scale.md: the files' bytes, decoded by the actors like the CLI
        # (the read tasks need a little CPU beside the actors, or a 2-CPU instance stalls)
        ds = ray.data.read_binary_files([str(p) for p in [*photos, bad]], include_paths=True,
                                        ray_remote_args={"num_cpus": 0.25})
        rows = ds.map_batches(DenseFaceBatchPredictor, fn_constructor_kwargs={"threads": 1},
                              compute=ray.data.ActorPoolStrategy(size=2), num_cpus=0.75,
                              batch_size=4).take_all()
        # a table of paths: the actors read the files themselves
        few = [{"path": str(p)} for p in photos[:3]]
        rows_paths = ray.data.from_items(few).map_batches(
            DenseFaceBatchPredictor, compute=ray.data.ActorPoolStrategy(size=1),
            batch_size=2).take_all()
    finally:
        ray.shutdown()

    assert len(rows) == 21
    by_image = {r["image"]: r for r in rows}
    assert by_image.pop(str(bad))["error"].endswith("not a readable image: truncated JPEG: the file "
                                                    "ends at byte 300 without the JPEG end marker")
    assert sorted(by_image) == sorted(cli)
    assert sum(_assert_like_cli(row, cli[image]) for image, row in by_image.items()) >= 20
    assert sorted(r["image"] for r in rows_paths) == sorted(d["path"] for d in few)   # Ray keeps no order
    for row in rows_paths:
        _assert_like_cli(row, cli[row["image"]])


def _assert_like_cli(row: dict, doc: dict) -> int:
    """A Ray row equals the CLI's JSON document to 1e-4 px; returns its number of faces."""
    assert row["error"] is None and (row["width"], row["height"]) == (doc["width"], doc["height"])
    assert len(row["faces"]) == len(doc["faces"])
    for f, g in zip(row["faces"], doc["faces"]):
        for key in ("landmarks", "landmarks68", "box"):
            np.testing.assert_allclose(np.array(f[key], float), np.array(g[key], float),
                                       atol=1e-4, rtol=0)
        assert abs(f["score"] - g["score"]) < 1e-4
        assert all(abs(f["pose"][k] - g["pose"][k]) < 1e-3 for k in ("yaw", "pitch", "roll"))
    return len(row["faces"])


def test_ray_missing_gives_the_install_line(monkeypatch):
    import builtins

    from denseface.errors import ConfigError
    from denseface.infer import ray_data

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError(f"No module named '{name}'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(ConfigError, match=r"pip install -e '\.\[ray\]'"):
        ray_data.require_ray()
