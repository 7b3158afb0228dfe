"""As a new user meets it (round three): torch-free tests, the data a user can get, options that
would do nothing, honest docs, playable videos, worker counts, messages, killed runs and small
things. Uses the shipped model and tiny ONNX models (no torch); data tests skip without ../shared."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import need_shared
from denseface.cli.main import main
from denseface.errors import EXIT_USAGE, DenseFaceError

ROOT = Path(__file__).resolve().parents[1]
ASTRONAUT = ROOT / "examples" / "astronaut.jpg"


def _one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    return lines[0]


# ------------------------------------------------------------------ generated doc sections
def _markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def test_every_generated_doc_section_is_one_start_and_one_end():
    """A stale block left beside the current one (docs/web.md had two bench_web blocks) fails."""
    from denseface.eval.report import doc_section_problem

    problems = []
    for doc in _markdown_files():
        body = doc.read_text()
        for name in sorted(set(re.findall(r"<!-- ([\w.-]+):(?:start|end|begin) -->", body))):
            problem = doc_section_problem(body, name)
            if problem:
                problems.append(f"{doc.relative_to(ROOT)}: {problem}")
    assert not problems, problems


def test_a_generated_section_is_replaced_and_a_stale_one_refused(tmp_path):
    from denseface.eval.report import write_doc_section

    doc = tmp_path / "doc.md"
    doc.write_text("# t\n\ntext\n")
    write_doc_section(doc, "fig", "one")
    write_doc_section(doc, "fig", "two")
    assert doc.read_text() == "# t\n\ntext\n\n<!-- fig:start -->\ntwo\n<!-- fig:end -->\n"
    stale = doc.read_text() + "\n<!-- fig:begin -->\nold\n<!-- fig:end -->\n"
    doc.write_text(stale)
    with pytest.raises(DenseFaceError, match="fig:begin"):
        write_doc_section(doc, "fig", "three")
    assert doc.read_text() == stale           # nothing written


# ------------------------------------------------------------------ messages
@pytest.mark.parametrize("content, said", [
    (b"hello, this is a note\n", "not an image (a text file: starts with 'hello, this is a note\\n')"),
    (bytes(range(32)), "not an image (unknown content: starts with 00 01 02 03 04 05 06 07)"),
    ("half", "truncated JPEG: the file ends at byte 30684 without the JPEG end marker"),
    ("tga", "unsupported format TGA"),
])
def test_an_unreadable_file_says_what_was_found(tmp_path, content, said):
    from PIL import Image

    from denseface.io.images import read_image

    path = tmp_path / "photo.jpg"
    if content == "half":
        data = ASTRONAUT.read_bytes()
        content = data[:len(data) // 2]
    elif content == "tga":
        Image.new("RGB", (8, 8)).save(tmp_path / "x.tga")
        content = (tmp_path / "x.tga").read_bytes()
    path.write_bytes(content)
    with pytest.raises(DenseFaceError) as e:
        read_image(path)
    assert str(e.value).startswith(f"{path}: not a readable image: {said}")


def test_a_failure_is_printed_once_and_every_error_has_one_prefix(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "note.jpg").write_text("a text file renamed .jpg\n")
    (tmp_path / "in" / "a.jpg").write_bytes(ASTRONAUT.read_bytes())
    assert main(["predict", str(tmp_path / "in"), "--out", str(tmp_path / "o"), "--quiet"]) == 5
    err = capsys.readouterr().err
    assert err.count("note.jpg") == 1, err
    assert "1 failed (each named above)" in err
    # a usage error argparse finds and one the command finds start alike
    assert main(["predict", str(ASTRONAUT), "--out", str(tmp_path / "o"), "--format", "xml"]) == EXIT_USAGE
    xml = _one_error_line(capsys.readouterr().err)
    assert xml.startswith("denseface: error: ") and "unknown output format 'xml'" in xml and "[" not in xml
    with pytest.raises(SystemExit) as e:
        main(["predict", str(ASTRONAUT), "--passes", "3"])
    assert e.value.code == EXIT_USAGE
    assert _one_error_line(capsys.readouterr().err).startswith("denseface: error: argument --passes")


# ------------------------------------------------------------------ options that would do nothing
@pytest.mark.parametrize("argv, said", [
    (["--model", "dense520_mbv2_100", "--draw", "--draw-parts", "68_300w"],
     "the model 'dense520_mbv2_100' has no human-convention 68-point output"),
    (["--draw-parts", "68"], "--draw-parts only changes what --draw draws: add --draw"),
    (["--box", "150,60,330,290", "--detector", "haar"], "--box skips face detection, so --detector"),
    (["--box", "150,60,330,290", "--detector-threshold", "0.9"], "--detector-threshold would do nothing"),
])
def test_an_option_that_would_do_nothing_is_a_usage_error(tmp_path, capsys, argv, said):
    out = tmp_path / "o"
    assert main(["predict", str(ASTRONAUT), "--out", str(out), "--quiet", *argv]) == EXIT_USAGE
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith("denseface: error: ") and said in line
    assert not out.exists() or not any(out.iterdir())


def test_the_human_68_are_drawn_by_a_model_that_has_them(tmp_path):
    assert main(["predict", str(ASTRONAUT), "--out", str(tmp_path), "--quiet", "--draw",
                 "--draw-parts", "68_300w"]) == 0
    assert (tmp_path / "astronaut_draw.jpg").stat().st_size > 10_000


# ------------------------------------------------------------------ a killed run
def _descendants(pid: int) -> set[int]:
    """Every living process below ``pid`` (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.add(c)
            todo.append(c)
    return out


def _alive(pids: set[int]) -> set[int]:
    """The pids that still run (zombies count as gone)."""
    left = set()
    for p in pids:
        try:
            state = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            left.add(p)
    return left


def _kill_when_started(cmd: list[str], min_children: int, timeout: float = 120.0) -> tuple[set[int], float]:
    """Start ``cmd``, wait until it has ``min_children`` processes below it, kill -9 it; return
    those processes and how long (s) they took to end (inf: still there after 15 s)."""
    import os
    import signal
    import time

    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        t0 = time.monotonic()
        while len(_descendants(proc.pid)) < min_children:
            assert proc.poll() is None, "the run ended before its workers started"
            assert time.monotonic() - t0 < timeout, "the workers did not start"
            time.sleep(0.2)
        tree = _descendants(proc.pid)
        time.sleep(1.0)                       # the workers load their models, take images
        assert proc.poll() is None, "the run ended before it was killed"
        tree |= _descendants(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        t_kill = time.monotonic()
        while _alive(tree) and time.monotonic() - t_kill < 15:
            time.sleep(0.1)
        return tree, (time.monotonic() - t_kill) if not _alive(tree) else float("inf")
    finally:
        for p in _alive(_descendants(proc.pid)):
            os.kill(p, signal.SIGKILL)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux)")
def test_kill_9_of_a_run_leaves_no_worker_behind(tmp_path):
    """`denseface predict FOLDER --workers 2`, then kill -9: its pool workers and the resource
    tracker end within a few seconds (they used to stay, re-parented, for good)."""
    src = tmp_path / "in"
    src.mkdir()
    data = ASTRONAUT.read_bytes()
    for k in range(1000):                      # seconds of work: the run is still going when killed
        (src / f"p{k:04d}.jpg").write_bytes(data)
    cmd = [sys.executable, "-m", "denseface", "predict", str(src), "--out", str(tmp_path / "o"),
           "--workers", "2", "--quiet"]
    tree, took = _kill_when_started(cmd, min_children=3)
    assert len(tree) >= 3, tree                # two workers and the resource tracker
    assert took < 5.0, f"processes of the killed run still there: {_alive(tree)}"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux)")
def test_kill_9_during_a_video_leaves_nothing_behind(tmp_path):
    """A video is tracked in the main process (its decoder's threads are threads): killed in the
    middle, it leaves no process, whatever --workers says."""
    import cv2
    import numpy as np

    from tests.synthetic import write_test_video

    face = cv2.cvtColor(cv2.resize(cv2.imread(str(ASTRONAUT)), (320, 240)), cv2.COLOR_BGR2RGB)
    video = write_test_video(tmp_path / "clip.mp4", np.stack([np.roll(face, i, 1) for i in range(600)]))
    cmd = [sys.executable, "-m", "denseface", "predict", str(video), "--out", str(tmp_path / "o"),
           "--workers", "2", "--draw", "--quiet"]
    tree, took = _kill_when_started(cmd, min_children=0)
    assert took < 5.0, f"processes of the killed run still there: {_alive(tree)}"


RAY_DRIVER = """
import sys
import ray
from denseface.infer.ray_data import DenseFaceBatchPredictor
ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
ds = ray.data.from_items([{"path": sys.argv[1]}] * 2000)
rows = ds.map_batches(DenseFaceBatchPredictor, fn_constructor_kwargs={"model": None}, concurrency=2,
                      batch_size=4, num_cpus=0.5)
print(len(rows.take_all()))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux)")
def test_kill_9_of_a_ray_driver_ends_its_denseface_actors(tmp_path):
    """Under Ray (a local instance started by the driver), kill -9 of the driver ends the
    DenseFace actors and Ray's raylet and object store within a few seconds (Ray's fate sharing).
    Ray's own DashboardAgent and RuntimeEnvAgent notice later (about a minute; docs/scale.md);
    they are ended here."""
    import os
    import signal
    import time

    pytest.importorskip("ray.data", reason="Ray Data is not installed (pip install -e '.[ray]'): test skipped")
    driver = tmp_path / "driver.py"
    driver.write_text(RAY_DRIVER)
    proc = subprocess.Popen([sys.executable, str(driver), str(ASTRONAUT)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)

    def names() -> dict[int, str]:
        out = {}
        for p in _descendants(proc.pid):
            try:
                out[p] = Path(f"/proc/{p}/cmdline").read_text().replace("\0", " ")
            except OSError:
                pass
        return out

    tree: dict[int, str] = {}
    try:
        t0 = time.monotonic()
        while sum("DenseFaceBatchPredictor" in n for n in names().values()) < 2:
            assert proc.poll() is None and time.monotonic() - t0 < 180, "the actors did not start"
            time.sleep(0.5)
        time.sleep(2.0)
        tree = names()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        ours = {p for p, n in tree.items() if "Agent" not in n}
        t_kill = time.monotonic()
        while _alive(ours) and time.monotonic() - t_kill < 10:
            time.sleep(0.2)
        assert not _alive(ours), [tree[p][:80] for p in _alive(ours)]
    finally:
        for p in _alive(set(tree) | _descendants(proc.pid)):
            os.kill(p, signal.SIGKILL)


# ------------------------------------------------------------------ tests without torch
BROKEN_TORCHVISION = '''
import sys

class BrokenTorchvision:      # a torch/torchvision mismatch: importing torchvision raises
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "torchvision":
            raise RuntimeError("operator torchvision::nms does not exist")

sys.meta_path.insert(0, BrokenTorchvision())
import pytest
sys.exit(pytest.main(sys.argv[1:]))
'''


def test_inference_tests_pass_with_a_broken_torch_and_torch_tests_skip_with_the_reason(tmp_path):
    """The ONNX tests (tiny models built without torch) run; the torch tests skip naming the
    problem (the README's light test command relies on this; CI also runs the full one)."""
    res = subprocess.run([sys.executable, "-c", BROKEN_TORCHVISION, "-q", "-p", "no:cacheprovider",
                          "-rs", "tests/test_export.py", "tests/test_bad_input.py",
                          "-k", "not ray", "--basetemp", str(tmp_path / "t")],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:]
    summary = res.stdout.strip().splitlines()[-1]
    passed = int(re.search(r"(\d+) passed", summary).group(1))
    assert passed >= 4 and "failed" not in summary and "error" not in summary, summary
    import importlib.util

    said = ("torchvision is not usable here (RuntimeError: operator torchvision::nms does not exist)"
            if importlib.util.find_spec("torch") else "torch is not usable here (ModuleNotFoundError")
    assert said in res.stdout


# ------------------------------------------------------------------ the data folder
def test_data_check_names_what_is_missing_and_what_each_part_enables(tmp_path, capsys):
    from denseface.cli.data_check import PARTS

    (tmp_path / "data").mkdir()
    assert main(["data", "check", str(tmp_path)]) == 3
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(PARTS) and all("MISSING" in ln and "enables: " in ln for ln in out)
    assert any(ln.startswith("data/aflw2000_3d: MISSING image00002.jpg") and "eval aflw2000" in ln for ln in out)


def test_data_check_matches_the_recorded_sums_and_finds_a_changed_file(tmp_path, capsys):
    import shutil

    for part in ("data/paper_520", "models/3ddfa_v2_mb05"):
        shutil.copytree(need_shared(*part.split("/")), tmp_path / part)
    assert main(["data", "check", str(tmp_path)]) == 3
    out = {ln.split(":")[0]: ln for ln in capsys.readouterr().out.splitlines()}
    assert "present, sums match" in out["data/paper_520"] and "present, sums match" in out["models/3ddfa_v2_mb05"]
    assert "MISSING" in out["data/aflw2000_3d"]
    with open(tmp_path / "data" / "paper_520" / "face_ind.txt", "a") as f:
        f.write("\n")
    main(["data", "check", str(tmp_path)])
    out = {ln.split(":")[0]: ln for ln in capsys.readouterr().out.splitlines()}
    assert "present, sums differ" in out["data/paper_520"] and "sums match" in out["models/3ddfa_v2_mb05"]


def test_data_docs_list_every_part_with_its_sum():
    from denseface.cli.data_check import PARTS, recorded_sums

    doc = (ROOT / "docs" / "data.md").read_text()
    sums = recorded_sums()
    assert {p.path for p in PARTS} == set(sums)
    for part in PARTS:
        assert f"| `{part.path}` |" in doc and sums[part.path]["sha256"] in doc
    assert "docs/data.md" in (ROOT / "README.md").read_text()


# ------------------------------------------------------------------ the mirror: what is exact
def test_points_mirror_by_w_minus_1_and_boxes_by_w():
    """A dot's pixel centre mirrors onto the mirrored dot (x -> W - 1 - x); the crop of a box
    and the crop of the mirrored box (x -> W - x) of the mirrored image are pixel mirrors."""
    import numpy as np

    from denseface.geometry.boxes import mirror_box, mirror_points
    from denseface.geometry.crop import crop_image

    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (60, 81, 3), dtype=np.uint8)
    img[20, 30] = 255
    W = img.shape[1]
    mirror = np.ascontiguousarray(img[:, ::-1])
    (x, y), = mirror_points(np.array([[30.0, 20.0]]), W)
    assert (mirror[int(y), int(x)] == 255).all() and (x, y) == (W - 1 - 30, 20)
    box = np.array([10.0, 12.0, 42.0, 44.0])          # a 32 px crop at 32 px: whole pixels
    a, _ = crop_image(img, box, 32)
    b, _ = crop_image(mirror, mirror_box(box, W), 32)
    np.testing.assert_array_equal(a, b[:, ::-1])


def test_predict_docs_quote_the_measured_mirror_figures():
    """The figures under the mirror claim are bench_mirror.py's, and the old claim that a
    mirrored photo gives exactly mirrored points at the defaults is gone."""
    import json

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_mirror import render

    doc = (ROOT / "docs" / "predict.md").read_text()
    result = json.loads((ROOT / "benchmarks" / "results" / "mirror.json").read_text())
    assert render(result) in doc
    assert "a mirrored photo gives exactly mirrored points" not in doc
    rows = {(r["passes"], r["tta"], r["boxes"]): r for r in result["rows"]}
    assert rows[(1, "flip", "given, mirrored")]["mean_px"] < 0.05 < rows[(2, "flip", "given, mirrored")]["mean_px"]
    assert "x -> W - 1 - x" in doc and "x -> W - x" in doc


# ------------------------------------------------------------------ a video a browser plays
def _chromium_plays(video: Path) -> str:
    """What headless Chromium makes of ``video`` in a <video> element: "played WxH" or "error N"."""
    import shutil

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no chromium (apt-get install chromium): browser check skipped")
    page = video.with_name("play.html")
    page.write_text(f'''<html><head><title>pending</title></head><body>
<video id="v" muted src="{video.name}"></video><script>
const v = document.getElementById("v");
v.addEventListener("loadeddata", () => {{ document.title = "played " + v.videoWidth + "x" + v.videoHeight; }});
v.addEventListener("error", () => {{ document.title = "error " + (v.error && v.error.code); }});
</script></body></html>''')
    res = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
                          "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    m = re.search(r"<title>([^<]*)</title>", res.stdout)
    return m.group(1) if m else f"no page ({res.returncode})"


def test_the_drawn_video_plays_in_a_browser_and_the_summary_names_its_codec(tmp_path, small_models, capsys):
    import cv2
    import numpy as np

    from tests.synthetic import write_test_video

    face = cv2.cvtColor(cv2.resize(cv2.imread(str(ASTRONAUT)), (320, 240)), cv2.COLOR_BGR2RGB)
    video = write_test_video(tmp_path / "clip.mp4", np.stack([np.roll(face, 2 * i, 1) for i in range(6)]))
    out = tmp_path / "out"
    assert main(["predict", str(video), "--out", str(out), "--draw", "--quiet",
                 "--model", str(small_models.mean_onnx)]) == 0
    assert "drawn as VP8 in WebM" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["clip.jsonl", "clip_draw.webm"]
    assert _chromium_plays(out / "clip_draw.webm") == "played 320x240"
    # --skip-existing finds the drawing under its new name
    assert main(["predict", str(video), "--out", str(out), "--draw", "--quiet", "--skip-existing",
                 "--model", str(small_models.mean_onnx)]) == 0
    assert "1 skipped, already done" in capsys.readouterr().err


# ------------------------------------------------------------------ how many workers
def test_auto_workers_follow_the_image_count_and_the_free_cores():
    from denseface.infer.jobs import IMAGES_PER_WORKER, auto_workers

    assert auto_workers(40, cpus=2, load=1.0) == 1          # the case: 40 images, busy
    assert auto_workers(40, cpus=16, load=0.0) == 1         # too few images for a second process
    assert auto_workers(1000, cpus=2, load=0.1) == 2
    assert auto_workers(1000, cpus=2, load=1.8) == 1        # one core is taken
    assert auto_workers(100 * IMAGES_PER_WORKER, cpus=8, load=3.2) == 5
    assert auto_workers(0, cpus=8, load=0.0) == 1


def test_workers_auto_is_the_default_and_a_small_batch_stays_in_one_process(tmp_path, small_models, capsys):
    from denseface.cli.main import build_parser

    assert build_parser(["predict"]).parse_args(["predict", "x.jpg"]).workers == "auto"
    src = tmp_path / "in"
    src.mkdir()
    for k in range(3):
        (src / f"p{k}.jpg").write_bytes(ASTRONAUT.read_bytes())
    assert main(["predict", str(src), "--out", str(tmp_path / "o"), "--quiet", "--box", "150,60,330,290",
                 "--model", str(small_models.mean_onnx)]) == 0
    assert "worker processes" not in capsys.readouterr().err
    assert main(["predict", str(src), "--out", str(tmp_path / "o2"), "--quiet", "--workers", "2",
                 "--box", "150,60,330,290", "--model", str(small_models.mean_onnx)]) == 0
    assert "3 image(s), 3 face(s) in 2 worker processes" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["predict", str(src), "--workers", "many"])
    assert "expected a whole number >= 1 or auto, got 'many'" in capsys.readouterr().err


# ------------------------------------------------------------------ small things
def test_the_68_points_read_over_the_520_and_the_axes_on_the_first_picture(tmp_path):
    """The README's first picture: every one of the 68 points shows its red at its centre (drawn
    last, larger, ringed), and the 520 stay small enough to leave the face visible between them."""
    import json

    import cv2
    import numpy as np

    assert main(["predict", str(ASTRONAUT), "--out", str(tmp_path), "--draw", "--quiet"]) == 0
    drawn = cv2.cvtColor(cv2.imread(str(tmp_path / "astronaut_draw.jpg")), cv2.COLOR_BGR2RGB).astype(int)
    face = json.loads((tmp_path / "astronaut.json").read_text())["faces"][0]
    p68 = np.round(np.array(face["landmarks68"])[:, :2]).astype(int)
    r, g, b = drawn[p68[:, 1], p68[:, 0]].T
    red = (r > 150) & (g < 120) & (b < 120)
    seen = np.array(face["visibility68"], bool)      # points hidden by the face itself are drawn faded
    assert red[seen].all(), f"{(~red[seen]).sum()} of the {seen.sum()} visible 68 points are covered"
    assert (r[~seen] > g[~seen]).all(), "a hidden point lost its red tint"
    x0, y0, x1, y1 = np.round(face["box"]).astype(int)
    white = (drawn[y0:y1, x0:x1] > 220).all(-1).mean()
    assert white < 0.2, f"{white:.0%} of the face box is white dots"


def test_out_dash_is_refused_in_one_line_and_creates_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["predict", str(ASTRONAUT), "--out", "-", "--quiet"]) == EXIT_USAGE
    assert "not to standard output" in _one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "-").exists()


def test_the_readme_export_folder_is_ignored_by_git():
    res = subprocess.run(["git", "check-ignore", "-q", "site/index.html"], cwd=ROOT)
    assert res.returncode == 0
    assert "denseface export --format web site/" in (ROOT / "README.md").read_text()


def test_an_installed_wheel_says_the_web_export_needs_a_checkout_and_ships_the_data_sums(tmp_path):
    """Built and installed as a user would (a wheel, not editable): the web export is refused in
    one line with the usage code (it used to exit 3 pointing into site-packages), and the data
    sums that `denseface data check` reads are in the wheel."""
    import importlib.util

    if not (importlib.util.find_spec("wheel") or importlib.util.find_spec("setuptools.command.bdist_wheel")):
        pytest.skip("building a wheel needs setuptools >= 70.1 or the wheel package")
    wheel = tmp_path / "wheel"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                            str(ROOT), "-w", str(wheel)], capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-2000:]
    target = tmp_path / "site-packages"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                    *map(str, wheel.glob("*.whl"))], check=True, capture_output=True, timeout=600)
    assert (target / "denseface" / "cli" / "data_sums.json").is_file()
    import os

    env = {**os.environ, "PYTHONPATH": str(target)}
    res = subprocess.run([sys.executable, "-m", "denseface", "export", "--format", "web", str(tmp_path / "site")],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == EXIT_USAGE
    line = _one_error_line(res.stderr)
    assert "needs a source checkout" in line and "site-packages" not in line
    assert not (tmp_path / "site").exists()


def test_video_options_on_photos_only_are_named_in_a_note(tmp_path, capsys):
    assert main(["predict", str(ASTRONAUT), "--out", str(tmp_path), "--quiet", "--box", "150,60,330,290",
                 "--no-smooth", "--redetect-every", "5"]) == 0
    err = capsys.readouterr().err
    assert ("note: --no-smooth and --redetect-every apply to videos only; none of the 1 input(s) is a video"
            in err)
    assert main(["predict", str(ASTRONAUT), "--out", str(tmp_path), "--quiet", "--box", "150,60,330,290",
                 "--detect-max-side", "320"]) == EXIT_USAGE
    assert "--detect-max-side would do nothing" in capsys.readouterr().err
