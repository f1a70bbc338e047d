"""ActivityNet Captions as distributed (and as 2D-TAN uses it): a JSON object ``vid ->
{"duration": s, "timestamps": [[s, e], ...], "sentences": [...]}``; a folder holds
``{split}.json`` (train, val = official val_1, test = official val_2)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ...files import atomic_write_text
from ..records import DataError, Query
from .common import (
    Raw,
    Read,
    check_times,
    duration,
    durations,
    load_json,
    need_windows,
    number,
    read_split_file,
    sentence,
    vid,
)

NAME = "activitynet-captions"
PROTOCOLS = ("2d-tan",)
SUFFIX = ".json"


def split_files(split: str) -> tuple[str, ...]:
    return (f"{split}.json",)


def read(path: Path, split: str, **_) -> Read:
    return read_split_file(path, split, split_files(split), NAME, read_file)


def read_file(path: Path) -> list[Raw]:
    data = load_json(path, dict, "a JSON object {vid: {duration, timestamps, sentences}}",
                     "Fix: use the ActivityNet Captions train/val_1/val_2 files (for the "
                     "[vid, duration, [s, e], sentence] list form use dataset 'cpl').")
    out: list[Raw] = []
    for v, entry in data.items():
        where_v = f"{path}: video {v!r}"
        if not isinstance(entry, dict) or not {"duration", "timestamps", "sentences"} <= set(entry):
            raise DataError(
                f"{where_v}: expected an object with 'duration', 'timestamps' and 'sentences'."
            )
        fix = "Fix: correct the entry or remove the video."
        dur = duration(number(entry["duration"], "duration", where_v, fix), where_v, fix)
        stamps, sents = entry["timestamps"], entry["sentences"]
        if not isinstance(stamps, list) or not isinstance(sents, list) or len(stamps) != len(sents):
            raise DataError(
                f"{where_v}: 'timestamps' and 'sentences' must be lists of equal length. {fix}"
            )
        for k, (ts, sent) in enumerate(zip(stamps, sents)):
            where = f"{path}: video {v!r}, sentence {k} (record {len(out)})"
            if not isinstance(ts, list) or len(ts) != 2:
                raise DataError(f"{where}: a timestamp must be [start, end], got {ts!r}. {fix}")
            s = number(ts[0], "start", where, fix)
            e = number(ts[1], "end", where, fix)
            check_times(s, e, where, allow_negative_start=True)
            out.append(Raw(f"{v}#{len(out)}", vid(v, where), sentence(sent, where), dur, (s, e),
                           where))
    return out


def output_files(folder: Path, split: str) -> list[Path]:
    return [folder / f"{split}{SUFFIX}"]


def write(queries: Sequence[Query], paths: list[Path]) -> None:
    need_windows(queries, NAME)
    durs = durations(queries, NAME)
    data: dict[str, dict[str, Any]] = {}
    for q in queries:
        entry = data.setdefault(q.vid, {"duration": durs[q.vid], "timestamps": [], "sentences": []})
        entry["timestamps"].append(list(q.window or ()))
        entry["sentences"].append(q.sentence)
    atomic_write_text(paths[0], json.dumps(data, ensure_ascii=False))
