"""scripts/weak_vs_linear.py scores the weak run and the linear learner as the benchmark does."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from ms2d.checkpoint import load_model
from ms2d.config import Config
from ms2d.data.splits import load_splits
from ms2d.inference import evaluate_queries

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))  # scripts/ is no package
from baselines import baselines_for  # noqa: E402
from weak_vs_linear import METRIC, compare  # noqa: E402


def test_the_paired_difference_is_the_benchmarks_difference(tiny_run, tiny_sim):
    model, vocab, ckpt = load_model(tiny_run / "best.pt")
    cfg = Config.from_dict(ckpt["config"])
    cfg.data.annotations, cfg.data.features = str(tiny_sim), str(tiny_sim / "features.hdf5")
    splits = load_splits(cfg.data, ("test",))
    weak, _ = evaluate_queries(model, splits.test, splits.store, vocab, cfg, torch.device("cpu"))
    linear = baselines_for(cfg)["linear"]  # how scripts/robustness.py scores the linear learner
    reported = {"weak": weak[METRIC], "linear": linear[METRIC]}
    row = compare("tiny", tiny_run / "best.pt", tiny_sim, reported)
    assert row["test_pairs"] == len(splits.test)
    assert row["difference"] == pytest.approx(weak[METRIC] - linear[METRIC], abs=0.011)
    assert row["standard_error"] >= 0
    with pytest.raises(SystemExit, match="linear scores"):  # a stale benchmark file is refused
        compare("tiny", tiny_run / "best.pt", tiny_sim, {**reported, "linear": linear[METRIC] + 1})
