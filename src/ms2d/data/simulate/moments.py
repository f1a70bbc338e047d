"""Moment layouts drawn from the statistics of the real datasets (``moments.json``).

``moments.json`` holds summary statistics of the Charades-STA and ActivityNet Captions training
annotations (``scripts/moment_stats.py`` writes it): duration quantiles, how many sentences a
video has, and a histogram of each moment's start and length as fractions of the duration, with
the share of moments that start at 0 and end at the video's end.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

import numpy as np

MOMENT_SOURCES = ("grammar", "charades", "activitynet")


@lru_cache(maxsize=4)
def _stats(name: str) -> dict:
    text = (resources.files("ms2d.data.simulate") / "moments.json").read_text()
    return json.loads(text)[name]


def draw_duration(rng: np.random.Generator, name: str, lo: float, hi: float) -> float:
    """A duration (seconds) from the dataset's quantiles (piecewise linear), clipped to
    ``[lo, hi]``."""
    q = np.asarray(_stats(name)["duration_quantiles"])
    u = rng.random() * (len(q) - 1)
    i = min(int(u), len(q) - 2)
    return float(min(max(q[i] + (u - i) * (q[i + 1] - q[i]), lo), hi))


def draw_count(rng: np.random.Generator, name: str, lo: int, hi: int) -> int:
    """Sentences of one video, from the dataset's histogram, clipped to ``[lo, hi]``."""
    hist = _stats(name)["sentences_per_video"]
    k = np.array([int(n) for n in hist])
    p = np.array(list(hist.values()), dtype=np.float64)
    return int(min(max(rng.choice(k, p=p / p.sum()), lo), hi))


def draw_window(rng: np.random.Generator, name: str) -> tuple[float, float]:
    """``(start, length)`` as fractions of the duration: a cell of the start x length histogram,
    uniform inside it, the dataset's share of moments at the video's start and end kept."""
    s = _stats(name)
    hist = np.asarray(s["start_length_histogram"], dtype=np.float64)
    bins = hist.shape[0]
    cell = rng.choice(hist.size, p=(hist / hist.sum()).ravel())
    start = (cell // bins + rng.random()) / bins
    length = (cell % bins + rng.random()) / bins
    first_row = hist[0].sum() / hist.sum()  # P(start in the first bin)
    if start < 1.0 / bins and rng.random() < s["start_at_zero"] / max(first_row, 1e-9):
        start = 0.0
    length = min(max(length, 0.02), 1.0 - start)
    if rng.random() < s["end_at_one"]:
        length = 1.0 - start
    return start, length
