"""What the format readers and writers share: the raw record, checks of single fields with
messages that name the file, the record and the fix, and reading text and JSON files."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..records import DataError, Query


@dataclass
class Raw:
    """One record as read, before the protocol decides about its window."""

    qid: str
    vid: str
    sentence: str
    duration: float
    window: tuple[float, float] | None
    where: str  # "FILE: line N" / "FILE: record N", for messages
    extra: tuple[tuple[float, float], ...] = ()  # further windows (JSONL only)


@dataclass
class Read:
    """What a format's reader returns: the records of one split, the file they came from and
    (Charades-STA's train/val) how many records of that file belong to the other side."""

    raws: list[Raw]
    source: str
    held_out: int = 0


# --------------------------------------------------------------------------------------------
# fields


def is_number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def number(x: object, what: str, where: str, fix: str) -> float:
    if not is_number(x):
        raise DataError(f"{where}: {what} must be a number, got {x!r}. {fix}")
    try:
        v = float(x)  # type: ignore[arg-type]
    except OverflowError:  # an integer beyond the float range
        v = math.inf
    if not math.isfinite(v):
        raise DataError(f"{where}: {what} is not finite ({str(x)[:40]!r}). {fix}")
    return v


def parse_float(text: str, what: str, where: str, fix: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise DataError(f"{where}: {what} {text!r} is not a number. {fix}") from None
    if not math.isfinite(v):
        raise DataError(f"{where}: {what} is not finite ({text!r}). {fix}")
    return v


def duration(x: float, where: str, fix: str) -> float:
    if x <= 0:
        raise DataError(f"{where}: duration must be > 0 seconds, got {x!r}. {fix}")
    return x


def sentence(x: object, where: str) -> str:
    if not isinstance(x, str):
        raise DataError(f"{where}: the sentence must be a string, got {x!r}.")
    s = x.strip()
    if not s:
        raise DataError(
            f"{where}: empty or whitespace-only sentence. Fix: write the query text or remove "
            "the record."
        )
    return s


def vid(x: object, where: str) -> str:
    if not isinstance(x, str) or not x.strip():
        raise DataError(f"{where}: the video id must be a non-empty string, got {x!r}.")
    return x.strip()


def check_times(s: float, e: float, where: str, *, allow_negative_start: bool = False) -> None:
    if (s < 0 and not allow_negative_start) or e < 0:
        raise DataError(
            f"{where}: negative time in window [{s!r}, {e!r}]. Fix: times are seconds from the "
            "video start and must be >= 0."
        )


# --------------------------------------------------------------------------------------------
# files


def read_text(path: Path) -> str:
    """The UTF-8 text of ``path``; a :class:`DataError` when it is not UTF-8 or cannot be read
    (a missing file stays a ``FileNotFoundError``)."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path}: not UTF-8 text (byte {exc.start}). Fix: re-save the file as UTF-8."
        ) from None
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc}).") from None


def lines(text: str) -> list[str]:
    """Split on newlines only (``str.splitlines`` also splits on U+2028, U+0085, ...)."""
    return [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]


def load_json(path: Path, kind: type, expected: str, fix: str) -> Any:
    """The JSON document in ``path``, which must be a ``kind`` (``expected`` and ``fix`` say
    what it should have been)."""
    data = _parse_json(path)
    if not isinstance(data, kind):
        raise DataError(f"{path}: expected {expected}, got {type(data).__name__}. {fix}")
    return data


def _parse_json(path: Path) -> Any:
    text = read_text(path)
    try:
        return json.loads(text)
    except RecursionError:
        raise DataError(
            f"{path}: malformed JSON (nested too deeply to be an annotation file). "
            "Fix: repair or re-download the file."
        ) from None
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{path}: line {exc.lineno}, column {exc.colno}: malformed JSON ({exc.msg}). "
            "Fix: repair or re-download the file."
        ) from None


def read_split_file(path: Path, split: str, names: Sequence[str], what: str,
                    read_file: Callable[[Path], list[Raw]]) -> Read:
    """``read_file`` of the file that holds ``split``: ``path`` itself if it is a file, else
    the first ``path/name`` of ``names`` that exists."""
    if path.is_file():
        return Read(read_file(path), str(path))
    if not path.exists():
        raise DataError(
            f"{what}: {path} does not exist (expected a directory with "
            f"{' or '.join(names)}, or one such file)."
        )
    candidates = [path / n for n in names]
    for c in candidates:
        if c.is_file():
            return Read(read_file(c), str(c))
    listed = ", ".join(str(p) for p in candidates)
    raise DataError(f"{what} split {split!r}: expected file(s) not found: {listed}.")


# --------------------------------------------------------------------------------------------
# splits and writers


def val_videos(vids: Iterable[str], val_fraction: float, seed: int) -> set[str]:
    """The videos a validation split carved out of ``vids`` holds (see
    :func:`ms2d.data.annotations.split_by_video`)."""
    if not 0.0 < val_fraction < 1.0:
        raise DataError(f"val_fraction must be between 0 and 1 (exclusive), got {val_fraction!r}.")
    uniq = sorted(set(vids))
    if len(uniq) < 2:
        raise DataError(f"cannot carve a validation set out of {len(uniq)} video(s).")
    n_val = min(max(round(len(uniq) * val_fraction), 1), len(uniq) - 1)
    order = sorted(uniq, key=lambda v: hashlib.sha256(f"{seed}:{v}".encode()).hexdigest())
    return set(order[:n_val])


def fmt_num(x: float) -> str:
    return repr(float(x))  # shortest text that reads back to the same float


def need_windows(queries: Sequence[Query], fmt: str) -> None:
    for q in queries:
        if q.window is None:
            raise DataError(
                f"query {q.qid!r} (video {q.vid}) has no window; the {fmt} format needs one for "
                "every query. Fix: write 'jsonl', which allows queries without windows."
            )


def durations(queries: Sequence[Query], fmt: str) -> dict[str, float]:
    """One duration per video (an error where a video has two)."""
    out: dict[str, float] = {}
    for q in queries:
        if out.setdefault(q.vid, q.duration) != q.duration:
            raise DataError(
                f"video {q.vid} has two durations ({out[q.vid]!r} and {q.duration!r}); the {fmt} "
                "format stores one per video. Fix: make the durations agree."
            )
    return out
