"""The one canonical annotation record every reader produces."""

from __future__ import annotations

from dataclasses import dataclass


class DataError(ValueError):
    """Bad input data. The message names the file, the record and the fix."""


class DataWarning(UserWarning):
    """Questionable input data that ms2d uses anyway (records dropped or clamped by the
    dataset's protocol, clip counts far from the video's duration); the message says how many,
    where the first one is, and what was done. ``ms2d`` prints it as ``ms2d CMD: warning:``."""


@dataclass(frozen=True)
class Query:
    """One (video, sentence) pair.

    ``window`` is the ground-truth moment in seconds, ``None`` when the pair has no boundary
    (weakly supervised training data need none). Times are seconds from the video start.
    ``extra_windows`` holds further ground-truth windows of the same sentence, in file order
    (QVHighlights-style files give several); ``windows`` lists them all, ``window`` first.
    """

    qid: str
    vid: str
    sentence: str
    duration: float
    window: tuple[float, float] | None = None
    extra_windows: tuple[tuple[float, float], ...] = ()

    @property
    def windows(self) -> list[tuple[float, float]]:
        """Every ground-truth window, the first (``window``) first; empty without one."""
        return [] if self.window is None else [self.window, *self.extra_windows]

    def to_dict(self) -> dict:
        d = {"qid": self.qid, "vid": self.vid, "query": self.sentence, "duration": self.duration}
        if self.window is not None:
            d["windows"] = [list(w) for w in self.windows]
        return d
