"""Annotation readers and writers: every supported format becomes a list of :class:`Query`.

Formats (the ``dataset`` argument of :func:`read_annotations`)
----------------------------------------------------------------

``"charades-sta"``
    ``path`` is a directory holding ``charades_sta_{split}.txt`` (one ``VID START END##SENTENCE``
    per line, as in the 2D-TAN repository) and ``Charades_v1_{split}.csv`` (the Charades
    metadata; the ``length`` column is the video duration in seconds, the file is read with
    :class:`csv.DictReader` because fields are quoted and contain commas).
    Splits: ``"test"``; ``"train_full"`` (the whole official train file); ``"train"`` and
    ``"val"``: Charades-STA has no official validation split, so ``"val"`` is carved out of the
    official train file **by video** (``val_fraction`` of its videos, default 0.1, chosen by
    :func:`split_by_video`'s deterministic hash order) and ``"train"`` is the remainder. The
    carve-out is computed on the video set of the raw train file, so a video lands on the same
    side whatever the protocol. If the directory holds an explicit ``charades_sta_val.txt``
    (+ ``Charades_v1_val.csv``, e.g. written by ``ms2d convert``), ``"val"`` reads that file
    and ``"train"`` is the official train file minus the videos of that val file. Any other split name ``S`` reads
    ``charades_sta_S.txt`` + ``Charades_v1_S.csv``.

``"activitynet-captions"``
    ``path`` is a directory with ``train.json``, ``val.json`` (official val_1) and
    ``test.json`` (official val_2), as in 2D-TAN, or one such file. Each file maps
    ``vid -> {"duration": s, "timestamps": [[s, e], ...], "sentences": [str, ...]}``.
    Sentences are stripped (many carry a leading space).

``"cpl"``
    The SCN/CPL list format: a JSON list of ``[vid, duration, [start, end], sentence]``.
    ``path`` is a directory with ``{split}.json`` (or ``{split}_data.json``) or one file.

``"jsonl"``
    The project's own format (see the schema below). ``path`` is a directory with
    ``{split}.jsonl`` or one file.

JSONL schema (one JSON object per line; blank lines are skipped)
----------------------------------------------------------------

``"qid"`` : string or integer, optional
    Unique id of the pair within the file (an integer, as in QVHighlights, is read as its
    decimal text). Duplicates are an error. When absent the id is ``"{vid}#{index}"`` with
    ``index`` the 0-based record index in the file.
``"vid"`` : string, required
    Video id; must match the id in the feature store (file name stem, HDF5 key).
``"query"`` : string, required
    The sentence. Surrounding whitespace is stripped; empty or whitespace-only is an error.
``"duration"`` : number, required
    Video duration in seconds, finite and > 0.
``"windows"`` (or ``"relevant_windows"``) : list of ``[start, end]``, optional
    Ground-truth moment(s) of the sentence in seconds from the video start. Absent, ``null``
    or ``[]`` means no boundary (weakly supervised training needs none; a split that is
    evaluated, the test split, needs one on every record; in training, validation records
    without one are not scored). Several windows are allowed (QVHighlights gives up to four): evaluation scores
    a prediction against the one it matches best. ``0 <= start < end``; an ``end`` beyond
    ``duration`` is clamped to it and counted; a window that starts at or after the end of the
    video is an error. ``relevant_windows`` is the Moment-DETR / QVHighlights / Lighthouse
    name; a record may use one of the two names, not both.
``"relevant_clip_ids"``, ``"saliency_scores"`` : anything, optional
    QVHighlights' highlight-detection labels; ignored.
``"meta"`` : anything, optional
    Free-form; ignored by the reader. Any other key is an error (it catches typos such as
    ``"window"``).

Example: ``{"qid": "AO8RW#0", "vid": "AO8RW", "query": "a person is putting a book on a
shelf.", "duration": 33.67, "windows": [[0.0, 6.9]]}``; a QVHighlights / Moment-DETR record
as distributed (``{"qid": 7803, "query": ..., "duration": 150, "vid": ...,
"relevant_windows": [[26, 36], [70, 84]], "relevant_clip_ids": [...], "saliency_scores":
[...]}``) reads as it is.

Protocols (the ``protocol`` argument)
-------------------------------------

``"2d-tan"`` (default for the Charades-STA, ActivityNet and CPL formats)
    Clamp the moment to the video (``[max(s, 0), min(e, duration)]``; a negative start is only
    tolerated, and clamped, for ActivityNet, which is the 2D-TAN loader rule) and drop pairs
    with ``start >= end`` afterwards. Charades-STA test keeps all 3,720 pairs, train 12,404 of
    12,408; ActivityNet train keeps 37,417 of 37,421.
``"cpl"`` (Charades-STA and CPL formats)
    The truncated protocol of the SCN/CNM/CPL lineage: keep only pairs with
    ``end <= duration`` (and ``start < end``): 3,158 test and 10,602 train pairs.
``"strict"`` (the only protocol of the JSONL format)
    ``start >= end`` is an error, and so is a window wholly beyond the video
    (``start >= duration``); ``end > duration`` is clamped and counted.

Report keys (``Annotations.report``; all integers)
--------------------------------------------------

``raw``: records read (for the Charades train/val carve-out: records of the videos on the
requested side); ``kept``: queries returned; ``clamped_end``: kept pairs whose end was clamped
to the duration; ``clamped_start``: kept pairs whose negative start was clamped to 0;
``dropped_start_ge_end``; ``dropped_end_gt_duration`` (``cpl`` protocol); ``dropped_other``
(always 0 today; kept so that ``raw == kept + dropped_*`` stays true when new rules appear);
``held_out``: Charades-STA ``"train"``/``"val"`` only, records of the official train file
left to the other side (of the carve-out, or the videos of an explicit val file; not part of
``raw``); ``non_ascii``: kept sentences with non-ASCII characters (allowed);
``no_window``: kept queries without a ground-truth window; ``videos``: distinct kept videos.
``Annotations.examples`` maps each non-zero count key (but ``raw``, ``kept``, ``videos``,
``non_ascii``) to the first record it counts (``"FILE: line N"``), for messages.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..files import atomic_write_text
from .records import DataError, Query

DATASETS: tuple[str, ...] = ("charades-sta", "activitynet-captions", "cpl", "jsonl")
PROTOCOLS: dict[str, tuple[str, ...]] = {
    "charades-sta": ("2d-tan", "cpl"),
    "activitynet-captions": ("2d-tan",),
    "cpl": ("2d-tan", "cpl"),
    "jsonl": ("strict",),
}
REPORT_KEYS: tuple[str, ...] = (
    "raw",
    "kept",
    "clamped_end",
    "clamped_start",
    "dropped_start_ge_end",
    "dropped_end_gt_duration",
    "dropped_other",
    "held_out",
    "non_ascii",
    "no_window",
    "videos",
)
JSONL_KEYS = frozenset({"qid", "vid", "query", "duration", "windows", "relevant_windows",
                        "relevant_clip_ids", "saliency_scores", "meta"})


@dataclass
class Annotations:
    """Queries read from one split of one annotation source, plus what the reader did."""

    queries: list[Query]
    source: str
    protocol: str
    report: dict[str, int] = field(default_factory=dict)
    examples: dict[str, str] = field(default_factory=dict)  # report key -> first record

    def __len__(self) -> int:
        return len(self.queries)

    @property
    def video_ids(self) -> list[str]:
        """Sorted distinct video ids of the queries."""
        return sorted({q.vid for q in self.queries})


@dataclass
class _Raw:
    """One record as read, before the protocol decides about its window."""

    qid: str
    vid: str
    sentence: str
    duration: float
    window: tuple[float, float] | None
    where: str  # "FILE: line N" / "FILE: record N", for messages
    extra: tuple[tuple[float, float], ...] = ()  # further windows (JSONL only)


# --------------------------------------------------------------------------------------------
# helpers


def _is_number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _number(x: object, what: str, where: str, fix: str) -> float:
    if not _is_number(x):
        raise DataError(f"{where}: {what} must be a number, got {x!r}. {fix}")
    try:
        v = float(x)  # type: ignore[arg-type]
    except OverflowError:  # an integer beyond the float range
        v = math.inf
    if not math.isfinite(v):
        raise DataError(f"{where}: {what} is not finite ({str(x)[:40]!r}). {fix}")
    return v


def _parse_float(text: str, what: str, where: str, fix: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise DataError(f"{where}: {what} {text!r} is not a number. {fix}") from None
    if not math.isfinite(v):
        raise DataError(f"{where}: {what} is not finite ({text!r}). {fix}")
    return v


def _duration(x: float, where: str, fix: str) -> float:
    if x <= 0:
        raise DataError(f"{where}: duration must be > 0 seconds, got {x!r}. {fix}")
    return x


def _sentence(x: object, where: str) -> str:
    if not isinstance(x, str):
        raise DataError(f"{where}: the sentence must be a string, got {x!r}.")
    s = x.strip()
    if not s:
        raise DataError(
            f"{where}: empty or whitespace-only sentence. Fix: write the query text or remove "
            "the record."
        )
    return s


def _vid(x: object, where: str) -> str:
    if not isinstance(x, str) or not x.strip():
        raise DataError(f"{where}: the video id must be a non-empty string, got {x!r}.")
    return x.strip()


def _check_times(s: float, e: float, where: str, *, allow_negative_start: bool = False) -> None:
    if (s < 0 and not allow_negative_start) or e < 0:
        raise DataError(
            f"{where}: negative time in window [{s!r}, {e!r}]. Fix: times are seconds from the "
            "video start and must be >= 0."
        )


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path}: not UTF-8 text (byte {exc.start}). Fix: re-save the file as UTF-8."
        ) from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc}).") from None


def _lines(text: str) -> list[str]:
    """Split on newlines only (``str.splitlines`` also splits on U+2028, U+0085, ...)."""
    return [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]


def _load_json(path: Path) -> Any:
    text = _read_text(path)
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


def _missing(expected: Sequence[Path], what: str) -> DataError:
    names = ", ".join(str(p) for p in expected)
    return DataError(f"{what}: expected file(s) not found: {names}.")


def _pick_file(path: Path, split: str, names: Sequence[str], what: str) -> Path:
    """``path`` itself if it is a file, else the first ``path/name`` that exists."""
    if path.is_file():
        return path
    if not path.exists():
        raise DataError(
            f"{what}: {path} does not exist (expected a directory with "
            f"{' or '.join(names)}, or one such file)."
        )
    candidates = [path / n for n in names]
    for c in candidates:
        if c.is_file():
            return c
    raise _missing(candidates, f"{what} split {split!r}")


# --------------------------------------------------------------------------------------------
# readers: file -> list[_Raw]; they raise on fatal errors and leave the windows unjudged


def _read_charades_csv(path: Path) -> dict[str, tuple[str, int]]:
    """``vid -> (length text, row number)``; row 1 is the header."""
    text = _read_text(path)
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


def _read_charades_txt(txt: Path, csv_path: Path) -> list[_Raw]:
    lengths = _read_charades_csv(csv_path)
    durations: dict[str, float] = {}
    out: list[_Raw] = []
    for lineno, line in enumerate(_lines(_read_text(txt)), 1):
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
        s = _parse_float(parts[1], "start", where, fix)
        e = _parse_float(parts[2], "end", where, fix)
        _check_times(s, e, where)
        sentence = _sentence(sent, where)
        if vid not in durations:
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
            durations[vid] = _duration(_parse_float(raw, "length", cwhere, cfix), cwhere, cfix)
        out.append(_Raw(f"{vid}#{len(out)}", vid, sentence, durations[vid], (s, e), where))
    return out


def _read_activitynet(path: Path) -> list[_Raw]:
    data = _load_json(path)
    if not isinstance(data, dict):
        raise DataError(
            f"{path}: expected a JSON object {{vid: {{duration, timestamps, sentences}}}}, got "
            f"{type(data).__name__}. Fix: use the ActivityNet Captions train/val_1/val_2 files "
            "(for the [vid, duration, [s, e], sentence] list form use dataset 'cpl')."
        )
    out: list[_Raw] = []
    for vid, entry in data.items():
        where_v = f"{path}: video {vid!r}"
        if not isinstance(entry, dict) or not {"duration", "timestamps", "sentences"} <= set(entry):
            raise DataError(
                f"{where_v}: expected an object with 'duration', 'timestamps' and 'sentences'."
            )
        fix = "Fix: correct the entry or remove the video."
        dur = _duration(_number(entry["duration"], "duration", where_v, fix), where_v, fix)
        stamps, sents = entry["timestamps"], entry["sentences"]
        if not isinstance(stamps, list) or not isinstance(sents, list) or len(stamps) != len(sents):
            raise DataError(
                f"{where_v}: 'timestamps' and 'sentences' must be lists of equal length. {fix}"
            )
        for k, (ts, sent) in enumerate(zip(stamps, sents)):
            where = f"{path}: video {vid!r}, sentence {k} (record {len(out)})"
            if not isinstance(ts, list) or len(ts) != 2:
                raise DataError(f"{where}: a timestamp must be [start, end], got {ts!r}. {fix}")
            s = _number(ts[0], "start", where, fix)
            e = _number(ts[1], "end", where, fix)
            _check_times(s, e, where, allow_negative_start=True)
            out.append(
                _Raw(
                    f"{vid}#{len(out)}",
                    _vid(vid, where),
                    _sentence(sent, where),
                    dur,
                    (s, e),
                    where,
                )
            )
    return out


def _read_cpl(path: Path) -> list[_Raw]:
    data = _load_json(path)
    if not isinstance(data, list):
        raise DataError(
            f"{path}: expected a JSON list of [vid, duration, [start, end], sentence], got "
            f"{type(data).__name__}. Fix: use the SCN/CPL data files (for the ActivityNet "
            "{vid: {...}} form use dataset 'activitynet-captions')."
        )
    out: list[_Raw] = []
    fix = "Fix: each record must be [vid, duration, [start, end], sentence]."
    for i, rec in enumerate(data):
        where = f"{path}: record {i}"
        if not isinstance(rec, list) or len(rec) != 4:
            raise DataError(f"{where}: malformed record {str(rec)[:80]}. {fix}")
        vid = _vid(rec[0], where)
        where = f"{path}: record {i} (video {vid})"
        dur = _duration(_number(rec[1], "duration", where, fix), where, fix)
        win = rec[2]
        if not isinstance(win, list) or len(win) != 2:
            raise DataError(f"{where}: the window must be [start, end], got {win!r}. {fix}")
        s = _number(win[0], "start", where, fix)
        e = _number(win[1], "end", where, fix)
        _check_times(s, e, where)
        out.append(_Raw(f"{vid}#{i}", vid, _sentence(rec[3], where), dur, (s, e), where))
    return out


def _read_jsonl(path: Path) -> list[_Raw]:
    out: list[_Raw] = []
    for lineno, line in enumerate(_lines(_read_text(path)), 1):
        if not line.strip():
            continue
        where = f"{path}: line {lineno}"
        try:
            obj = json.loads(line)
        except RecursionError:
            raise DataError(f"{where}: malformed JSON (nested too deeply).") from None
        except json.JSONDecodeError as exc:
            raise DataError(
                f"{where}: malformed JSON ({exc.msg} at column {exc.colno}). Fix: one JSON "
                "object per line (see docs/datasets.md for the schema)."
            ) from None
        if not isinstance(obj, dict):
            raise DataError(f"{where}: expected a JSON object, got {type(obj).__name__}.")
        unknown = sorted(set(obj) - JSONL_KEYS)
        if unknown:
            raise DataError(
                f"{where}: unknown key(s) {unknown}. Fix: allowed keys are "
                f"{sorted(JSONL_KEYS)} (put extra data under 'meta')."
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
        dur = _duration(_number(obj["duration"], "duration", where, fix), where, fix)
        sent = _sentence(obj["query"], where)
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
                s = _number(w[0], "start", where, fix)
                e = _number(w[1], "end", where, fix)
                _check_times(s, e, where)
                if s >= e:
                    raise DataError(
                        f"{where}: window start {s!r} >= end {e!r}. Fix: swap or correct the "
                        f"times, or drop {key!r} if the boundary is unknown."
                    )
                windows.append((s, e))
        window = windows[0] if windows else None
        out.append(_Raw(qid, vid, sent, dur, window, where, tuple(windows[1:])))
    return out


# --------------------------------------------------------------------------------------------
# protocol + report


def _apply(raws: Iterable[_Raw], protocol: str
           ) -> tuple[list[Query], dict[str, int], dict[str, str]]:
    rep = dict.fromkeys(REPORT_KEYS, 0)
    examples: dict[str, str] = {}
    seen: dict[str, str] = {}
    out: list[Query] = []

    def count(key: str, where: str) -> None:
        rep[key] += 1
        examples.setdefault(key, where)

    for r in raws:
        if r.qid in seen:
            raise DataError(
                f"{r.where}: duplicate qid {r.qid!r} (first at {seen[r.qid]}). Fix: make the "
                "qids unique."
            )
        seen[r.qid] = r.where
        rep["raw"] += 1
        kept: list[tuple[float, float]] = []
        clamped_s = clamped_e = False
        dropped = None
        for k, win in enumerate([] if r.window is None else [r.window, *r.extra]):
            s, e = win
            if protocol == "cpl" and e > r.duration:
                dropped = dropped or ("dropped_end_gt_duration" if k == 0 else None)
                continue
            if protocol == "strict" and s >= r.duration:
                raise DataError(
                    f"{r.where}: window [{s!r}, {e!r}] lies wholly beyond the video, which "
                    f"lasts {r.duration!r} s. Fix: correct the times or the duration, or drop "
                    "'windows' if the boundary is unknown."
                )
            if s < 0:
                s, clamped_s = 0.0, True
            if e > r.duration:
                e, clamped_e = r.duration, True
            if s >= e:
                dropped = dropped or ("dropped_start_ge_end" if k == 0 else None)
                continue
            kept.append((s, e))
        if r.window is not None and not kept:
            count(dropped or "dropped_start_ge_end", r.where)
            continue
        window = kept[0] if kept else None
        if clamped_s:
            count("clamped_start", r.where)
        if clamped_e:
            count("clamped_end", r.where)
        rep["non_ascii"] += not r.sentence.isascii()
        if window is None:
            count("no_window", r.where)
        out.append(Query(r.qid, r.vid, r.sentence, r.duration, window, tuple(kept[1:])))
    rep["kept"] = len(out)
    rep["videos"] = len({q.vid for q in out})
    return out, rep, examples


def _val_videos(vids: Iterable[str], val_fraction: float, seed: int) -> set[str]:
    if not 0.0 < val_fraction < 1.0:
        raise DataError(f"val_fraction must be between 0 and 1 (exclusive), got {val_fraction!r}.")
    uniq = sorted(set(vids))
    if len(uniq) < 2:
        raise DataError(f"cannot carve a validation set out of {len(uniq)} video(s).")
    n_val = min(max(round(len(uniq) * val_fraction), 1), len(uniq) - 1)
    order = sorted(uniq, key=lambda v: hashlib.sha256(f"{seed}:{v}".encode()).hexdigest())
    return set(order[:n_val])


def split_by_video(
    queries: Sequence[Query], val_fraction: float = 0.1, seed: int = 0
) -> tuple[list[Query], list[Query]]:
    """Split ``queries`` into ``(train, val)`` so that no video is in both.

    ``round(n_videos * val_fraction)`` videos (at least 1, at most all but one) go to val: the
    first ones in the order of ``sha256(f"{seed}:{vid}")``, which depends on nothing but the
    ids and the seed (not on the Python/NumPy version, the input order or the hash seed).
    Both lists keep the input order.
    """
    val_vids = _val_videos((q.vid for q in queries), val_fraction, seed)
    train = [q for q in queries if q.vid not in val_vids]
    val = [q for q in queries if q.vid in val_vids]
    return train, val


# --------------------------------------------------------------------------------------------
# public reader


def read_annotations(
    dataset: str,
    path: str | os.PathLike[str],
    split: str,
    *,
    protocol: str | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
) -> Annotations:
    """Read one split of an annotation source into :class:`Query` records.

    ``dataset`` is one of :data:`DATASETS`; see the module docstring for the directory
    layouts, the protocols and the report keys. ``val_fraction`` and ``seed`` only matter for
    the Charades-STA ``"train"``/``"val"`` carve-out (see :func:`split_by_video`).
    Raises :class:`DataError` naming the file, the record and the fix.
    """
    if dataset not in DATASETS:
        raise DataError(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}.")
    allowed = PROTOCOLS[dataset]
    protocol = protocol or allowed[0]
    if protocol not in allowed:
        raise DataError(
            f"protocol {protocol!r} is not available for {dataset}; choose {' or '.join(allowed)}."
        )
    p = Path(path)
    carve: str | None = None  # "train"/"val" when the Charades val carve-out applies
    exclude: set[str] = set()  # videos of an explicit Charades val file, kept out of "train"

    if dataset == "charades-sta":
        if not p.is_dir():
            raise DataError(
                f"charades-sta: {p} is not a directory. Fix: pass the directory holding "
                "charades_sta_{train,test}.txt and Charades_v1_{train,test}.csv."
            )
        file_split = split
        if split == "train_full":
            file_split = "train"
        elif split in ("train", "val"):
            explicit_val = p / "charades_sta_val.txt"
            if not explicit_val.is_file():
                file_split, carve = "train", split
            elif split == "train":
                # train = the official train file minus the videos of the explicit val file
                exclude = {
                    line.split(maxsplit=1)[0]
                    for line in _lines(_read_text(explicit_val))
                    if line.strip()
                }
        txt = p / f"charades_sta_{file_split}.txt"
        csv_path = p / f"Charades_v1_{file_split}.csv"
        missing = [f for f in (txt, csv_path) if not f.is_file()]
        if missing:
            raise DataError(
                f"charades-sta split {split!r}: expected {txt.name} and {csv_path.name} in {p}; "
                f"missing: {', '.join(f.name for f in missing)}. Fix: download them from the "
                "2D-TAN repository's data/Charades-STA folder (see docs/datasets.md)."
            )
        raws = _read_charades_txt(txt, csv_path)
        source = str(txt)
    elif dataset == "activitynet-captions":
        f = _pick_file(p, split, [f"{split}.json"], "activitynet-captions")
        raws, source = _read_activitynet(f), str(f)
    elif dataset == "cpl":
        f = _pick_file(p, split, [f"{split}.json", f"{split}_data.json"], "cpl")
        raws, source = _read_cpl(f), str(f)
    else:
        f = _pick_file(p, split, [f"{split}.jsonl"], "jsonl")
        raws, source = _read_jsonl(f), str(f)

    held_out = 0
    if exclude:
        side = [r for r in raws if r.vid not in exclude]
        held_out, raws = len(raws) - len(side), side
    if carve is not None:
        val_vids = _val_videos((r.vid for r in raws), val_fraction, seed)
        want_val = carve == "val"
        side = [r for r in raws if (r.vid in val_vids) == want_val]
        held_out = len(raws) - len(side)
        raws = side
    queries, report, examples = _apply(raws, protocol)
    report["held_out"] = held_out
    return Annotations(queries, source, protocol, report, examples)


# --------------------------------------------------------------------------------------------
# writers


def _fmt_num(x: float) -> str:
    return repr(float(x))  # shortest text that reads back to the same float


def _need_windows(queries: Sequence[Query], fmt: str) -> None:
    for q in queries:
        if q.window is None:
            raise DataError(
                f"query {q.qid!r} (video {q.vid}) has no window; the {fmt} format needs one for "
                "every query. Fix: write 'jsonl', which allows queries without windows."
            )


def _durations(queries: Sequence[Query], fmt: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for q in queries:
        if out.setdefault(q.vid, q.duration) != q.duration:
            raise DataError(
                f"video {q.vid} has two durations ({out[q.vid]!r} and {q.duration!r}); the {fmt} "
                "format stores one per video. Fix: make the durations agree."
            )
    return out


def output_paths(fmt: str, path: str | os.PathLike[str], split: str | None = None) -> list[Path]:
    """The file(s) :func:`write_annotations` writes for ``fmt`` at ``path``.

    ``path`` names a file when it ends in the format's suffix (``.jsonl``; ``.json`` for
    ``cpl``/``activitynet-captions``; ``.txt`` for ``charades-sta``, which then writes no CSV),
    otherwise a directory, which needs ``split`` to name the file(s) the readers look for.
    """
    if fmt not in DATASETS:
        raise DataError(f"unknown format {fmt!r}; expected one of {', '.join(DATASETS)}.")
    p = Path(path)
    suffix = {"jsonl": ".jsonl", "cpl": ".json", "activitynet-captions": ".json"}.get(fmt, ".txt")
    if p.suffix == suffix and not p.is_dir():
        return [p]
    if not split:
        raise DataError(
            f"{p} is a directory for {fmt}; give a split to name the file (e.g. --split test), "
            f"or give a file path ending in {suffix}."
        )
    if fmt == "charades-sta":
        return [p / f"charades_sta_{split}.txt", p / f"Charades_v1_{split}.csv"]
    return [p / f"{split}{suffix}"]


def write_annotations(
    queries: Sequence[Query],
    fmt: str,
    path: str | os.PathLike[str],
    *,
    split: str | None = None,
) -> list[Path]:
    """Write ``queries`` in ``fmt`` (one of :data:`DATASETS`) and return the files written.

    See :func:`output_paths` for how ``path`` and ``split`` name the files. Every file is
    written atomically (temporary file in the same directory, then :func:`os.replace`).
    ``jsonl`` keeps qids and queries without windows; the other formats need a window per
    query and one duration per video, and their readers regenerate ``"{vid}#{index}"`` qids.
    """
    paths = output_paths(fmt, path, split)
    if fmt == "jsonl":
        text = "".join(json.dumps(q.to_dict(), ensure_ascii=False) + "\n" for q in queries)
        atomic_write_text(paths[0], text)
    elif fmt == "cpl":
        _need_windows(queries, fmt)
        recs = [[q.vid, q.duration, list(q.window or ()), q.sentence] for q in queries]
        atomic_write_text(paths[0], json.dumps(recs, ensure_ascii=False))
    elif fmt == "activitynet-captions":
        _need_windows(queries, fmt)
        durs = _durations(queries, fmt)
        data: dict[str, dict[str, Any]] = {}
        for q in queries:
            entry = data.setdefault(
                q.vid, {"duration": durs[q.vid], "timestamps": [], "sentences": []}
            )
            entry["timestamps"].append(list(q.window or ()))
            entry["sentences"].append(q.sentence)
        atomic_write_text(paths[0], json.dumps(data, ensure_ascii=False))
    else:
        _need_windows(queries, fmt)
        durs = _durations(queries, fmt)
        lines = []
        for q in queries:
            if any(c.isspace() for c in q.vid):
                raise DataError(
                    f"video id {q.vid!r} contains whitespace; charades-sta can't hold it."
                )
            if "\n" in q.sentence or "\r" in q.sentence:
                raise DataError(f"query {q.qid!r}: the sentence contains a line break.")
            s, e = q.window or (0.0, 0.0)
            lines.append(f"{q.vid} {_fmt_num(s)} {_fmt_num(e)}##{q.sentence}\n")
        atomic_write_text(paths[0], "".join(lines))
        if len(paths) > 1:
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\n")
            w.writerow(["id", "length"])
            for vid, d in durs.items():
                w.writerow([vid, _fmt_num(d)])
            atomic_write_text(paths[1], buf.getvalue())
    return paths


__all__ = [
    "DATASETS",
    "PROTOCOLS",
    "REPORT_KEYS",
    "Annotations",
    "output_paths",
    "read_annotations",
    "split_by_video",
    "write_annotations",
]
