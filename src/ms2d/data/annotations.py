"""Annotation files in, :class:`Query` lists out (and back): the public face of the formats.

:func:`read_annotations` reads one split of a format of :data:`DATASETS` (one reader per format:
:mod:`ms2d.data.formats`) and applies a protocol of :data:`PROTOCOLS` to the windows;
:func:`write_annotations` writes queries in any format. The formats, the JSONL schema, the
protocols and the report keys are described in docs/datasets.md.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .formats import FORMATS
from .formats.common import Raw
from .formats.common import val_videos as _val_videos
from .formats.jsonl import KEYS as JSONL_KEYS
from .records import DataError, Query

DATASETS: tuple[str, ...] = tuple(FORMATS)
PROTOCOLS: dict[str, tuple[str, ...]] = {name: f.PROTOCOLS for name, f in FORMATS.items()}
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

    ``dataset`` is one of :data:`DATASETS`; see docs/datasets.md for the directory layouts,
    the protocols and the report keys. ``val_fraction`` and ``seed`` only matter for the
    Charades-STA ``"train"``/``"val"`` carve-out (see :func:`split_by_video`).
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
    read = FORMATS[dataset].read(Path(path), split, val_fraction=val_fraction, seed=seed)
    queries, report, examples = _apply(read.raws, protocol)
    report["held_out"] = read.held_out
    return Annotations(queries, read.source, protocol, report, examples)


# --------------------------------------------------------------------------------------------
# protocols: which windows a record keeps, and the report


def _apply(raws: Iterable[Raw], protocol: str
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
# writers


def output_paths(fmt: str, path: str | os.PathLike[str], split: str | None = None) -> list[Path]:
    """The file(s) :func:`write_annotations` writes for ``fmt`` at ``path``.

    ``path`` names a file when it ends in the format's suffix (``.jsonl``; ``.json`` for
    ``cpl``/``activitynet-captions``; ``.txt`` for ``charades-sta``, which then writes no CSV),
    otherwise a directory, which needs ``split`` to name the file(s) the readers look for.
    """
    if fmt not in DATASETS:
        raise DataError(f"unknown format {fmt!r}; expected one of {', '.join(DATASETS)}.")
    p = Path(path)
    suffix = FORMATS[fmt].SUFFIX
    if p.suffix == suffix and not p.is_dir():
        return [p]
    if not split:
        raise DataError(
            f"{p} is a directory for {fmt}; give a split to name the file (e.g. --split test), "
            f"or give a file path ending in {suffix}."
        )
    return FORMATS[fmt].output_files(p, split)


def write_annotations(
    queries: Sequence[Query],
    fmt: str,
    path: str | os.PathLike[str],
    *,
    split: str | None = None,
) -> list[Path]:
    """Write ``queries`` in ``fmt`` (one of :data:`DATASETS`) and return the files written.

    See :func:`output_paths` for how ``path`` and ``split`` name the files. Every file is
    written atomically (:func:`ms2d.files.atomic_path`). ``jsonl`` keeps qids and queries
    without windows; the other formats need a window per query and one duration per video, and
    their readers regenerate ``"{vid}#{index}"`` qids.
    """
    paths = output_paths(fmt, path, split)
    FORMATS[fmt].write(queries, paths)
    return paths


__all__ = [
    "DATASETS",
    "JSONL_KEYS",
    "PROTOCOLS",
    "REPORT_KEYS",
    "Annotations",
    "output_paths",
    "read_annotations",
    "split_by_video",
    "write_annotations",
]
