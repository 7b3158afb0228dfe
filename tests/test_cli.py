"""The command line as a new user meets it: version, missing extras, help, shared-data lookup."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import need_shared
from denseface.cli.main import main
from denseface.errors import EXIT_INPUT, EXIT_USAGE

ROOT = Path(__file__).resolve().parents[1]


def test_version(capsys):
    import denseface

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"denseface {denseface.__version__}"
    assert denseface.__version__ != "0+unknown"


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["models"]])
def test_light_commands_import_only_what_they_print(argv):
    """`denseface --help`, `--version` and `models` list and print without the stages: no OpenCV,
    SciPy, numpy, ONNX Runtime, inference or evaluation code is imported (the other commands'
    sub-parsers are not built)."""
    heavy = ("cv2", "scipy", "numpy", "onnxruntime", "torch", "denseface.infer", "denseface.eval",
             "denseface.mesh", "denseface.refine")
    code = ("import sys, contextlib, io\nfrom denseface.cli.main import main\n"
            "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
            f"    try:\n        rc = main({argv!r})\n    except SystemExit as e:\n        rc = e.code\n"
            f"print(rc, len(out.getvalue()) > 0, sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r}"
            f" or m.startswith({heavy[-4:]!r})))")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[:2] == ["0", "True"] and r.stdout.split(None, 2)[2].strip() == "[]", r.stdout


@pytest.mark.parametrize("argv", [["train", "--config", "configs/tiny.yaml"],
                                  ["export", "--checkpoint", "x.pt", "--out", "x.onnx"],
                                  ["eval", "cost", "--out", "x.md"]])
def test_commands_that_need_torch_say_so_in_one_line(argv, tmp_path):
    """With torch unimportable, one line naming the [train] extra and exit 2, no traceback."""
    code = ("import sys; sys.modules['torch'] = None; from denseface.cli.main import main; "
            f"sys.exit(main({argv!r}))")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == EXIT_USAGE, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert "[train] extra" in lines[0] and "pip install -e '.[train]'" in lines[0]


def test_help_marks_the_commands_that_need_the_train_extra(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "[train] train" in out and "[train] export" in out


def test_shared_data_is_never_guessed_from_the_working_directory(tmp_path, monkeypatch):
    from denseface import paths

    (tmp_path / "shared").mkdir()
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    monkeypatch.delenv("DENSEFACE_SHARED", raising=False)
    root = paths.shared_root()
    assert root != (tmp_path / "shared").resolve()
    monkeypatch.setenv("DENSEFACE_SHARED", str(tmp_path / "shared"))
    assert paths.shared_root() == (tmp_path / "shared").resolve()


def test_landmarks_build_requires_out(capsys):
    with pytest.raises(SystemExit) as e:
        main(["landmarks", "build"])
    assert e.value.code == EXIT_USAGE
    assert "--out" in capsys.readouterr().err


def test_refine_without_human_points_says_why(tmp_path, capsys):
    """`data refine` on `data build` output (no human points) fails with the reason."""
    src = need_shared("data", "300wlp_samples", "300W_LP")
    out = tmp_path / "built"
    assert main(["data", "build", str(src), "--out", str(out)]) in (0, 5)
    capsys.readouterr()
    rc = main(["data", "refine", "--data", str(out), "--out", str(tmp_path / "refined.npz")])
    err = capsys.readouterr().err
    assert rc == EXIT_INPUT
    (line,) = [ln for ln in err.splitlines() if ln.startswith("denseface")]
    assert "no image has" in line and "human points" in line
    assert not (tmp_path / "refined.npz").exists()
