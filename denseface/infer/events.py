"""Events over a video's per-frame readouts: eyes that close, mouths that open.

A readout (``eye_open_left``, ``eye_open_right``, ``mouth_open``: denseface.infer.face) is a
number per frame; an event is a run of frames ``[start, end)`` during which it is past a
threshold, with hysteresis: it starts on the first frame past ``enter`` and lasts until the
first frame back past ``leave`` (``leave`` lies between ``enter`` and the resting value), so a
reading that wavers near one threshold does not split or fake an event. A frame without a
reading (no face: NaN) ends an event and starts none. ``min_frames`` drops shorter events.

Defaults (:data:`EYE_CLOSED`, :data:`MOUTH_OPEN`) follow the readouts' documented ranges
(docs/predict.md): an open eye's aspect ratio is about 0.25-0.35 and a closed one's below 0.2,
so an eye counts as closed from below 0.15 until it is back above 0.2; lips together read 0, a
smile showing teeth about 0.2-0.3 and a wide-open mouth 0.5 and more (1.3 on a shout), so a
mouth counts as open from above 0.5 until it is back below 0.35. docs/video.md shows them on a
clip.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: The per-frame readouts of a face in the video JSON Lines (docs/video.md), in this order.
READOUTS = ("eye_open_left", "eye_open_right", "mouth_open")


@dataclass(frozen=True)
class Hysteresis:
    """An event is on from the first frame past ``enter`` until the first frame back past
    ``leave``; ``below``: past means below (an eye closing), else above (a mouth opening)."""

    enter: float
    leave: float
    below: bool = True
    min_frames: int = 1

    def __post_init__(self) -> None:
        if (self.enter >= self.leave) if self.below else (self.enter <= self.leave):
            raise ValueError("leave must lie between enter and the resting value")
        if self.min_frames < 1:
            raise ValueError("min_frames must be >= 1")


#: An eye is closed from an aspect ratio below 0.15 until it is back above 0.2.
EYE_CLOSED = Hysteresis(enter=0.15, leave=0.20, below=True)
#: A mouth is open from an inner-lip opening above 0.5 until it is back below 0.35.
MOUTH_OPEN = Hysteresis(enter=0.5, leave=0.35, below=False)
#: The detector of each readout.
DETECTORS = {"eye_open_left": EYE_CLOSED, "eye_open_right": EYE_CLOSED, "mouth_open": MOUTH_OPEN}


def threshold_events(values: np.ndarray, rule: Hysteresis) -> list[tuple[int, int]]:
    """The events ``[(start, end), ...]`` (frame indices, end exclusive) of a (T,) readout."""
    v = np.asarray(values, np.float64).reshape(-1)
    sign = -1.0 if rule.below else 1.0          # past a threshold t: sign * v > sign * t
    events, start = [], None
    for i, x in enumerate(v):
        if start is None:
            if np.isfinite(x) and sign * x > sign * rule.enter:
                start = i
        elif not np.isfinite(x) or sign * x < sign * rule.leave:
            events.append((start, i))
            start = None
    if start is not None:
        events.append((start, len(v)))
    return [(a, b) for a, b in events if b - a >= rule.min_frames]


def readouts_from_jsonl(path: str | Path, face: int = 0) -> dict[str, np.ndarray]:
    """The readouts of face ``face`` (the video JSON Lines' order: ``--max-faces 1`` keeps the
    main face) over the frames of ``denseface predict CLIP``'s <name>.jsonl: {"time": (T,)
    seconds, readout: (T,), NaN where the frame has no such face}."""
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    out = {"time": np.array([r["time"] for r in rows], np.float64)}
    for key in READOUTS:
        out[key] = np.array([r["faces"][face][key] if len(r["faces"]) > face and r["faces"][face][key] is not None
                             else np.nan for r in rows], np.float64)
    return out


def video_events(readouts: dict[str, np.ndarray],
                 detectors: dict[str, Hysteresis] | None = None) -> dict[str, list[tuple[int, int]]]:
    """{readout: events} for each readout of :func:`readouts_from_jsonl` with its detector
    (default :data:`DETECTORS`)."""
    rules = DETECTORS if detectors is None else detectors
    return {k: threshold_events(readouts[k], rule) for k, rule in rules.items() if k in readouts}
