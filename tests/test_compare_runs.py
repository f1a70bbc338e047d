"""scripts/compare_runs.py: two runs' paired difference on the same queries, as `ms2d evaluate`
scores each of them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from ms2d.checkpoint import load_checkpoint, load_model, save_checkpoint
from ms2d.config import Config
from ms2d.data.splits import load_splits
from ms2d.inference import evaluate_queries

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))  # scripts/ is no package
from compare_runs import METRIC, compare_runs, main  # noqa: E402


def _scrambled(tiny_run: Path, path: Path) -> Path:
    """A copy of the tiny checkpoint whose weights are permuted: another model, same config."""
    state = load_checkpoint(tiny_run / "best.pt")
    state = {k: v for k, v in state.items() if k not in ("format", "ms2d_version")}
    g = torch.Generator().manual_seed(0)
    state["model"] = {k: (v.flatten()[torch.randperm(v.numel(), generator=g)].view_as(v)
                          if v.is_floating_point() else v) for k, v in state["model"].items()}
    save_checkpoint(path, state)
    return path


def _evaluate(ckpt: Path, tiny_sim: Path) -> tuple[float, int]:
    model, vocab, saved = load_model(ckpt)
    cfg = Config.from_dict(saved["config"])
    cfg.data.annotations, cfg.data.features = str(tiny_sim), str(tiny_sim / "features.hdf5")
    splits = load_splits(cfg.data, ("test",))
    metrics, _ = evaluate_queries(model, splits.test, splits.store, vocab, cfg,
                                  torch.device("cpu"))
    return metrics[METRIC], len(splits.test)


def test_the_difference_is_the_two_runs_scores_difference(tiny_run, tiny_sim, tmp_path):
    other = _scrambled(tiny_run, tmp_path / "other.pt")
    result = compare_runs([tiny_run / "best.pt", other],
                          annotations=str(tiny_sim), features=str(tiny_sim / "features.hdf5"))
    (pair,) = result["pairs"]
    (a, n), (b, _) = _evaluate(tiny_run / "best.pt", tiny_sim), _evaluate(other, tiny_sim)
    assert a != b  # two different models, so the difference is not trivially zero
    assert (pair["a_score"], pair["b_score"]) == (a, b)
    assert pair["difference"] == pytest.approx(a - b, abs=0.011)
    assert pair["standard_error"] >= 0
    assert result["queries"] == n


def test_a_run_against_itself_differs_by_nothing(tiny_run, tiny_sim):
    result = compare_runs([tiny_run, tiny_run / "best.pt"], annotations=str(tiny_sim),
                          features=str(tiny_sim / "features.hdf5"))
    assert result["pairs"][0]["difference"] == 0.0
    assert result["pairs"][0]["standard_error"] == 0.0


def test_runs_on_other_features_or_a_single_run_are_refused(tiny_run, tiny_sim,
                                                            checkpoint_variant, capsys):
    data = ["--annotations", str(tiny_sim), "--features", str(tiny_sim / "features.hdf5")]
    assert main([str(tiny_run), str(checkpoint_variant(dim=7)), *data]) == 2
    assert "7-d features" in capsys.readouterr().err
    assert main([str(tiny_run), *data]) == 2
    assert "at least two runs" in capsys.readouterr().err
