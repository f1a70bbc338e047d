"""Edge cases and properties of ms2d.eval.metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ms2d.eval import (
    METRIC_KEYS,
    compute_metrics,
    format_table,
    iou,
    iou_matrix,
    mean_iou,
    nms,
    paired_difference,
    recall_at,
    recall_hits,
)
from ms2d.eval.metrics import format_console_table

PROPS = settings(max_examples=200, deadline=None)

# --------------------------------------------------------------------------- iou


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((0, 4), (4, 8), 0.0),  # touching
        ((4, 8), (0, 4), 0.0),  # touching, other side
        ((0, 2), (5, 9), 0.0),  # disjoint
        ((0, 8), (2, 4), 0.25),  # nested: len(inner) / len(outer)
        ((2, 4), (0, 8), 0.25),
        ((1.5, 7.25), (1.5, 7.25), 1.0),  # identical
        ((0, 4), (2, 6), 2 / 6),  # partial overlap
        ((0, 10), (0, 3), 0.3),
        ((0, 10), (3, 10), 0.7),
        ((0, 4), (0, 2), 0.5),
    ],
)
def test_iou_values(a, b, expected):
    assert iou(a, b) == expected


def test_iou_exact_thresholds_are_exact():
    # The division is correctly rounded, so 3/10 and 7/10 equal the literals exactly.
    assert iou((0.0, 10.0), (0.0, 3.0)) == 0.3
    assert iou((0.0, 10.0), (3.0, 10.0)) == 0.7
    assert iou((0.0, 8.0), (0.0, 4.0)) == 0.5


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((3, 3), (3, 3), 1.0),  # identical points
        ((3, 3), (4, 4), 0.0),  # distinct points
        ((2, 2), (0, 4), 0.0),  # point inside a window
        ((0, 4), (2, 2), 0.0),
        ((0, 0), (0, 4), 0.0),  # point at a window's start
        ((4, 4), (0, 4), 0.0),  # point at a window's end
    ],
)
def test_iou_zero_length(a, b, expected):
    assert iou(a, b) == expected


def test_iou_accepts_numpy_and_torch():
    assert iou(np.array([0.0, 8.0]), torch.tensor([2.0, 4.0])) == 0.25
    t = torch.tensor([0.0, 4.0], requires_grad=True)
    assert iou(t, (0, 2)) == 0.5
    assert isinstance(iou(t, (0, 2)), float)


@pytest.mark.parametrize("bad", [(4, 2), (0, float("nan")), (0, float("inf")), (1, 2, 3), ()])
def test_iou_rejects_bad_windows(bad):
    with pytest.raises(ValueError):
        iou(bad, (0, 1))


def test_iou_matrix_shape_and_values():
    pred = np.array([[0, 4], [4, 8], [2, 2]], dtype=float)
    gt = np.array([[0, 8], [2, 2]], dtype=float)
    m = iou_matrix(pred, gt)
    assert m.shape == (3, 2)
    np.testing.assert_array_equal(m, [[0.5, 0.0], [0.5, 0.0], [0.0, 1.0]])


def test_iou_matrix_empty_and_torch():
    assert iou_matrix(np.zeros((0, 2)), [[0, 1]]).shape == (0, 1)
    assert iou_matrix([], [[0, 1], [1, 2]]).shape == (0, 2)
    assert iou_matrix([[0, 1]], []).shape == (1, 0)
    m = iou_matrix(torch.tensor([[0.0, 4.0]]), torch.tensor([[0.0, 2.0]]))
    assert isinstance(m, np.ndarray) and m[0, 0] == 0.5


def test_iou_matrix_rejects_bad_shape():
    with pytest.raises(ValueError, match=r"\[N, 2\]"):
        iou_matrix([[0, 1, 2]], [[0, 1]])
    with pytest.raises(ValueError, match="ends before it starts"):
        iou_matrix([[0, 1], [3, 2]], [[0, 1]])


# --------------------------------------------------------------------------- nms


def test_nms_keeps_iou_exactly_at_threshold():
    # IoU([0,4],[0,2]) == 0.5 exactly: kept at threshold 0.5 (suppression is strict `>`).
    windows = [[0, 4], [0, 2]]
    scores = [0.9, 0.8]
    assert nms(windows, scores, threshold=0.5).tolist() == [0, 1]
    assert nms(windows, scores, threshold=0.49).tolist() == [0]


def test_nms_suppresses_and_orders_by_score():
    windows = [[0, 10], [0, 9], [20, 30], [21, 30], [40, 41]]
    scores = [0.5, 0.9, 0.1, 0.7, 0.3]
    assert nms(windows, scores, threshold=0.5).tolist() == [1, 3, 4]


def test_nms_ties_are_stable():
    # Equal scores: lower index first; an identical duplicate later in the input is suppressed.
    windows = [[0, 4], [10, 14], [0, 4], [20, 24]]
    scores = [0.5, 0.5, 0.5, 0.5]
    assert nms(windows, scores, threshold=0.5).tolist() == [0, 1, 3]
    assert nms(windows, scores, threshold=1.0).tolist() == [0, 1, 2, 3]


def test_nms_top_n_and_empty():
    windows = [[0, 1], [2, 3], [4, 5]]
    scores = [0.1, 0.3, 0.2]
    assert nms(windows, scores, top_n=2).tolist() == [1, 2]
    assert nms(windows, scores, top_n=0).tolist() == []
    assert nms(windows, scores, top_n=10).tolist() == [1, 2, 0]
    out = nms(np.zeros((0, 2)), np.zeros(0))
    assert out.dtype == np.int64 and out.shape == (0,)


def test_nms_accepts_torch_and_rejects_bad_input():
    kept = nms(torch.tensor([[0.0, 4.0], [0.0, 3.9]]), torch.tensor([0.2, 0.8]))
    assert kept.tolist() == [1]
    with pytest.raises(ValueError, match="scores"):
        nms([[0, 1], [1, 2]], [0.5])
    with pytest.raises(ValueError, match="threshold"):
        nms([[0, 1]], [0.5], threshold=1.5)
    with pytest.raises(ValueError, match="top_n"):
        nms([[0, 1]], [0.5], top_n=-1)


# --------------------------------------------------------------------------- recall / mIoU


def test_recall_counts_iou_exactly_at_threshold():
    preds = [np.array([[0.0, 3.0]]), np.array([[3.0, 10.0]]), np.array([[0.0, 2.0]])]
    gts = np.array([[0.0, 10.0], [0.0, 10.0], [0.0, 4.0]])  # IoUs 0.3, 0.7, 0.5
    assert recall_at(preds, gts, 1, 0.3) == 1.0
    assert recall_at(preds, gts, 1, 0.5) == 2 / 3
    assert recall_at(preds, gts, 1, 0.7) == 1 / 3
    # the per-query hits behind the recall, for paired comparisons
    assert recall_hits(preds, gts, 1, 0.5).tolist() == [False, True, True]
    assert recall_hits(preds, gts, 1, 0.3).all()


def test_paired_difference_and_its_standard_error():
    a = np.array([1, 1, 0, 1, 0, 1], dtype=bool)
    b = np.array([1, 0, 0, 0, 0, 1], dtype=bool)
    diff, se = paired_difference(a, b)  # differences 0 1 0 1 0 0: mean 1/3, sd sqrt(4/15)
    assert diff == pytest.approx(100 / 3)
    assert se == pytest.approx(100 * np.sqrt(4 / 15) / np.sqrt(6))
    assert paired_difference(a, a) == (0.0, 0.0)
    with pytest.raises(ValueError, match="one length"):
        paired_difference(a, b[:5])


def test_recall_uses_only_top_n():
    preds = [np.array([[10, 12], [20, 22], [0, 4]], dtype=float)]
    gts = np.array([[0.0, 4.0]])
    assert recall_at(preds, gts, 1, 0.5) == 0.0
    assert recall_at(preds, gts, 2, 0.5) == 0.0
    assert recall_at(preds, gts, 3, 0.5) == 1.0


def test_recall_with_fewer_predictions_than_n():
    preds = [np.array([[0.0, 4.0]]), np.array([[10.0, 12.0]])]
    gts = np.array([[0.0, 4.0], [0.0, 4.0]])
    assert recall_at(preds, gts, 5, 0.7) == 0.5


def test_empty_predictions_are_misses():
    preds = [np.zeros((0, 2)), [], np.array([[0.0, 4.0]])]
    gts = np.array([[0.0, 4.0]] * 3)
    assert recall_at(preds, gts, 5, 0.0) == 1 / 3  # a miss even at threshold 0
    assert mean_iou(preds, gts) == 1 / 3


def test_mean_iou_uses_top1():
    preds = [np.array([[0.0, 2.0], [0.0, 4.0]]), np.array([[0.0, 8.0]])]
    gts = np.array([[0.0, 4.0], [0.0, 2.0]])
    assert mean_iou(preds, gts) == (0.5 + 0.25) / 2


def test_mismatched_lengths_raise():
    preds = [np.array([[0.0, 1.0]])]
    gts = np.array([[0.0, 1.0], [1.0, 2.0]])
    for fn in (
        lambda: recall_at(preds, gts, 1, 0.5),
        lambda: mean_iou(preds, gts),
        lambda: compute_metrics(preds, gts),
    ):
        with pytest.raises(ValueError, match=r"1 queries but 2 ground-truth"):
            fn()


def test_no_queries_and_bad_arguments_raise():
    with pytest.raises(ValueError, match="no queries"):
        compute_metrics([], np.zeros((0, 2)))
    with pytest.raises(ValueError, match="positive integer"):
        recall_at([[[0, 1]]], [[0, 1]], 0, 0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        recall_at([[[0, 1]]], [[0, 1]], 1, 1.2)


def test_compute_metrics_keys_and_percent_scaling():
    preds = [
        np.array([[0.0, 4.0]]),  # IoU 1
        np.array([[0.0, 2.0], [0.0, 4.0]]),  # top-1 0.5, top-2 1
        np.array([[10.0, 12.0]]),  # 0
        np.zeros((0, 2)),  # miss
    ]
    gts = np.array([[0.0, 4.0]] * 4)
    m = compute_metrics(preds, gts)
    assert tuple(m) == METRIC_KEYS
    assert m == {
        "R@1,IoU=0.3": 50.0,
        "R@1,IoU=0.5": 50.0,
        "R@1,IoU=0.7": 25.0,
        "R@5,IoU=0.3": 50.0,
        "R@5,IoU=0.5": 50.0,
        "R@5,IoU=0.7": 50.0,
        "mIoU": 37.5,
    }


def test_compute_metrics_rounds_to_two_decimals():
    preds = [np.array([[0.0, 4.0]]), np.zeros((0, 2)), np.zeros((0, 2))]
    gts = np.array([[0.0, 4.0]] * 3)
    m = compute_metrics(preds, gts)
    assert m["R@1,IoU=0.5"] == 33.33
    assert m["mIoU"] == 33.33


def test_compute_metrics_custom_keys_and_torch():
    preds = [torch.tensor([[0.0, 4.0], [0.0, 2.0]])]
    gts = torch.tensor([[0.0, 4.0]])
    m = compute_metrics(preds, gts, ns=(1, 10), thresholds=(0.1, 0.25))
    assert list(m) == ["R@1,IoU=0.1", "R@1,IoU=0.25", "R@10,IoU=0.1", "R@10,IoU=0.25", "mIoU"]
    assert all(v == 100.0 for v in m.values())


def test_compute_metrics_agrees_with_recall_at_and_mean_iou():
    rng = np.random.default_rng(0)
    gts = np.sort(rng.uniform(0, 30, size=(40, 2)), axis=1)
    preds = [np.sort(rng.uniform(0, 30, size=(int(rng.integers(0, 8)), 2)), axis=1) for _ in gts]
    m = compute_metrics(preds, gts)
    for n in (1, 5):
        for t in (0.3, 0.5, 0.7):
            assert m[f"R@{n},IoU={t}"] == round(100 * recall_at(preds, gts, n, t), 2)
    assert m["mIoU"] == round(100 * mean_iou(preds, gts), 2)


# --------------------------------------------------------------------------- tables


def test_format_table_markdown():
    text = format_table(
        {"ours": {"R@1,IoU=0.5": 41.5, "mIoU": 30.0}, "a|b": {}}, keys=("R@1,IoU=0.5", "mIoU")
    )
    assert text.splitlines() == [
        "| method | R@1,IoU=0.5 | mIoU |",
        "|---|---:|---:|",
        "| ours | 41.50 | 30.00 |",
        "| a\\|b | - | - |",
    ]
    assert format_table({}).splitlines()[0].split(" | ")[1:] == [*METRIC_KEYS[:-1], "mIoU |"]


def test_format_console_table_aligned():
    text = format_console_table(
        {"ours": {"mIoU": 28.6458, "num_queries": 12}, "baseline-long": {"mIoU": 3.0}},
        keys=("mIoU", "num_queries"),
    )
    assert text.splitlines() == [
        "method          mIoU  num_queries",
        "-------------  -----  -----------",
        "ours           28.65           12",
        "baseline-long   3.00            -",
    ]


# --------------------------------------------------------------------------- properties

_coord = st.one_of(
    st.integers(0, 16).map(float),  # small integers: ties, touching, identical, points
    st.floats(0, 100, allow_nan=False, allow_infinity=False),
)
window = st.tuples(_coord, _coord).map(lambda p: (min(p), max(p)))
windows = st.lists(window, min_size=0, max_size=12)


@PROPS
@given(window, window)
def test_prop_iou_symmetric_and_bounded(a, b):
    v = iou(a, b)
    assert v == iou(b, a)
    assert 0.0 <= v <= 1.0
    assert iou(a, a) == 1.0


@PROPS
@given(windows, windows)
def test_prop_iou_matrix_agrees_with_iou(p, g):
    m = iou_matrix(np.array(p).reshape(-1, 2), np.array(g).reshape(-1, 2))
    assert m.shape == (len(p), len(g))
    for i, a in enumerate(p):
        for j, b in enumerate(g):
            assert m[i, j] == iou(a, b)


def _reference_nms(ws, ss, threshold, top_n):
    order = sorted(range(len(ws)), key=lambda i: (-ss[i], i))
    keep: list[int] = []
    for i in order:
        if top_n is not None and len(keep) >= top_n:
            break
        if all(iou(ws[i], ws[k]) <= threshold for k in keep):
            keep.append(i)
    return keep


@st.composite
def nms_case(draw):
    ws = draw(windows)
    ss = draw(
        st.lists(
            st.one_of(st.integers(0, 3).map(float), st.floats(-1, 1, allow_nan=False)),
            min_size=len(ws),
            max_size=len(ws),
        )
    )
    threshold = draw(st.sampled_from([0.0, 0.3, 0.5, 0.7, 1.0]) | st.floats(0, 1))
    top_n = draw(st.none() | st.integers(0, 6))
    return ws, ss, threshold, top_n


@PROPS
@given(nms_case())
def test_prop_nms(case):
    ws, ss, threshold, top_n = case
    kept = nms(np.array(ws).reshape(-1, 2), np.array(ss), threshold=threshold, top_n=top_n)
    k = kept.tolist()
    assert len(set(k)) == len(k) and set(k) <= set(range(len(ws)))  # a subset, no repeats
    if top_n is not None:
        assert len(k) <= top_n
    kept_scores = [ss[i] for i in k]
    assert kept_scores == sorted(kept_scores, reverse=True)  # best score first
    for x in range(len(k)):
        for y in range(x + 1, len(k)):
            assert iou(ws[k[x]], ws[k[y]]) <= threshold
    assert k == _reference_nms(ws, ss, threshold, top_n)


@st.composite
def recall_case(draw):
    q = draw(st.integers(1, 6))
    gts = draw(st.lists(window, min_size=q, max_size=q))
    preds = draw(st.lists(windows, min_size=q, max_size=q))
    return [np.array(p).reshape(-1, 2) for p in preds], np.array(gts)


@PROPS
@given(recall_case(), st.floats(0, 1), st.floats(0, 1))
def test_prop_recall_monotonic(case, t1, t2):
    preds, gts = case
    lo, hi = min(t1, t2), max(t1, t2)
    by_n = [recall_at(preds, gts, n, lo) for n in range(1, 8)]
    assert by_n == sorted(by_n)  # non-decreasing in n
    for n in (1, 3, 5):
        assert recall_at(preds, gts, n, lo) >= recall_at(preds, gts, n, hi)
    assert 0.0 <= mean_iou(preds, gts) <= 1.0
