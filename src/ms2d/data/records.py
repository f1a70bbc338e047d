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
    """

    qid: str
    vid: str
    sentence: str
    duration: float
    window: tuple[float, float] | None = None

    def to_dict(self) -> dict:
        d = {"qid": self.qid, "vid": self.vid, "query": self.sentence, "duration": self.duration}
        if self.window is not None:
            d["windows"] = [list(self.window)]
        return d
