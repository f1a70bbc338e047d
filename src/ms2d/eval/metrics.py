"""Temporal-grounding metrics: IoU, NMS, Recall@n at IoU thresholds, mean IoU, result tables.

All functions are pure. Windows are ``(start, end)`` pairs in seconds (any unit works as long as
predictions and ground truth agree). Inputs may be Python sequences, numpy arrays or torch
tensors (tensors are detached and moved to the CPU); computation is done in float64 numpy.

Conventions, fixed here and pinned by ``tests/test_metrics.py``:

* **IoU** of ``a`` and ``b`` is ``intersection / hull``, where ``hull = max(ends) - min(starts)``.
  When the windows overlap, the hull *is* their union; when they do not, the intersection is 0
  and so is the IoU. Touching windows (``a.end == b.start``) have IoU 0. The hull form never
  divides by something smaller than the intersection, so the result is in ``[0, 1]`` even after
  floating-point rounding, and it is exactly symmetric.
* **Zero-length windows**: the only case with ``hull == 0`` is two identical points
  (``a == b == (t, t)``), defined as IoU 1. Any other pair involving a zero-length window has
  intersection 0 and a positive hull, so IoU 0. Nothing is ever divided by zero.
* **Recall** counts a query as a hit when ``IoU >= threshold`` (inclusive): a prediction with
  IoU exactly 0.5 is a hit at ``IoU=0.5``.
* **NMS** suppresses a window whose IoU with an already kept window is ``> threshold``
  (strict, as in 2D-TAN): a window with IoU exactly equal to the threshold is kept.
* **Several ground-truth windows per query** (QVHighlights, Moment-DETR and Lighthouse files):
  ``gts`` may give each query a ``[k, 2]`` array. With ``gt_rule="best"`` (the default) a
  prediction is scored against the ground-truth window it matches best, which is Moment-DETR's
  standalone R@1 rule (it picks the window with the highest IoU with the top-1 prediction);
  ``gt_rule="first"`` scores against each query's first window only. With one window per
  query both rules give the same numbers.
* **mAP** (:func:`mean_average_precision`) follows Moment-DETR's standalone evaluator: per
  query, the first 10 predictions ranked by score (ties keep the file order) are matched
  greedily to the ground-truth windows at each IoU threshold (a window matches at most one
  prediction), the VOC all-point interpolated average precision is taken, and the per-query
  APs are averaged; ``mAP`` is the mean over the thresholds 0.5, 0.55, ..., 0.95.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "GT_RULES",
    "MAP_KEYS",
    "MAP_THRESHOLDS",
    "METRIC_KEYS",
    "average_precision",
    "compute_metrics",
    "format_console_table",
    "format_table",
    "iou",
    "iou_matrix",
    "mean_average_precision",
    "mean_iou",
    "metric_key",
    "nms",
    "paired_difference",
    "recall_at",
    "recall_hits",
]

#: The default metric names, in the order ``compute_metrics`` returns them.
METRIC_KEYS: tuple[str, ...] = (
    "R@1,IoU=0.3",
    "R@1,IoU=0.5",
    "R@1,IoU=0.7",
    "R@5,IoU=0.3",
    "R@5,IoU=0.5",
    "R@5,IoU=0.7",
    "mIoU",
)

#: IoU thresholds of mAP, as Moment-DETR's standalone evaluator defines them (0.5:0.05:0.95).
MAP_THRESHOLDS: tuple[float, ...] = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))
#: The mAP keys :func:`mean_average_precision` returns: at IoU 0.5, at 0.75, and the average.
MAP_KEYS: tuple[str, ...] = ("mAP@0.5", "mAP@0.75", "mAP")
#: How a query with several ground-truth windows is scored (see the module docstring).
GT_RULES: tuple[str, ...] = ("best", "first")


# --------------------------------------------------------------------------- input handling


def _to_numpy(x: Any) -> np.ndarray:
    """``x`` as a float64 numpy array; torch tensors are detached and copied to the CPU."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch.Tensor, without importing torch
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _as_windows(x: Any, name: str) -> np.ndarray:
    """Validate and return ``x`` as a float64 array of shape ``[N, 2]`` (``N`` may be 0)."""
    arr = _to_numpy(x)
    if arr.size == 0:
        return arr.reshape(0, 2)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(
            f"{name} must have shape [N, 2] holding (start, end) pairs; got shape {arr.shape}"
        )
    finite = np.isfinite(arr).all(axis=1)
    if not finite.all():
        i = int(np.flatnonzero(~finite)[0])
        raise ValueError(
            f"{name}[{i}] = {arr[i].tolist()} is not finite; windows need real numbers"
        )
    reversed_ = arr[:, 1] < arr[:, 0]
    if reversed_.any():
        i = int(np.flatnonzero(reversed_)[0])
        raise ValueError(
            f"{name}[{i}] = {arr[i].tolist()} ends before it starts; windows are (start, end) "
            "with start <= end"
        )
    return arr


def _as_window(x: Any, name: str) -> np.ndarray:
    """Validate one ``(start, end)`` window; returned with shape ``[1, 2]``."""
    arr = _to_numpy(x)
    if arr.shape != (2,):
        raise ValueError(f"{name} must be one (start, end) pair; got shape {arr.shape}")
    return _as_windows(arr.reshape(1, 2), name)


def _pairwise_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every row of validated ``a [N, 2]`` with every row of validated ``b [M, 2]``."""
    a_s, a_e = a[:, 0:1], a[:, 1:2]  # [N, 1]
    b_s, b_e = b[None, :, 0], b[None, :, 1]  # [1, M]
    inter = np.maximum(np.minimum(a_e, b_e) - np.maximum(a_s, b_s), 0.0)
    hull = np.maximum(a_e, b_e) - np.minimum(a_s, b_s)
    # hull == 0 exactly when all four endpoints coincide: two identical points -> IoU 1.
    out = np.ones(inter.shape, dtype=np.float64)
    np.divide(inter, hull, out=out, where=hull > 0)
    return out


def _check_threshold(t: Any, name: str) -> float:
    t = float(t)
    if not 0.0 <= t <= 1.0:  # also rejects NaN
        raise ValueError(f"{name} must be in [0, 1]; got {t}")
    return t


def _check_n(n: Any, name: str = "n") -> int:
    if isinstance(n, bool):
        raise ValueError(f"{name} must be a positive integer; got {n!r}")
    try:
        n = operator.index(n)
    except TypeError:
        raise ValueError(f"{name} must be a positive integer; got {n!r}") from None
    if n < 1:
        raise ValueError(f"{name} must be a positive integer; got {n}")
    return n


# --------------------------------------------------------------------------- IoU


def iou(a: Sequence[float] | np.ndarray | Any, b: Sequence[float] | np.ndarray | Any) -> float:
    """Temporal IoU of two ``(start, end)`` windows, in ``[0, 1]``.

    Touching windows give 0; a window nested in another gives ``len(inner) / len(outer)``;
    identical windows give 1. Zero-length windows: two identical points give 1, any other pair
    involving a zero-length window gives 0 (see the module docstring).

    Raises:
        ValueError: a window is not a finite ``(start, end)`` pair with ``start <= end``.
    """
    return float(_pairwise_iou(_as_window(a, "a"), _as_window(b, "b"))[0, 0])


def iou_matrix(pred: np.ndarray | Any, gt: np.ndarray | Any) -> np.ndarray:
    """IoU of every predicted window with every ground-truth window.

    Args:
        pred: ``[N, 2]`` windows (``N`` may be 0).
        gt: ``[M, 2]`` windows (``M`` may be 0).

    Returns:
        float64 array ``[N, M]`` with ``out[i, j] == iou(pred[i], gt[j])`` exactly.
    """
    return _pairwise_iou(_as_windows(pred, "pred"), _as_windows(gt, "gt"))


# --------------------------------------------------------------------------- NMS


def nms(
    windows: np.ndarray | Any,
    scores: np.ndarray | Any,
    threshold: float = 0.5,
    top_n: int | None = None,
) -> np.ndarray:
    """Greedy temporal non-maximum suppression.

    Windows are visited by descending score; equal scores keep their input order (lower index
    first), so the result is deterministic. A visited window is kept unless its IoU with a window
    already kept is **strictly greater** than ``threshold`` (IoU exactly equal to ``threshold``
    is kept, as in 2D-TAN).

    Args:
        windows: ``[N, 2]`` candidate windows.
        scores: ``[N]`` scores, higher is better.
        threshold: IoU above which a lower-scored window is suppressed, in ``[0, 1]``;
            ``1.0`` suppresses nothing.
        top_n: stop once this many windows are kept; ``None`` keeps every survivor.

    Returns:
        int64 array of kept indices into ``windows``, best score first.
    """
    w = _as_windows(windows, "windows")
    s = _to_numpy(scores)
    if s.size == 0:
        s = s.reshape(0)
    if s.ndim != 1:
        raise ValueError(f"scores must have shape [N]; got shape {s.shape}")
    if s.shape[0] != w.shape[0]:
        raise ValueError(f"got {w.shape[0]} windows but {s.shape[0]} scores; need one score each")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite numbers")
    threshold = _check_threshold(threshold, "threshold")
    limit = w.shape[0] if top_n is None else min(_check_topn(top_n), w.shape[0])

    order = np.argsort(-s, kind="stable")
    keep: list[int] = []
    while order.size and len(keep) < limit:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        if rest.size:
            ious = _pairwise_iou(w[i : i + 1], w[rest])[0]
            rest = rest[ious <= threshold]
        order = rest
    return np.asarray(keep, dtype=np.int64)


def _check_topn(top_n: Any) -> int:
    if isinstance(top_n, bool):
        raise ValueError(f"top_n must be a non-negative integer or None; got {top_n!r}")
    try:
        top_n = operator.index(top_n)
    except TypeError:
        raise ValueError(f"top_n must be a non-negative integer or None; got {top_n!r}") from None
    if top_n < 0:
        raise ValueError(f"top_n must be a non-negative integer or None; got {top_n}")
    return top_n


# --------------------------------------------------------------------------- recall and mIoU


def _as_gt_list(gts: Any) -> list[np.ndarray]:
    """Ground truth as one validated ``[k_q, 2]`` array per query (``k_q >= 1``).

    ``gts`` is either ``[Q, 2]`` (one window per query) or a sequence with, per query, one
    ``(start, end)`` pair or a list of them.
    """
    if hasattr(gts, "detach") or isinstance(gts, np.ndarray):
        arr = _to_numpy(gts)
        if arr.ndim == 3:
            return [_as_windows(a, f"gts[{q}]") for q, a in enumerate(arr)]
        return [row[None] for row in _as_windows(arr, "gts")]
    try:
        items = list(gts)
    except TypeError:
        raise ValueError("gts must be [Q, 2] windows or one list of windows per query") from None
    out = []
    for q, item in enumerate(items):
        arr = _to_numpy(item)
        if arr.ndim == 1:
            arr = arr.reshape(1, -1) if arr.size else arr.reshape(0, 2)
        w = _as_windows(arr, f"gts[{q}]")
        if w.shape[0] == 0:
            raise ValueError(f"gts[{q}] has no window; every query needs a ground-truth window")
        out.append(w)
    return out


def _check_rule(gt_rule: str) -> str:
    if gt_rule not in GT_RULES:
        raise ValueError(f"gt_rule must be one of {', '.join(GT_RULES)}; got {gt_rule!r}")
    return gt_rule


def _prepare(preds: Sequence[Any], gts: Any) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Validate a ranked-prediction list against the ground truth (one or more windows each)."""
    gt = _as_gt_list(gts)
    try:
        n_preds = len(preds)
    except TypeError:
        raise ValueError(
            "preds must be a sequence with one ranked [n_i, 2] array per query"
        ) from None
    if n_preds != len(gt):
        raise ValueError(
            f"got predictions for {n_preds} queries but {len(gt)} ground-truth windows; "
            "pass one ranked prediction array per query, in the same order as gts"
        )
    if not gt:
        raise ValueError("no queries to evaluate: gts is empty")
    return [_as_windows(p, f"preds[{q}]") for q, p in enumerate(preds)], gt


def _topk_ious(preds: list[np.ndarray], gt: list[np.ndarray], k: int,
               gt_rule: str = "best") -> list[np.ndarray]:
    """Per query, the IoU of each of its first ``k`` predictions with its ground truth: the
    best-matching window (``"best"``) or the first one (``"first"``)."""
    cols = slice(None) if _check_rule(gt_rule) == "best" else slice(0, 1)
    out = []
    for p, g in zip(preds, gt):
        m = _pairwise_iou(p[:k], g[cols])
        out.append(m.max(axis=1) if m.shape[0] else np.zeros(0))
    return out


def _best_at(ious: list[np.ndarray], n: int) -> np.ndarray:
    """Per query, the best IoU among the first ``n`` predictions; -1 when it has none."""
    return np.array([x[:n].max() if x.size else -1.0 for x in ious], dtype=np.float64)


def recall_at(
    preds: Sequence[np.ndarray | Any],
    gts: np.ndarray | Any,
    n: int,
    iou_threshold: float,
    *,
    gt_rule: str = "best",
) -> float:
    """Recall@n at an IoU threshold, as a fraction in ``[0, 1]``.

    A query is a hit when at least one of its first ``n`` ranked predictions has
    ``IoU >= iou_threshold`` (inclusive) with its ground-truth window. A query with fewer than
    ``n`` predictions is judged on the ones it has; a query with none is a miss (even at
    threshold 0).

    Args:
        preds: one ``[n_i, 2]`` array per query, ranked best first (``n_i`` may be 0).
        gts: ``[Q, 2]`` ground-truth windows, same order as ``preds``, or one ``[k_q, 2]``
            array of windows per query.
        n: how many top predictions to look at, ``>= 1``.
        iou_threshold: in ``[0, 1]``.
        gt_rule: ``"best"`` (the window each prediction matches best, Moment-DETR's rule)
            or ``"first"`` (the query's first window).

    Raises:
        ValueError: mismatched lengths, no queries, bad windows, bad ``n`` or threshold.
    """
    return float(np.mean(recall_hits(preds, gts, n, iou_threshold, gt_rule=gt_rule)))


def recall_hits(
    preds: Sequence[np.ndarray | Any],
    gts: np.ndarray | Any,
    n: int,
    iou_threshold: float,
    *,
    gt_rule: str = "best",
) -> np.ndarray:
    """Per query, whether it is a hit of :func:`recall_at` (a ``[Q]`` bool array; its mean is
    the recall): for paired comparisons of two models on the same queries. Arguments and
    errors as for :func:`recall_at`."""
    n = _check_n(n)
    t = _check_threshold(iou_threshold, "iou_threshold")
    p, gt = _prepare(preds, gts)
    return _best_at(_topk_ious(p, gt, n, gt_rule), n) >= t


def paired_difference(hits_a: np.ndarray | Any, hits_b: np.ndarray | Any) -> tuple[float, float]:
    """Two models' per-query hits on the same queries (:func:`recall_hits`) -> the difference of
    their recalls and the standard error of that paired difference, both in points (x 100).

    Raises:
        ValueError: the two arrays differ in length or hold fewer than two queries.
    """
    a = np.asarray(hits_a, dtype=np.float64).reshape(-1)
    b = np.asarray(hits_b, dtype=np.float64).reshape(-1)
    if len(a) != len(b) or len(a) < 2:
        raise ValueError(f"paired_difference needs two hit arrays of one length >= 2, got "
                         f"{len(a)} and {len(b)}")
    diff = a - b
    return 100 * float(diff.mean()), 100 * float(diff.std(ddof=1) / np.sqrt(len(diff)))


def mean_iou(preds: Sequence[np.ndarray | Any], gts: np.ndarray | Any, *,
             gt_rule: str = "best") -> float:
    """Mean IoU of each query's top-1 prediction with its ground truth, in ``[0, 1]``.

    A query with no predictions contributes IoU 0. Arguments as for :func:`recall_at`.
    """
    p, gt = _prepare(preds, gts)
    best = _best_at(_topk_ious(p, gt, 1, gt_rule), 1)
    return float(np.mean(np.maximum(best, 0.0)))


def metric_key(n: int, threshold: float) -> str:
    """The result-dict key for Recall@n at an IoU threshold, e.g. ``"R@1,IoU=0.5"``."""
    return f"R@{n},IoU={threshold:g}"


def compute_metrics(
    preds: Sequence[np.ndarray | Any],
    gts: np.ndarray | Any,
    ns: Iterable[int] = (1, 5),
    thresholds: Iterable[float] = (0.3, 0.5, 0.7),
    *,
    gt_rule: str = "best",
) -> dict[str, float]:
    """The standard table: Recall@n at each IoU threshold, then mean top-1 IoU.

    Values are in **percent**, rounded to 2 decimals. Keys are ``"R@{n},IoU={t}"`` for each
    ``n`` in ``ns`` and, within it, each ``t`` in ``thresholds``, followed by ``"mIoU"``; with the
    defaults they are exactly :data:`METRIC_KEYS`, in that order. Semantics as in
    :func:`recall_at` (inclusive ``>=``; fewer than ``n`` predictions use what there is; no
    predictions is a miss with IoU 0) and :func:`mean_iou`; ``gts`` may hold several windows
    per query, scored by ``gt_rule`` (see the module docstring).

    Raises:
        ValueError: mismatched lengths (with both counts in the message), no queries, bad input.
    """
    ns = [_check_n(n, "ns entry") for n in ns]
    thresholds = [_check_threshold(t, "thresholds entry") for t in thresholds]
    p, gt = _prepare(preds, gts)
    ious = _topk_ious(p, gt, max([1, *ns]), gt_rule)
    out: dict[str, float] = {}
    for n in ns:
        best = _best_at(ious, n)
        for t in thresholds:
            out[metric_key(n, t)] = _percent(float(np.mean(best >= t)))
    out["mIoU"] = _percent(float(np.mean(np.maximum(_best_at(ious, 1), 0.0))))
    return out


def _percent(fraction: float) -> float:
    return round(100.0 * fraction, 2)


# --------------------------------------------------------------------------- mAP


def average_precision(
    pred: np.ndarray | Any,
    gt: np.ndarray | Any,
    thresholds: Iterable[float] = MAP_THRESHOLDS,
    max_preds: int | None = 10,
) -> np.ndarray:
    """Average precision of one query's predictions at each IoU threshold (fractions).

    Args:
        pred: ``[n, 2]`` windows in rank order, or ``[n, 3]`` with a score column; only the
            first ``max_preds`` rows are used (``None``: all). They are ranked by score,
            highest first, ties (and windows without scores) in the given order.
        gt: ``[k, 2]`` ground-truth windows (``k >= 1``).
        thresholds: IoU thresholds.

    At each threshold the ranked predictions claim ground-truth windows greedily: a prediction
    is a true positive when its best-matching window that no higher-ranked prediction claimed
    has ``IoU >= threshold``, else a false positive. AP is the area under the precision-recall
    curve with precision made non-increasing (VOC all-point interpolation); no predictions
    give 0.
    """
    ts = [_check_threshold(t, "thresholds entry") for t in thresholds]
    arr = _to_numpy(pred)
    if arr.size == 0:
        return np.zeros(len(ts))
    if arr.ndim != 2 or arr.shape[1] not in (2, 3):
        raise ValueError(f"pred must have shape [n, 2] or [n, 3]; got {arr.shape}")
    if max_preds is not None:
        arr = arr[: _check_n(max_preds, "max_preds")]
    if arr.shape[1] == 3:
        if not np.isfinite(arr[:, 2]).all():
            raise ValueError("pred scores must be finite numbers")
        arr = arr[np.argsort(-arr[:, 2], kind="stable")]
    windows = _as_windows(arr[:, :2], "pred")
    g = _as_windows(gt, "gt")
    if g.shape[0] == 0:
        raise ValueError("gt has no window; AP needs at least one ground-truth window")
    ious = _pairwise_iou(windows, g)  # [n, k]
    out = np.zeros(len(ts))
    for i, t in enumerate(ts):
        claimed = np.zeros(g.shape[0], dtype=bool)
        tp = np.zeros(windows.shape[0])
        for j, row in enumerate(ious):
            free = np.where(claimed, -1.0, row)
            k = int(np.argmax(free))
            if free[k] >= t:
                claimed[k] = True
                tp[j] = 1.0
        hits = np.cumsum(tp)
        precision = hits / np.arange(1, len(tp) + 1)
        recall = hits / g.shape[0]
        out[i] = _interpolated_ap(precision, recall)
    return out


def _interpolated_ap(precision: np.ndarray, recall: np.ndarray) -> float:
    """Area under the precision-recall curve, precision made non-increasing in recall (each
    point takes the best precision at any recall at least as large), recall from 0 to 1."""
    p = np.concatenate([[0.0], precision, [0.0]])
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]
    steps = np.flatnonzero(r[1:] != r[:-1]) + 1
    return float(np.sum((r[steps] - r[steps - 1]) * p[steps]))


def mean_average_precision(
    preds: Sequence[np.ndarray | Any],
    gts: np.ndarray | Any,
    thresholds: Iterable[float] = MAP_THRESHOLDS,
    max_preds: int | None = 10,
) -> dict[str, float]:
    """mAP as Moment-DETR's standalone evaluator defines it, in percent (2 decimals).

    ``preds``: one ``[n_i, 2]`` or ``[n_i, 3]`` (with scores) array per query; ``gts``: as in
    :func:`compute_metrics` (every window of a query counts). Returns ``"mAP@{t}"`` for each
    threshold with ``t`` 0.5 or 0.75 (the two the field reports; all of them with other
    ``thresholds``), then ``"mAP"``: the mean over ``thresholds``. A query without predictions
    has AP 0 (Moment-DETR's script expects at least one per query).
    """
    ts = [_check_threshold(t, "thresholds entry") for t in thresholds]
    if not ts:
        raise ValueError("thresholds is empty")
    gt = _as_gt_list(gts)
    if len(preds) != len(gt):
        raise ValueError(
            f"got predictions for {len(preds)} queries but {len(gt)} ground-truth entries; "
            "pass one prediction array per query, in the same order as gts"
        )
    if not gt:
        raise ValueError("no queries to evaluate: gts is empty")
    ap = np.stack([average_precision(p, g, ts, max_preds) for p, g in zip(preds, gt)])
    per_threshold = ap.mean(axis=0)
    shown = [i for i, t in enumerate(ts) if t in (0.5, 0.75)] if list(ts) == list(
        MAP_THRESHOLDS) else range(len(ts))
    out = {f"mAP@{ts[i]:g}": _percent(float(per_threshold[i])) for i in shown}
    out["mAP"] = _percent(float(per_threshold.mean()))
    return out


# --------------------------------------------------------------------------- tables


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return "-" if math.isnan(value) else f"{float(value):.2f}"
    return str(value)


def _grid(rows: Mapping[str, Mapping[str, Any]], keys: Sequence[str]) -> list[list[str]]:
    return [[str(method), *(_cell(r.get(k)) for k in keys)] for method, r in rows.items()]


def format_table(rows: Mapping[str, Mapping[str, Any]], keys: Sequence[str] = METRIC_KEYS) -> str:
    """A Markdown table: one row per method (first column ``method``), one column per key.

    Floats print with 2 decimals, integers as integers, a missing key as ``-``.

    >>> print(format_table({"ours": {"mIoU": 28.6458}}, keys=("mIoU",)))
    | method | mIoU |
    |---|---:|
    | ours | 28.65 |
    """
    keys = list(keys)

    def esc(s: str) -> str:
        return s.replace("|", "\\|")

    lines = [
        "| " + " | ".join(esc(c) for c in ["method", *keys]) + " |",
        "|---|" + "---:|" * len(keys),
    ]
    lines += ["| " + " | ".join(esc(c) for c in r) + " |" for r in _grid(rows, keys)]
    return "\n".join(lines)


def format_console_table(
    rows: Mapping[str, Mapping[str, Any]], keys: Sequence[str] = METRIC_KEYS
) -> str:
    """An aligned plain-text table for terminals: method left-aligned, numbers right-aligned.

    >>> print(format_console_table({"ours": {"mIoU": 28.6458}}, keys=("mIoU",)))
    method   mIoU
    ------  -----
    ours    28.65
    """
    keys = list(keys)
    header = ["method", *keys]
    body = _grid(rows, keys)
    widths = [max(len(r[c]) for r in [header, *body]) for c in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        parts = [cells[0].ljust(widths[0])]
        parts += [c.rjust(w) for c, w in zip(cells[1:], widths[1:])]
        return "  ".join(parts).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in body)])
