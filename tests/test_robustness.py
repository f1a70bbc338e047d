"""scripts/robustness.py: a cached run is evaluated again on a larger test split of the same
world without training, and only when it was trained on byte-identical training data."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from ms2d.data.simulate import SimConfig, simulate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))  # scripts/ is no package
import robustness  # noqa: E402

from conftest import TINY_FEATURE_DIM  # noqa: E402


def _sim(path: Path, **sizes: int) -> Path:
    cfg = dict(num_videos_train=16, num_videos_val=4, num_videos_test=4,
               feature_dim=TINY_FEATURE_DIM) | sizes
    simulate(path, SimConfig(**cfg), progress=False)
    return path


def test_split_sizes_are_the_quickstarts():
    assert robustness.split_sizes(1200) == (200, 1500) == (SimConfig().num_videos_val,
                                                           SimConfig().num_videos_test)


def test_a_larger_test_split_retests_a_cached_run_without_training(tiny_run, tiny_sim, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    (run / "result.json").write_text(json.dumps(
        {"test": {robustness.METRIC: -1.0}, "overrides": [], "best_epoch": 1,
         "test_split": robustness.test_split_id(tiny_sim)}))
    big = _sim(tmp_path / "big", num_videos_test=9)  # the same world and splits, more test videos
    assert robustness._current(run / "result.json", robustness.test_split_id(tiny_sim))
    assert not robustness._current(run / "result.json", robustness.test_split_id(big))
    weights = (run / "best.pt").read_bytes()

    assert robustness.retest(run, big, "synthetic-cpu", 0) == 0
    result = json.loads((run / "result.json").read_text())
    pairs = sum(len(v["sentences"]) for v in json.loads((big / "test.json").read_text()).values())
    assert result["test_pairs"] == pairs
    assert 0.0 <= result["test"][robustness.METRIC] <= 100.0
    assert result["best_epoch"] == 1  # everything but the test metrics is kept
    assert robustness._current(run / "result.json", robustness.test_split_id(big))
    assert (run / "best.pt").read_bytes() == weights


def test_a_run_trained_on_other_videos_is_not_retested(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    (run / "result.json").write_text(json.dumps({"test": {}, "overrides": []}))
    other = _sim(tmp_path / "other", num_videos_train=17)  # one more training video
    with pytest.raises(SystemExit, match="train split is not .* delete"):
        robustness.retest(run, other, "synthetic-cpu", 0)


def test_a_result_without_its_checkpoint_is_not_retested(tmp_path, tiny_sim):
    run = tmp_path / "run"
    run.mkdir()
    (run / "result.json").write_text(json.dumps({"test": {}, "overrides": []}))
    with pytest.raises(SystemExit, match="no config.yaml or best.pt .* delete"):
        robustness.retest(run, tiny_sim, "synthetic-cpu", 0)


def test_the_table_leaves_out_results_on_another_test_split(tmp_path, tiny_sim):
    base = tmp_path / "runs" / "synthetic-cpu" / "classic-s0"
    (base / "weak").mkdir(parents=True)
    tid = robustness.test_split_id(tiny_sim)
    metrics = {robustness.METRIC: 50.0}
    (base / "baselines.json").write_text(json.dumps(
        {"prior": {robustness.METRIC: 20.0}, "linear": {robustness.METRIC: 40.0},
         "linear_val": 41.0, "test_split": tid}))
    (base / "weak" / "result.json").write_text(json.dumps(
        {"test": metrics, "rgbce": [0.3, 0.2], "rgbce_const": [0.3, 0.3], "test_split": "old"}))
    text, summary = robustness.table(tmp_path, ["synthetic-cpu"], ["classic"], [0], "",
                                     {("classic", 0): tid})
    assert summary["synthetic-cpu/classic"]["weak"] == []
    assert summary["synthetic-cpu/classic"]["linear"] == [40.0]
    assert "Not counted" in text and str(base / "weak" / "result.json") in text


def test_the_table_marks_a_missing_full_run_with_a_dash_and_a_json_null(tmp_path):
    base = tmp_path / "runs" / "synthetic-cpu" / "classic-s0"
    (base / "weak").mkdir(parents=True)
    split = "test-split-id"
    (base / "baselines.json").write_text(json.dumps(
        {"prior": {robustness.METRIC: 20.0}, "linear": {robustness.METRIC: 40.0},
         "test_split": split}))
    (base / "weak" / "result.json").write_text(json.dumps(
        {"test": {robustness.METRIC: 55.0}, "rgbce": [0.3, 0.2], "rgbce_const": [0.29, 0.29],
         "test_split": split}))
    text, summary = robustness.table(tmp_path, ["synthetic-cpu"], ["classic"], [0], "",
                                     {("classic", 0): split})
    row = next(line for line in text.splitlines() if line.startswith("| classic"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[3:7] == ["55.00 ± 0.00", "-", "-", "+35.00"]  # weak, full, weak / full, margin
    assert summary["synthetic-cpu/classic"]["weak_over_full"] is None
    json.dumps(summary, allow_nan=False)  # strict JSON: no NaN for the missing ratio
    assert "averaged over worlds" not in text
