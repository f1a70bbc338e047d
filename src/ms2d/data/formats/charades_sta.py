"""Charades-STA as the 2D-TAN repository holds it: ``charades_sta_{split}.txt`` (one
``VID START END##SENTENCE`` a line) and ``Charades_v1_{split}.csv`` (the Charades metadata, whose
``length`` column is the duration) in one folder.

Charades-STA has no validation split: ``val`` is carved out of the official train file by video
(:func:`~ms2d.data.formats.common.val_videos`) and ``train`` is the rest, unless the folder holds
an explicit ``charades_sta_val.txt``; ``train_full`` is the whole train file (docs/datasets.md).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from ...files import atomic_write_text
from ..records import DataError, Query
from .common import (
    Raw,
    Read,
    check_times,
    duration,
    durations,
    fmt_num,
    lines,
    need_windows,
    parse_float,
    read_text,
    sentence,
    val_videos,
)

NAME = "charades-sta"
PROTOCOLS = ("2d-tan", "cpl")
SUFFIX = ".txt"


def split_files(split: str) -> tuple[str, ...]:
    """The sentence files that hold ``split``; none for ``train`` and ``val``, which are cut
    from the train file when the folder has no val file."""
    if split in ("train", "val"):
        return ()
    return (f"charades_sta_{'train' if split == 'train_full' else split}.txt",)


def read(path: Path, split: str, *, val_fraction: float = 0.1, seed: int = 0) -> Read:
    if not path.is_dir():
        raise DataError(
            f"charades-sta: {path} is not a directory. Fix: pass the directory holding "
            "charades_sta_{train,test}.txt and Charades_v1_{train,test}.csv."
        )
    file_split = split
    carve: str | None = None  # "train"/"val" when the val carve-out applies
    exclude: set[str] = set()  # videos of an explicit val file, kept out of "train"
    if split == "train_full":
        file_split = "train"
    elif split in ("train", "val"):
        explicit_val = path / "charades_sta_val.txt"
        if not explicit_val.is_file():
            file_split, carve = "train", split
        elif split == "train":
            # train = the official train file minus the videos of the explicit val file
            exclude = {line.split(maxsplit=1)[0] for line in lines(read_text(explicit_val))
                       if line.strip()}
    txt = path / f"charades_sta_{file_split}.txt"
    csv_path = path / f"Charades_v1_{file_split}.csv"
    missing = [f for f in (txt, csv_path) if not f.is_file()]
    if missing:
        raise DataError(
            f"charades-sta split {split!r}: expected {txt.name} and {csv_path.name} in {path}; "
            f"missing: {', '.join(f.name for f in missing)}. Fix: download them from the "
            "2D-TAN repository's data/Charades-STA folder (see docs/datasets.md)."
        )
    raws = read_file(txt, csv_path)
    held_out = 0
    if exclude:
        side = [r for r in raws if r.vid not in exclude]
        held_out, raws = len(raws) - len(side), side
    if carve is not None:
        val_vids = val_videos((r.vid for r in raws), val_fraction, seed)
        side = [r for r in raws if (r.vid in val_vids) == (carve == "val")]
        held_out, raws = len(raws) - len(side), side
    return Read(raws, str(txt), held_out)


def _read_csv(path: Path) -> dict[str, tuple[str, int]]:
    """``vid -> (length text, row number)``; row 1 is the header."""
    text = read_text(path)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    fields = reader.fieldnames or []
    if "id" not in fields or "length" not in fields:
        raise DataError(
            f"{path}: the header must have 'id' and 'length' columns, got {fields}. Fix: use the "
            "Charades_v1_*.csv files from the Charades release / the 2D-TAN data folder."
        )
    out: dict[str, tuple[str, int]] = {}
    try:
        for row in reader:
            vid = (row.get("id") or "").strip()
            if vid:
                out[vid] = ((row.get("length") or "").strip(), reader.line_num)
    except csv.Error as exc:
        raise DataError(f"{path}: line {reader.line_num}: malformed CSV ({exc}).") from None
    return out


def read_file(txt: Path, csv_path: Path) -> list[Raw]:
    lengths = _read_csv(csv_path)
    durs: dict[str, float] = {}
    out: list[Raw] = []
    for lineno, line in enumerate(lines(read_text(txt)), 1):
        if not line.strip():
            continue
        where = f"{txt}: line {lineno}"
        if "##" not in line:
            raise DataError(
                f"{where}: malformed line {line[:80]!r}. Fix: each line must read "
                "'VID START END##SENTENCE'."
            )
        head, sent = line.split("##", 1)
        parts = head.split()
        if len(parts) != 3:
            raise DataError(
                f"{where}: expected 'VID START END' before '##', got {head!r}. Fix: each line "
                "must read 'VID START END##SENTENCE'."
            )
        vid = parts[0]
        fix = "Fix: correct or remove the line."
        s = parse_float(parts[1], "start", where, fix)
        e = parse_float(parts[2], "end", where, fix)
        check_times(s, e, where)
        text = sentence(sent, where)
        if vid not in durs:
            if vid not in lengths:
                raise DataError(
                    f"{where}: video {vid!r} is not in {csv_path}, so its duration is unknown. "
                    f"Fix: add a row with id={vid} and its length (seconds) to {csv_path.name}, "
                    "or remove the line."
                )
            raw, row = lengths[vid]
            cwhere = f"{csv_path}: line {row} (video {vid}, used by {txt.name} line {lineno})"
            cfix = "Fix: put the video duration in seconds in the 'length' column."
            if not raw:
                raise DataError(f"{cwhere}: the 'length' column is empty. {cfix}")
            durs[vid] = duration(parse_float(raw, "length", cwhere, cfix), cwhere, cfix)
        out.append(Raw(f"{vid}#{len(out)}", vid, text, durs[vid], (s, e), where))
    return out


def output_files(folder: Path, split: str) -> list[Path]:
    return [folder / f"charades_sta_{split}.txt", folder / f"Charades_v1_{split}.csv"]


def write(queries: Sequence[Query], paths: list[Path]) -> None:
    """The sentence file, and the CSV of durations where ``paths`` names one."""
    need_windows(queries, NAME)
    durs = durations(queries, NAME)
    out = []
    for q in queries:
        if any(c.isspace() for c in q.vid):
            raise DataError(f"video id {q.vid!r} contains whitespace; charades-sta can't hold it.")
        if "\n" in q.sentence or "\r" in q.sentence:
            raise DataError(f"query {q.qid!r}: the sentence contains a line break.")
        s, e = q.window or (0.0, 0.0)
        out.append(f"{q.vid} {fmt_num(s)} {fmt_num(e)}##{q.sentence}\n")
    atomic_write_text(paths[0], "".join(out))
    if len(paths) > 1:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["id", "length"])
        for vid, d in durs.items():
            w.writerow([vid, fmt_num(d)])
        atomic_write_text(paths[1], buf.getvalue())
