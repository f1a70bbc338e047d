"""ms2d's own JSONL format, one query a line; it also reads Moment-DETR / QVHighlights /
Lighthouse files as distributed (``relevant_windows``, integer qids). The schema:
docs/datasets.md. A folder holds ``{split}.jsonl``.

:func:`read_jsonl` is the one JSONL line reader of ms2d (annotations, predictions, ground
truth)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ...files import atomic_write_text
from ..records import DataError, Query
from .common import (
    Raw,
    Read,
    check_times,
    duration,
    lines,
    number,
    read_split_file,
    read_text,
    sentence,
)
from .common import vid as _vid

NAME = "jsonl"
PROTOCOLS = ("strict",)
SUFFIX = ".jsonl"
KEYS = frozenset({"qid", "vid", "query", "duration", "windows", "relevant_windows",
                  "relevant_clip_ids", "saliency_scores", "meta"})
#: what :func:`read_jsonl` says to do about a line that is no JSON object, by default
FIX = "Fix: one JSON object per line (see docs/datasets.md for the schema)."


def read_jsonl(path: str | os.PathLike[str], fix: str = FIX) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for every non-blank line of a UTF-8 JSONL file; a
    :class:`DataError` naming the file and the line (``FILE: line N``) where a line is not a
    JSON object, followed by ``fix``. A missing file is a ``FileNotFoundError``."""
    for lineno, line in enumerate(lines(read_text(Path(path))), 1):
        if not line.strip():
            continue
        where = f"{path}: line {lineno}"
        try:
            obj = json.loads(line)
        except RecursionError:
            raise DataError(f"{where}: malformed JSON (nested too deeply).") from None
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: malformed JSON ({exc.msg} at column {exc.colno}). {fix}"
                            ) from None
        if not isinstance(obj, dict):
            raise DataError(f"{where}: expected a JSON object, got {type(obj).__name__}. {fix}")
        yield lineno, obj


def split_files(split: str) -> tuple[str, ...]:
    return (f"{split}.jsonl",)


def read(path: Path, split: str, **_) -> Read:
    return read_split_file(path, split, split_files(split), NAME, read_file)


def read_file(path: Path) -> list[Raw]:
    out: list[Raw] = []
    for lineno, obj in read_jsonl(path):
        where = f"{path}: line {lineno}"
        unknown = sorted(set(obj) - KEYS)
        if unknown:
            raise DataError(
                f"{where}: unknown key(s) {unknown}. Fix: allowed keys are "
                f"{sorted(KEYS)} (put extra data under 'meta')."
            )
        for key in ("vid", "query", "duration"):
            if key not in obj:
                raise DataError(f"{where}: missing required key {key!r}.")
        vid = _vid(obj["vid"], where)
        qid = obj.get("qid", f"{vid}#{len(out)}")
        if isinstance(qid, int) and not isinstance(qid, bool):
            qid = str(qid)
        if not isinstance(qid, str) or not qid:
            raise DataError(
                f"{where}: 'qid' must be a non-empty string or an integer, got {qid!r}."
            )
        fix = "Fix: correct or remove the record."
        dur = duration(number(obj["duration"], "duration", where, fix), where, fix)
        sent = sentence(obj["query"], where)
        if "windows" in obj and "relevant_windows" in obj:
            raise DataError(
                f"{where}: both 'windows' and 'relevant_windows'; keep one of the two names."
            )
        key = "relevant_windows" if "relevant_windows" in obj else "windows"
        wins = obj.get(key)
        windows: list[tuple[float, float]] = []
        if wins is not None:
            if not isinstance(wins, list):
                raise DataError(f"{where}: {key!r} must be a list of [start, end] pairs.")
            if any(not isinstance(w, list) for w in wins):
                raise DataError(
                    f"{where}: {key!r} must be a list of [start, end] pairs, e.g. "
                    f"[[0.0, 6.9]], got {wins!r}."
                )
            for w in wins:
                if len(w) != 2:
                    raise DataError(f"{where}: a window must be [start, end], got {w!r}.")
                s = number(w[0], "start", where, fix)
                e = number(w[1], "end", where, fix)
                check_times(s, e, where)
                if s >= e:
                    raise DataError(
                        f"{where}: window start {s!r} >= end {e!r}. Fix: swap or correct the "
                        f"times, or drop {key!r} if the boundary is unknown."
                    )
                windows.append((s, e))
        window = windows[0] if windows else None
        out.append(Raw(qid, vid, sent, dur, window, where, tuple(windows[1:])))
    return out


def output_files(folder: Path, split: str) -> list[Path]:
    return [folder / f"{split}{SUFFIX}"]


def write(queries: Sequence[Query], paths: list[Path]) -> None:
    text = "".join(json.dumps(q.to_dict(), ensure_ascii=False) + "\n" for q in queries)
    atomic_write_text(paths[0], text)
