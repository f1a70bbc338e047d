"""File-level evaluation: the golden sample, error messages, the atomic writer."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from ms2d.data.records import DataError, Query
from ms2d.eval import METRIC_KEYS, evaluate_files, load_ground_truth, load_predictions
from ms2d.eval.evaluator import GOLDEN_DIR, save_predictions
from ms2d.eval.metrics import MAP_KEYS


def _write(path: Path, rows: list) -> Path:
    path.write_text(
        "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows),
        encoding="utf-8",
    )
    return path


def _gt(qid: str, s: float, e: float) -> dict:
    return {
        "qid": qid,
        "vid": "v",
        "query": "someone does something",
        "duration": 30.0,
        "windows": [[s, e]],
    }


@pytest.fixture
def gt_file(tmp_path: Path) -> Path:
    return _write(tmp_path / "gt.jsonl", [_gt(f"q{i}", 0.0, 4.0) for i in range(8)])


# --------------------------------------------------------------------------- golden sample


def test_golden_sample_matches_expected_metrics_exactly():
    expected = json.loads((GOLDEN_DIR / "expected_metrics.json").read_text(encoding="utf-8"))
    got = evaluate_files(GOLDEN_DIR / "predictions.jsonl", GOLDEN_DIR / "ground_truth.jsonl")
    assert got == expected
    assert list(got) == [*METRIC_KEYS, *MAP_KEYS, "num_queries"]
    assert isinstance(got["num_queries"], int)
    first = json.loads((GOLDEN_DIR / "expected_metrics_first_window.json").read_text())
    assert evaluate_files(GOLDEN_DIR / "predictions.jsonl", GOLDEN_DIR / "ground_truth.jsonl",
                          gt_rule="first") == first


def test_golden_files_load():
    gt = load_ground_truth(GOLDEN_DIR / "ground_truth.jsonl")
    preds = load_predictions(GOLDEN_DIR / "predictions.jsonl")
    assert set(gt) == set(preds) and len(gt) == 12
    assert isinstance(gt["q05"], Query) and gt["q05"].window == (8.0, 16.0)  # first window
    assert gt["q05"].windows == [(8.0, 16.0), (0.0, 2.0)]
    assert preds["q09"].shape == (0, 2)
    assert preds["q10"].shape == (6, 2)  # no scores
    assert preds["q05"].shape == (5, 3)  # scores kept, rank order kept
    assert preds["q05"][:, 2].tolist() == [0.9, 0.8, 0.7, 0.6, 0.5]


# --------------------------------------------------------------------------- errors


def test_malformed_line_names_file_and_line(tmp_path: Path, gt_file: Path):
    pred = _write(
        tmp_path / "pred.jsonl",
        [{"qid": "q0", "pred_windows": [[0, 4]]}, "", '{"qid": "q1", "pred_windows": [[0, 4]'],
    )
    with pytest.raises(DataError, match=r"pred\.jsonl: line 3: malformed JSON") as info:
        evaluate_files(pred, gt_file)
    assert "one JSON object" in str(info.value)  # says what to fix


def test_malformed_ground_truth_line(tmp_path: Path):
    gt = _write(tmp_path / "gt.jsonl", [_gt("a", 0, 1), "[1, 2]"])
    with pytest.raises(DataError, match=r"gt\.jsonl: line 2: expected a JSON object"):
        load_ground_truth(gt)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"pred_windows": []}, 'missing "qid"'),
        ({"qid": 3.5, "pred_windows": []}, "a non-empty string or an integer"),
        ({"qid": "q", "pred_windows": [], "pred_relevant_windows": []}, "keep one of them"),
        ({"qid": "q"}, 'missing "pred_windows"'),
        ({"qid": "q", "pred_windows": [[4, 2]]}, "ends before it starts"),
        ({"qid": "q", "pred_windows": [[0, 1, 2, 3]]}, "2 or 3 numbers"),
        ({"qid": "q", "pred_windows": [[0, "1"]]}, "finite numbers"),
        ({"qid": "q", "pred_windows": [[0, 1, 0.5], [1, 2]]}, "a score, or none"),
    ],
)
def test_bad_prediction_fields(tmp_path: Path, row: dict, message: str):
    pred = _write(tmp_path / "p.jsonl", [row])
    with pytest.raises(DataError, match="line 1") as info:
        load_predictions(pred)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"windows": []}, "non-empty list"),
        ({"windows": None}, "non-empty list"),
        ({"duration": -1}, "non-negative"),
        ({"windows": [[0, 1, 0.9]]}, "2 numbers"),
    ],
)
def test_bad_ground_truth_fields(tmp_path: Path, change: dict, message: str):
    gt = _write(tmp_path / "gt.jsonl", [{**_gt("a", 0, 1), **change}])
    with pytest.raises(DataError, match=message):
        load_ground_truth(gt)


def test_ground_truth_missing_fields(tmp_path: Path):
    gt = _write(tmp_path / "gt.jsonl", [{"qid": "a", "windows": [[0, 1]]}])
    with pytest.raises(DataError, match="missing field\\(s\\) vid, query, duration"):
        load_ground_truth(gt)


def test_missing_qids_listed_with_count(tmp_path: Path, gt_file: Path):
    pred = _write(tmp_path / "pred.jsonl", [{"qid": "q0", "pred_windows": [[0, 4]]}])
    with pytest.raises(DataError) as info:
        evaluate_files(pred, gt_file)
    msg = str(info.value)
    assert "7 of 8 ground-truth qids have no prediction" in msg
    assert "'q1', 'q2', 'q3', 'q4', 'q5', ..." in msg
    assert "'q6'" not in msg


def test_unknown_prediction_qids(tmp_path: Path, gt_file: Path):
    rows = [{"qid": f"q{i}", "pred_windows": []} for i in range(8)]
    pred = _write(tmp_path / "pred.jsonl", [*rows, {"qid": "zz", "pred_windows": []}])
    with pytest.raises(DataError, match=r"1 predicted qids are not in .*'zz'"):
        evaluate_files(pred, gt_file)


def test_duplicate_qids(tmp_path: Path):
    pred = _write(
        tmp_path / "pred.jsonl",
        [
            {"qid": "a", "pred_windows": []},
            {"qid": "b", "pred_windows": []},
            {"qid": "a", "pred_windows": []},
        ],
    )
    with pytest.raises(DataError, match=r"line 3: duplicate qid 'a' \(first seen on line 1\)"):
        load_predictions(pred)
    gt = _write(tmp_path / "gt.jsonl", [_gt("a", 0, 1), _gt("a", 0, 1)])
    with pytest.raises(DataError, match="line 2: duplicate qid 'a'"):
        load_ground_truth(gt)


def test_empty_ground_truth(tmp_path: Path):
    gt = _write(tmp_path / "gt.jsonl", [])
    pred = _write(tmp_path / "pred.jsonl", [])
    with pytest.raises(DataError, match="no queries"):
        evaluate_files(pred, gt)


def test_missing_file_is_file_not_found(tmp_path: Path, gt_file: Path):
    with pytest.raises(FileNotFoundError):
        evaluate_files(tmp_path / "nope.jsonl", gt_file)


# --------------------------------------------------------------------------- writer


def test_save_load_round_trip(tmp_path: Path):
    original = {
        "q1": np.array([[0.1, 2.7, 0.93], [3.0, 9.0, -1.5]]),
        "q2": np.zeros((0, 2)),
        "q3": np.array([[1.0 / 3.0, 2.0]]),
        "vidéo": torch.tensor([[0.0, 1.0]], dtype=torch.float64),
    }
    path = tmp_path / "out" / "pred.jsonl"
    save_predictions(path, original)
    loaded = load_predictions(path)
    assert list(loaded) == list(original)
    for qid, arr in original.items():
        np.testing.assert_array_equal(loaded[qid], np.asarray(arr))
        assert loaded[qid].shape == tuple(arr.shape)
    # saving what was loaded gives the same bytes
    again = tmp_path / "again.jsonl"
    save_predictions(again, loaded)
    assert again.read_bytes() == path.read_bytes()
    assert [p.name for p in path.parent.iterdir()] == ["pred.jsonl"]  # no temp file left behind


def test_save_accepts_record_dicts_and_evaluates(tmp_path: Path, gt_file: Path):
    records = [{"qid": f"q{i}", "pred_windows": [[0.0, 4.0 if i < 4 else 8.0]]} for i in range(8)]
    path = tmp_path / "pred.jsonl"
    save_predictions(path, records)
    m = evaluate_files(path, gt_file)
    assert m["R@1,IoU=0.5"] == 100.0 and m["R@1,IoU=0.7"] == 50.0 and m["mIoU"] == 75.0
    assert m["num_queries"] == 8


def test_save_is_atomic_on_error(tmp_path: Path):
    path = tmp_path / "pred.jsonl"
    save_predictions(path, {"a": [[0, 1]]})
    before = path.read_bytes()
    with pytest.raises(ValueError, match="duplicate qid"):
        save_predictions(path, [{"qid": "b", "pred_windows": []}, {"qid": "b", "pred_windows": []}])
    with pytest.raises(ValueError, match="finite"):
        save_predictions(path, {"a": [[0, float("nan")]]})
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["pred.jsonl"]
