"""The list format of the SCN/CPL code bases: a JSON list of ``[vid, duration, [start, end],
sentence]``; a folder holds ``{split}.json`` (or ``{split}_data.json``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from ...files import atomic_write_text
from ..records import DataError, Query
from .common import (
    Raw,
    Read,
    check_times,
    duration,
    load_json,
    need_windows,
    number,
    read_split_file,
)
from .common import sentence as _sentence
from .common import vid as _vid

NAME = "cpl"
PROTOCOLS = ("2d-tan", "cpl")
SUFFIX = ".json"


def split_files(split: str) -> tuple[str, ...]:
    return (f"{split}.json", f"{split}_data.json")


def read(path: Path, split: str, **_) -> Read:
    return read_split_file(path, split, split_files(split), NAME, read_file)


def read_file(path: Path) -> list[Raw]:
    data = load_json(path, list, "a JSON list of [vid, duration, [start, end], sentence]",
                     "Fix: use the SCN/CPL data files (for the ActivityNet {vid: {...}} form "
                     "use dataset 'activitynet-captions').")
    out: list[Raw] = []
    fix = "Fix: each record must be [vid, duration, [start, end], sentence]."
    for i, rec in enumerate(data):
        where = f"{path}: record {i}"
        if not isinstance(rec, list) or len(rec) != 4:
            raise DataError(f"{where}: malformed record {str(rec)[:80]}. {fix}")
        vid = _vid(rec[0], where)
        where = f"{path}: record {i} (video {vid})"
        dur = duration(number(rec[1], "duration", where, fix), where, fix)
        win = rec[2]
        if not isinstance(win, list) or len(win) != 2:
            raise DataError(f"{where}: the window must be [start, end], got {win!r}. {fix}")
        s = number(win[0], "start", where, fix)
        e = number(win[1], "end", where, fix)
        check_times(s, e, where)
        out.append(Raw(f"{vid}#{i}", vid, _sentence(rec[3], where), dur, (s, e), where))
    return out


def output_files(folder: Path, split: str) -> list[Path]:
    return [folder / f"{split}{SUFFIX}"]


def write(queries: Sequence[Query], paths: list[Path]) -> None:
    need_windows(queries, NAME)
    recs = [[q.vid, q.duration, list(q.window or ()), q.sentence] for q in queries]
    atomic_write_text(paths[0], json.dumps(recs, ensure_ascii=False))
