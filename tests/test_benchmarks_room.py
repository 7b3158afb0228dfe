"""benchmarks/ calls the installed package (issue 33 part 3): no script puts the checkout on
sys.path to import denseface, and none imports another script for what the package provides
(the measuring machine, result files, speed photos: denseface.eval.report / eval.calibration)."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from denseface.eval.moving_clip import Clip, motion_matrix, score_track

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
#: Scripts that still change sys.path, and why (a new script is not listed: the package is
#: installed, ``pip install -e .``, and a script run as ``python benchmarks/x.py`` finds its
#: siblings already, its own folder being sys.path[0]).
ROOT_ON_PATH: dict[str, str] = {}
#: Scripts that still take machine() from compare_detectors (not yet moved).
SIBLING_HELPERS: dict[str, str] = {}
ROOT_INSERT = re.compile(r"sys\.path\.(insert|append)\(")


def test_benchmarks_do_not_put_the_checkout_on_sys_path():
    found = sorted(p.name for p in BENCHMARKS.glob("*.py") if ROOT_INSERT.search(p.read_text()))
    assert set(found) <= set(ROOT_ON_PATH), f"put the checkout on sys.path: {set(found) - set(ROOT_ON_PATH)}"


def test_the_package_helpers_are_not_taken_from_a_sibling_script():
    shared = re.compile(r"from (benchmarks\.)?compare_detectors import .*\b(machine|write_json|speed_images)\b")
    taking = sorted(p.name for p in BENCHMARKS.glob("*.py")
                    if p.name not in SIBLING_HELPERS and shared.search(p.read_text()))
    assert not taking, f"import machine / write_json / speed photos from denseface.eval: {taking}"


def test_moving_clip_scores_the_truth_as_perfect_and_a_shift_by_its_size():
    """denseface.eval.moving_clip (the video benchmarks' clips, once in bench_video.py): the
    ground truth scores NME 0 and no jitter; a prediction 2 px off everywhere scores 2 px in
    percent of the face size, and jitter still 0 (a constant offset in the photo's frame)."""
    rng = np.random.default_rng(0)
    face = rng.uniform(0, 100, (68, 2))
    centre = 0.5 * (face.min(0) + face.max(0))
    motion = np.stack([motion_matrix(t, 20, centre, 1.0) for t in range(20)])
    motion[:, :, :2] = np.eye(2)        # moved, not turned nor scaled: the offset stays 2 px
    gt = np.stack([face @ m[:, :2].T + m[:, 2] for m in motion])
    clip = Clip("synthetic", np.zeros((20, 4, 4, 3), np.uint8), gt, motion)
    truth = score_track(clip, list(gt))
    assert np.allclose(truth["nme"], 0) and np.allclose(truth["jitter_steps"], 0)
    size = np.sqrt(np.prod(np.ptp(face, 0)))
    off = score_track(clip, [g + 2.0 for g in gt])
    assert np.allclose(off["nme"], 100 * 2 * np.sqrt(2) / size)
    assert np.allclose(off["jitter_steps"], 0, atol=1e-9)


def test_docs_web_md_is_the_render_of_the_saved_web_results():
    """denseface.eval.web_report (moved from bench_web.py): docs/web.md's generated section is
    exactly render() of benchmarks/results/web.json, so the page's figures cannot disagree."""
    import json

    from denseface.eval.web_report import render

    root = BENCHMARKS.parent
    text = (root / "docs" / "web.md").read_text()
    result = json.loads((BENCHMARKS / "results" / "web.json").read_text())
    assert f"<!-- bench_web:start -->\n{render(result)}\n<!-- bench_web:end -->" in text


def test_the_e2e_sections_are_the_render_of_the_saved_e2e_result():
    """denseface.eval.e2e_report (moved from bench_e2e.py): the e2e sections of docs/predict.md
    and docs/detectors.md are exactly e2e_markdown() of benchmarks/results/e2e.json."""
    import json

    from denseface.eval.e2e_report import e2e_markdown

    text = e2e_markdown(json.loads((BENCHMARKS / "results" / "e2e.json").read_text())).strip("\n")
    for doc in ("predict.md", "detectors.md"):
        assert f"<!-- e2e:start -->\n{text}\n<!-- e2e:end -->" in (BENCHMARKS.parent / "docs" / doc).read_text()


def test_the_model_cards_head_rank_table_is_the_render_of_the_saved_run():
    """denseface.eval.family_report (moved from model_family.py): docs/MODEL_CARD.md's head-rank
    table is exactly ranks_table() of benchmarks/results/head_ranks.json."""
    import json

    from denseface.eval.family_report import ranks_table

    text = ranks_table(json.loads((BENCHMARKS / "results" / "head_ranks.json").read_text()))
    card = (BENCHMARKS.parent / "docs" / "MODEL_CARD.md").read_text()
    assert f"<!-- head_ranks:start -->\n{text}\n<!-- head_ranks:end -->" in card


def test_docs_peers_md_quotes_the_saved_peer_results():
    """denseface.eval.peers (moved from peers.py): docs/peers.md holds exactly the AFLW2000-3D,
    300-W and timing sections rendered from benchmarks/results/peers_*.json."""
    import json

    from denseface.eval.peers import aflw2000_section, time_section, w300_section

    doc = (BENCHMARKS.parent / "docs" / "peers.md").read_text()
    for name, section in (("aflw2000", aflw2000_section), ("w300", w300_section), ("time", time_section)):
        text = "\n".join(section(json.loads((BENCHMARKS / "results" / f"peers_{name}.json").read_text())))
        assert text in doc, name


def test_docs_video_md_quotes_the_saved_steady_video_results():
    """denseface.eval.steady_video (moved from peers_video.py): docs/video.md's peers_video
    section is exactly body() of benchmarks/results/peers_video.json."""
    import json

    from denseface.eval.peers import fmt
    from denseface.eval.steady_video import body

    text = "\n".join(body(json.loads((BENCHMARKS / "results" / "peers_video.json").read_text()), fmt)).strip("\n")
    doc = (BENCHMARKS.parent / "docs" / "video.md").read_text()
    assert f"<!-- peers_video:start -->\n{text}\n<!-- peers_video:end -->" in doc


def test_docs_detectors_md_quotes_the_saved_detector_results():
    """denseface.eval.detectors_report (moved from compare_detectors.py): docs/detectors.md's
    calibration, thresholds, cascade, speed and memory tables are exactly the Markdown of
    benchmarks/results/{calibration,cascade,speed,rss}.json."""
    import json

    from denseface.eval import detectors_report as r

    doc = (BENCHMARKS.parent / "docs" / "detectors.md").read_text()
    read = lambda name: json.loads((BENCHMARKS / "results" / f"{name}.json").read_text())  # noqa: E731
    sections = {"calibration": r.calibration_markdown(read("calibration")),
                "thresholds": r.thresholds_markdown(read("calibration")),
                "cascade": r.cascade_markdown(read("cascade")),
                "detector-speed": r.speed_markdown(read("speed")), "rss": r.rss_markdown(read("rss"))}
    for name, text in sections.items():
        assert f"<!-- {name}:start -->\n{text.strip(chr(10))}\n<!-- {name}:end -->" in doc, name


def test_a_peer_without_its_venv_says_so_in_one_line(tmp_path):
    """denseface.eval.peers.Peer (moved from peers.py): a peer whose python is missing is left
    out with one line naming the python and the command that makes its venv."""
    from denseface.eval.peers import Peer

    peer = Peer("dlib", str(tmp_path / "no_venv" / "python"), BENCHMARKS / "peer_dlib.py", tmp_path)
    assert not peer.ok
    assert peer.problem == f"no python at {tmp_path / 'no_venv' / 'python'} (run: bash benchmarks/peers_env.sh dlib)"


def test_aflw_pl_val_photos_face_box_scales_with_the_photo(tmp_path):
    """denseface.eval.datasets.aflw_pl_val_photos (one loader for the detector benchmark's
    val_scores and cascade, once two copies in compare_detectors.py): None without the split;
    the face box is the crop's central square of side 120/sqrt(2), scaled with the photo."""
    from denseface.eval.datasets import aflw_pl_val_photos

    assert aflw_pl_val_photos(tmp_path) is None
    (tmp_path / "data" / "aflw_pl" / "val" / "images").mkdir(parents=True)
    np.savez(tmp_path / "data" / "aflw_pl" / "val" / "labels.npz", names=np.array(["a.png"]), yaw=np.array([-40.0]))
    import cv2

    cv2.imwrite(str(tmp_path / "data" / "aflw_pl" / "val" / "images" / "a.png"), np.zeros((120, 120, 3), np.uint8))
    for size in (240, 480):
        photos, face, yaw = aflw_pl_val_photos(tmp_path, size)
        half = 60 / np.sqrt(2)
        assert photos[0].shape == (size, size, 3) and yaw.tolist() == [40.0]
        assert np.allclose(face, np.array([120 - half, 120 - half, 120 + half, 120 + half]) * size / 240)
        assert (photos[0][0, 0] == 127).all() and (photos[0][size // 2, size // 2] == 0).all()
