"""Evaluate a predictions file against a ground-truth file, and write predictions files.

Predictions JSONL, one line per query, ranked best first (the file order *is* the rank for
R@n and mIoU; mAP ranks by score, as Moment-DETR does)::

    {"qid": "q1", "pred_windows": [[12.0, 18.5, 0.93], [3.0, 9.0, 0.41]]}

``pred_relevant_windows`` (Moment-DETR, Lighthouse, the QVHighlights submission format) is read
as well as ``pred_windows``; other keys (``query``, ``vid``, ``pred_saliency_scores`` ...) are
ignored. The score (third number) is optional, but within one query either every window has
one or none does. An empty list is allowed and counts as a miss.

Ground-truth JSONL is the project's annotation format (what :meth:`ms2d.data.records.Query.to_dict`
writes), or Moment-DETR / QVHighlights / Lighthouse files as distributed (``relevant_windows``;
their highlight labels are ignored)::

    {"qid": "q1", "vid": "v7", "query": "a man opens the door", "duration": 30.0,
     "windows": [[12.0, 18.0]]}
    {"qid": 7803, "vid": "RoripwjYFp8_360.0_510.0", "query": "...", "duration": 150,
     "relevant_windows": [[26, 36], [70, 84]], "relevant_clip_ids": [...], ...}

A query may have several ground-truth windows: by default (``gt_rule="best"``) a prediction is
scored against the window it matches best, Moment-DETR's rule; ``gt_rule="first"`` uses only
the first window. ``qid`` is a string or an integer (matched by its text: ``7803`` and
``"7803"`` are the same query).

Every problem with the files raises :class:`ms2d.data.records.DataError` naming the file, the line
and the fix. Blank lines are ignored.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..data.formats.jsonl import read_jsonl
from ..data.records import DataError, Query
from .metrics import GT_RULES, _to_numpy, compute_metrics, mean_average_precision

__all__ = [
    "GOLDEN_DIR",
    "evaluate_files",
    "load_ground_truth",
    "load_predictions",
    "save_predictions",
]

PathLike = str | os.PathLike[str]

#: Folder of the hand-checked golden sample (``predictions.jsonl``, ``ground_truth.jsonl``,
#: ``expected_metrics.json``) shipped with the package.
GOLDEN_DIR: Path = Path(__file__).resolve().parent / "golden"

_MAX_LISTED = 5


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _get_qid(obj: dict[str, Any], where: str, seen: dict[str, int]) -> str:
    """The query id as text (an integer qid, as in QVHighlights, becomes its decimal text)."""
    if "qid" not in obj:
        raise DataError(f'{where}: missing "qid"; add the query id (a string or an integer)')
    qid = obj["qid"]
    if isinstance(qid, int) and not isinstance(qid, bool):
        qid = str(qid)
    if not isinstance(qid, str) or not qid:
        raise DataError(
            f'{where}: "qid" must be a non-empty string or an integer, got {qid!r}'
        )
    if qid in seen:
        raise DataError(
            f"{where}: duplicate qid {qid!r} (first seen on line {seen[qid]}); "
            "each query must appear exactly once"
        )
    return qid


def _one_of(obj: dict[str, Any], names: tuple[str, str], where: str) -> str | None:
    """Which of two alternative key names the line uses (``None``: neither)."""
    present = [n for n in names if n in obj]
    if len(present) > 1:
        raise DataError(f"{where}: both {names[0]!r} and {names[1]!r}; keep one of them")
    return present[0] if present else None


def _parse_window(w: Any, where: str, what: str, allow_score: bool) -> list[float]:
    sizes = "2 or 3 numbers [start, end(, score)]" if allow_score else "2 numbers [start, end]"
    if not isinstance(w, list) or len(w) not in ((2, 3) if allow_score else (2,)):
        raise DataError(f"{where}: {what} = {w!r} must be a list of {sizes}")
    if not all(_is_number(x) for x in w):
        raise DataError(f"{where}: {what} = {w!r} must hold finite numbers only")
    if w[1] < w[0]:
        raise DataError(f"{where}: {what} = {w!r} ends before it starts; use [start, end]")
    return [float(x) for x in w]


# --------------------------------------------------------------------------- loaders


def load_predictions(path: PathLike) -> dict[str, np.ndarray]:
    """Read a predictions JSONL file.

    Returns:
        ``{qid: array}`` in file order; each array is float64 ``[n, 2]`` (start, end) or, when the
        query's windows carry scores, ``[n, 3]`` (start, end, score); rows keep the file's rank
        order. ``n`` may be 0 (shape ``[0, 2]``).

    Raises:
        DataError: malformed line, missing/invalid field, bad window, duplicate qid.
        FileNotFoundError: no such file.
    """
    example = '{"qid": "q1", "pred_windows": [[12.0, 18.5, 0.93], [3.0, 9.0, 0.41]]}'
    out: dict[str, np.ndarray] = {}
    seen: dict[str, int] = {}
    for lineno, obj in read_jsonl(path, f"Fix: one JSON object per line, e.g. {example}"):
        where = f"{path}: line {lineno}"
        qid = _get_qid(obj, where, seen)
        seen[qid] = lineno
        key = _one_of(obj, ("pred_windows", "pred_relevant_windows"), where)
        if key is None:
            raise DataError(
                f'{where}: missing "pred_windows" (or Moment-DETR\'s "pred_relevant_windows"); '
                f"add the ranked list, e.g. {example}"
            )
        ws = obj[key]
        if not isinstance(ws, list):
            raise DataError(f'{where}: "{key}" must be a list of [start, end(, score)]')
        rows = [_parse_window(w, where, f"{key}[{i}]", True) for i, w in enumerate(ws)]
        if len({len(r) for r in rows}) > 1:
            raise DataError(
                f"{where}: some pred_windows have a score and some do not; give every window of "
                "a query a score, or none"
            )
        out[qid] = np.asarray(rows, dtype=np.float64).reshape(
            len(rows), len(rows[0]) if rows else 2
        )
    return out


def load_ground_truth(path: PathLike) -> dict[str, Query]:
    """Read a ground-truth JSONL file: ms2d's annotation format or Moment-DETR's.

    Returns:
        ``{qid: Query}`` in file order; ``window`` is the line's first window and
        ``extra_windows`` the others (``Query.windows`` lists them all).

    Raises:
        DataError: malformed line, missing/invalid field, no window, duplicate qid.
        FileNotFoundError: no such file.
    """
    example = (
        '{"qid": "q1", "vid": "v7", "query": "a man opens the door", "duration": 30.0, '
        '"windows": [[12.0, 18.0]]}'
    )
    out: dict[str, Query] = {}
    seen: dict[str, int] = {}
    for lineno, obj in read_jsonl(path, f"Fix: one JSON object per line, e.g. {example}"):
        where = f"{path}: line {lineno}"
        qid = _get_qid(obj, where, seen)
        seen[qid] = lineno
        key = _one_of(obj, ("windows", "relevant_windows"), where)
        missing = [k for k in ("vid", "query", "duration") if k not in obj]
        if key is None:
            missing.append("windows")
        if missing:
            raise DataError(
                f"{where}: missing field(s) {', '.join(missing)}; each line needs e.g. {example} "
                '(or Moment-DETR\'s "relevant_windows" instead of "windows")'
            )
        if not isinstance(obj["vid"], str) or not isinstance(obj["query"], str):
            raise DataError(f'{where}: "vid" and "query" must be strings')
        duration = obj["duration"]
        if not _is_number(duration) or duration < 0:
            raise DataError(f'{where}: "duration" must be a non-negative number of seconds')
        ws = obj[key]
        if not isinstance(ws, list) or not ws:
            raise DataError(
                f'{where}: "{key}" must be a non-empty list of [start, end]; evaluation needs '
                "a ground-truth moment for every query"
            )
        windows = [tuple(_parse_window(w, where, f"{key}[{i}]", False)) for i, w in enumerate(ws)]
        out[qid] = Query(
            qid=qid,
            vid=obj["vid"],
            sentence=obj["query"],
            duration=float(duration),
            window=windows[0],
            extra_windows=tuple(windows[1:]),
        )
    return out


# --------------------------------------------------------------------------- evaluation


def _listing(qids: list[str]) -> str:
    shown = ", ".join(repr(q) for q in qids[:_MAX_LISTED])
    return shown + (", ..." if len(qids) > _MAX_LISTED else "")


def evaluate_files(pred_path: PathLike, gt_path: PathLike, *,
                   gt_rule: str = "best") -> dict[str, float | int]:
    """Score a predictions file against a ground-truth file.

    Every ground-truth qid must have exactly one predictions line and vice versa.

    Args:
        gt_rule: how a query with several ground-truth windows is scored for R@n and mIoU:
            ``"best"`` (the window a prediction matches best: Moment-DETR's R@1) or
            ``"first"`` (the first window only). mAP always uses every window.

    Returns:
        :func:`ms2d.eval.metrics.compute_metrics` with its defaults (the keys of
        :data:`~ms2d.eval.metrics.METRIC_KEYS`, in percent), then
        :func:`~ms2d.eval.metrics.mean_average_precision` (``mAP@0.5``, ``mAP@0.75``,
        ``mAP``), plus ``"num_queries"`` (int).

    Raises:
        DataError: a bad line in either file, an empty ground truth, qids missing from the
            predictions, or prediction qids unknown to the ground truth.
    """
    if gt_rule not in GT_RULES:
        raise ValueError(f"gt_rule must be one of {', '.join(GT_RULES)}; got {gt_rule!r}")
    gt = load_ground_truth(gt_path)
    preds = load_predictions(pred_path)
    if not gt:
        raise DataError(f"{gt_path}: no queries; the ground-truth file is empty")
    missing = [q for q in gt if q not in preds]
    if missing:
        raise DataError(
            f"{pred_path}: {len(missing)} of {len(gt)} ground-truth qids have no prediction "
            f"({_listing(missing)}); add one line per ground-truth query (an empty "
            '"pred_windows" list counts as a miss)'
        )
    extra = [q for q in preds if q not in gt]
    if extra:
        raise DataError(
            f"{pred_path}: {len(extra)} predicted qids are not in {gt_path} ({_listing(extra)}); "
            "remove them or evaluate against the matching ground truth"
        )
    order = list(gt)
    windows = [preds[q][:, :2] for q in order]
    gts = [np.asarray(gt[q].windows, dtype=np.float64) for q in order]
    result: dict[str, float | int] = dict(compute_metrics(windows, gts, gt_rule=gt_rule))
    result.update(mean_average_precision([preds[q] for q in order], gts))
    result["num_queries"] = len(order)
    return result


# --------------------------------------------------------------------------- writer


def _records(records: Mapping[str, Any] | Iterable[Mapping[str, Any]]) -> Iterator[tuple[str, Any]]:
    if isinstance(records, Mapping):
        yield from records.items()
        return
    for i, r in enumerate(records):
        if not isinstance(r, Mapping) or "qid" not in r or "pred_windows" not in r:
            raise ValueError(
                f'records[{i}] must be a mapping with "qid" and "pred_windows"; got {r!r}'
            )
        yield r["qid"], r["pred_windows"]


def save_predictions(
    path: PathLike, records: Mapping[str, Any] | Iterable[Mapping[str, Any]]
) -> None:
    """Write a predictions JSONL file atomically (temp file in the same folder, then replace).

    Args:
        path: destination; its folder is created if needed.
        records: either ``{qid: windows}`` (what :func:`load_predictions` returns) or an iterable
            of ``{"qid": ..., "pred_windows": ...}`` mappings. ``windows`` is ``[n, 2]`` or
            ``[n, 3]`` (with scores), ranked best first: a list, numpy array or torch tensor.

    Raises:
        ValueError: a qid that is not a non-empty string, a duplicate qid, or windows that are
            not finite ``[n, 2]``/``[n, 3]`` rows with start <= end. Nothing is written then.
    """
    lines: list[str] = []
    seen: set[str] = set()
    for qid, ws in _records(records):
        if not isinstance(qid, str) or not qid:
            raise ValueError(f"qid must be a non-empty string; got {qid!r}")
        if qid in seen:
            raise ValueError(f"duplicate qid {qid!r}; each query must be written once")
        seen.add(qid)
        arr = _to_numpy(ws)
        if arr.size == 0:
            arr = arr.reshape(0, 2)
        if arr.ndim != 2 or arr.shape[1] not in (2, 3):
            raise ValueError(
                f"qid {qid!r}: windows must have shape [n, 2] or [n, 3]; got {arr.shape}"
            )
        if not np.isfinite(arr).all() or (arr[:, 1] < arr[:, 0]).any():
            raise ValueError(f"qid {qid!r}: windows must be finite with start <= end")
        row = {"qid": qid, "pred_windows": arr.tolist()}
        lines.append(json.dumps(row, ensure_ascii=False, allow_nan=False))

    from ..files import atomic_write_text

    atomic_write_text(path, "".join(line + "\n" for line in lines))
