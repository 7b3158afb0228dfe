"""Eye and mouth events over a video (denseface.infer.events), the photo clips they are checked
on (denseface.eval.photo_clip), and the blink demo's clip through ``denseface predict``."""
from __future__ import annotations

import json

import numpy as np
import pytest

from denseface.eval.photo_clip import score_events, shot_weights
from denseface.infer.events import (EYE_CLOSED, MOUTH_OPEN, Hysteresis, readouts_from_jsonl,
                                    threshold_events, video_events)
from tests.conftest import need_shared


def test_hysteresis_events_start_past_enter_and_end_past_leave():
    eye = np.array([0.3, 0.25, 0.16, 0.14, 0.17, 0.12, 0.19, 0.21, 0.3, 0.14, 0.3])
    # 0.16 is not yet closed; 0.17 and 0.19 (between the thresholds) do not split the event
    assert threshold_events(eye, EYE_CLOSED) == [(3, 7), (9, 10)]
    assert threshold_events(eye, Hysteresis(0.15, 0.2, min_frames=2)) == [(3, 7)]
    mouth = np.array([0.2, 0.6, 0.4, 0.45, 0.3, 0.7, 0.8])
    assert threshold_events(mouth, MOUTH_OPEN) == [(1, 4), (5, 7)]      # an event open at the end
    # a frame without a face ends an event and starts none
    assert threshold_events(np.array([0.1, np.nan, 0.1, 0.3]), EYE_CLOSED) == [(0, 1), (2, 3)]
    assert threshold_events(np.array([np.nan, np.nan]), EYE_CLOSED) == []
    with pytest.raises(ValueError):
        Hysteresis(0.2, 0.15)           # leave must lie between enter and the resting value
    with pytest.raises(ValueError):
        Hysteresis(0.5, 0.6, below=False)


def test_readouts_from_jsonl_reads_the_main_face_and_nan_without_one(tmp_path):
    face = {"eye_open_left": 0.3, "eye_open_right": 0.1, "mouth_open": 0.7}
    lines = [{"frame": 0, "time": 0.0, "faces": [face]}, {"frame": 1, "time": 0.04, "faces": []},
             {"frame": 2, "time": 0.08, "faces": [dict(face, eye_open_right=None)]}]
    path = tmp_path / "clip.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    r = readouts_from_jsonl(path)
    np.testing.assert_array_equal(r["time"], [0.0, 0.04, 0.08])
    np.testing.assert_array_equal(r["eye_open_right"], [0.1, np.nan, np.nan])
    assert video_events(r) == {"eye_open_left": [], "eye_open_right": [(0, 1)], "mouth_open": [(0, 1), (2, 3)]}


def test_shot_weights_and_event_scores():
    w = shot_weights([(0, 3), (1, 2), (0, 1)], 2, fade=2)
    assert w.shape == (3 + 2 + 2 + 2 + 1, 2)
    np.testing.assert_allclose(w.sum(1), 1.0)
    np.testing.assert_allclose(w[3:5, 1], [1 / 3, 2 / 3])
    s = score_events([(4, 9), (20, 22)], [(3, 8), (12, 14)], 30)
    assert s["matched"] == 1 and s["false"] == [[20, 22]]
    assert s["events"][0] == {"truth": [3, 8], "found": [4, 9], "iou": pytest.approx(4 / 6),
                              "start_delay": 1, "end_delay": 1}
    assert s["events"][1]["found"] is None
    assert s["frame_agreement"] == pytest.approx(1 - (1 + 1 + 2 + 2) / 30)


@pytest.fixture(scope="module")
def blink_clip_runs(tmp_path_factory):
    """The blink demo's clip (real photos of one face) through ``denseface predict --expression``,
    with the default smoothing and with --no-smooth."""
    from denseface.cli.main import main
    from denseface.eval.photo_clip import blink_clip

    folder = need_shared("data", "w300_afw_helen")
    need_shared("models", "bfm_3ddfa_53215")
    tmp = tmp_path_factory.mktemp("blink")
    clip = blink_clip(folder, tmp / "blink.mp4")
    runs = {}
    for name, extra in (("default", []), ("no_smooth", ["--no-smooth"])):
        assert main(["predict", str(clip.path), "--out", str(tmp / name), "--quiet", "--expression", *extra]) == 0
        runs[name] = tmp / name / "blink.jsonl"
    return clip, runs


def test_predict_on_a_clip_writes_openness_and_expression_per_frame(blink_clip_runs):
    clip, runs = blink_clip_runs
    rows = [json.loads(line) for line in runs["default"].read_text().splitlines()]
    assert len(rows) == len(clip.weights)
    for r in rows:
        (face,) = r["faces"]
        assert all(0 <= face[k] < 2 for k in ("eye_open_left", "eye_open_right", "mouth_open"))
        assert len(face["expression"]) == 10


def test_events_on_the_blink_clip_match_its_ground_truth(blink_clip_runs):
    """Ground truth: the human points of the photo each frame shows. The right eye's two closures
    and the two shouts are found, with nothing else outside the cross-fades; without smoothing
    they start on time, with the default smoothing within 3 frames (120 ms)."""
    from denseface.infer.events import DETECTORS, READOUTS

    clip, runs = blink_clip_runs
    n = len(clip.weights)
    truth = {k: threshold_events(clip.frame_truth(k), DETECTORS[k]) for k in READOUTS}
    assert len(truth["eye_open_right"]) == 2 and len(truth["mouth_open"]) == 2 and truth["eye_open_left"] == []
    for name, max_delay, min_iou in (("no_smooth", 1, 0.9), ("default", 3, 0.4)):
        found = video_events(readouts_from_jsonl(runs[name]))
        for k in READOUTS:
            s = score_events(found[k], truth[k], n, clip.fading)
            assert s["matched"] == len(truth[k]), (name, k, found[k], truth[k])
            # a false event may only sit on a cross-fade frame (two faces blended)
            assert all(clip.fading[a:b].all() for a, b in s["false"]), (name, k, s["false"])
            for e in s["events"]:
                assert e["iou"] >= min_iou and 0 <= e["start_delay"] <= max_delay, (name, k, e)
