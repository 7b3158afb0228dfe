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
