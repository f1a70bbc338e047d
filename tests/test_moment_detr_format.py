"""Moment-DETR / Lighthouse / QVHighlights files as distributed: read, and scored as their
standalone evaluator scores them (hand-worked numbers in ms2d/eval/golden/README.md)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from _tiny import cli
from ms2d.eval import evaluate_files, iou, load_ground_truth, load_predictions
from ms2d.eval.evaluator import GOLDEN_DIR
from ms2d.eval.metrics import average_precision, mean_average_precision

GT = GOLDEN_DIR / "mdetr_ground_truth.jsonl"
PRED = GOLDEN_DIR / "mdetr_predictions.jsonl"


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def moment_detr_r1(preds: list[dict], gts: list[dict], threshold: float) -> float:
    """Moment-DETR's MR-R1 rule, written from its description: take each query's first
    predicted window; pick the ground-truth window with the highest IoU with it; a hit when
    that IoU >= threshold. Percent, 2 decimals."""
    top1 = {str(p["qid"]): p["pred_relevant_windows"][0][:2] for p in preds}
    hits = []
    for g in gts:
        p = top1[str(g["qid"])]
        hits.append(max(iou(p, w) for w in g["relevant_windows"]) >= threshold)
    return round(100 * float(np.mean(hits)), 2)


def test_files_load_as_distributed() -> None:
    gt = load_ground_truth(GT)
    preds = load_predictions(PRED)
    assert list(gt) == ["101", "102", "q3", "104"] and set(preds) == set(gt)
    assert gt["q3"].windows == [(0.0, 4.0), (6.0, 10.0), (12.0, 16.0)]
    assert preds["101"].shape == (3, 3)


def test_hand_worked_numbers_and_moment_detr_r1() -> None:
    expected = json.loads((GOLDEN_DIR / "mdetr_expected_metrics.json").read_text())
    got = evaluate_files(PRED, GT)
    assert got == expected
    preds, gts = _rows(PRED), _rows(GT)
    for t in (0.3, 0.5, 0.7):
        assert got[f"R@1,IoU={t:g}"] == moment_detr_r1(preds, gts, t)
    first = evaluate_files(PRED, GT, gt_rule="first")
    assert (first["R@1,IoU=0.5"], first["R@1,IoU=0.7"], first["mIoU"]) == (25.0, 0.0, 15.0)
    assert (first["R@5,IoU=0.3"], first["R@5,IoU=0.7"]) == (50.0, 25.0)
    assert first["mAP"] == got["mAP"]  # mAP always uses every window


def test_cli_evaluate_prints_and_writes_them(tmp_path: Path) -> None:
    rc, out = cli(["evaluate", "--predictions", PRED, "--ground-truth", GT,
                   "--json", tmp_path / "m.json"])
    assert rc == 0, out
    assert "mAP@0.5" in out and "37.64" in out and "best ground-truth window" in out
    saved = json.loads((tmp_path / "m.json").read_text())
    assert saved["R@1,IoU=0.5"] == 75.0 and saved["mAP@0.75"] == 33.33
    rc, out = cli(["evaluate", "--predictions", PRED, "--ground-truth", GT, "--gt-rule", "first"])
    assert rc == 0 and "first ground-truth window" in out and "15.00" in out


def test_average_precision_pieces() -> None:
    gt = np.array([[0.0, 10.0], [20.0, 30.0]])
    # ranked by score, not by position: the hit at score 0.9 comes first
    ap = average_precision([[40, 50, 0.1], [0, 10, 0.9]], gt, thresholds=(0.5,))
    assert ap.tolist() == [0.5]
    # without scores the given order is the rank
    assert average_precision([[40, 50], [0, 10]], gt, thresholds=(0.5,)).tolist() == [0.25]
    # one window claimed once: a duplicate is a false positive
    assert average_precision([[0, 10, 0.9], [0, 10, 0.8]], gt[:1], (0.5,)).tolist() == [1.0]
    assert average_precision(np.zeros((0, 3)), gt).tolist() == [0.0] * 10
    # only the first 10 predictions count
    late = [[40, 50, 1.0 - i / 100] for i in range(10)] + [[0, 10, 0.0]]
    assert average_precision(late, gt[:1], (0.5,)).tolist() == [0.0]
    m = mean_average_precision([np.array([[0, 10, 1.0]]), np.zeros((0, 2))],
                               [gt[:1], gt[1:]])
    assert m == {"mAP@0.5": 50.0, "mAP@0.75": 50.0, "mAP": 50.0}


def test_moment_detr_predictions_need_their_windows(tmp_path: Path) -> None:
    from ms2d.data.records import DataError

    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"qid": 1, "pred_saliency_scores": [0.1]}) + "\n")
    with pytest.raises(DataError, match="pred_relevant_windows"):
        load_predictions(path)
    path.write_text(json.dumps({"qid": 1, "pred_relevant_windows": [[0, 1, 0.5]]}) + "\n"
                    + json.dumps({"qid": "1", "pred_relevant_windows": []}) + "\n")
    with pytest.raises(DataError, match="duplicate qid '1'"):
        load_predictions(path)
