"""scripts/teacher_mix.py scores each teacher share exactly as the model ranks with it."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ms2d.baselines import LinearWeakBaseline
from ms2d.checkpoint import load_model
from ms2d.config import Config
from ms2d.data.splits import load_splits
from ms2d.eval.metrics import compute_metrics
from ms2d.inference import candidate_table, evaluate_queries, moment_windows

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))  # scripts/ is no package
from teacher_mix import METRIC, share_scores  # noqa: E402


def test_each_share_scores_as_evaluate_does_with_that_share(tiny_run, tiny_sim):
    model, vocab, ckpt = load_model(tiny_run / "best.pt")
    assert model.cfg.inference_teacher == 0.6  # the preset's share
    cfg = Config.from_dict(ckpt["config"])
    cfg.data.annotations, cfg.data.features = str(tiny_sim), str(tiny_sim / "features.hdf5")
    splits = load_splits(cfg.data, ("val",))
    val, store = splits.val, splits.store
    got = share_scores(model, val, store, vocab, cfg, (0.0, 0.6, 1.0))
    assert model.cfg.inference_teacher == 0.6  # left as it was
    for w in (0.0, 0.6, 1.0):
        model.cfg.inference_teacher = w
        want, _ = evaluate_queries(model, val, store, vocab, cfg, torch.device("cpu"))
        assert got[(w, 0.0)] == want[METRIC], w


def test_a_ridge_share_of_one_ranks_as_the_linear_learner(tiny_run, tiny_sim):
    model, vocab, ckpt = load_model(tiny_run / "best.pt")
    cfg = Config.from_dict(ckpt["config"])
    cfg.data.annotations, cfg.data.features = str(tiny_sim), str(tiny_sim / "features.hdf5")
    splits = load_splits(cfg.data, ("train", "val"))
    frac, _ = candidate_table(model.cfg.scales, model.masks("cpu"))
    ridge = LinearWeakBaseline(frac).fit(splits.train, splits.store)
    got = share_scores(model, splits.val, splits.store, vocab, cfg, (0.0, 0.6), ridge,
                       (0.0, 0.4, 1.0))
    assert set(got) == {(0.0, 0.0), (0.6, 0.0), (0.0, 0.4), (0.6, 0.4), (0.0, 1.0)}
    gts = [np.array(q.windows, dtype=np.float64) for q in splits.val]
    want = compute_metrics(moment_windows(ridge.predict(splits.val, splits.store)), gts)[METRIC]
    assert got[(0.0, 1.0)] == want


def test_held_out_gain_finds_a_better_share_and_no_gain_where_there_is_none():
    from teacher_mix import held_out_gain

    rng = np.random.default_rng(0)
    n = 400
    fixed = rng.random(n) < 0.5
    better = fixed | (rng.random(n) < 0.4)  # every hit of `fixed` and more
    # a share that hits more queries wins on both halves: the gain is its margin
    gain = held_out_gain({0.6: fixed, 0.8: better}, 0.6, repeats=20)
    assert gain == pytest.approx(100 * (better.mean() - fixed.mean()), abs=1e-9)
    # identical shares: the tie goes to the run's own share, nothing is gained or lost
    assert held_out_gain({0.6: fixed, 0.8: fixed.copy()}, 0.6, repeats=20) == 0.0
    # pure noise beside the fixed share: choosing per run cannot gain on held-out queries
    noise = {w: rng.random(n) < 0.5 for w in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)}
    assert held_out_gain(noise, 0.6, repeats=50) < 1.0


def test_top1_hits_average_to_the_metric(tiny_run, tiny_sim):
    from teacher_mix import metric_of, share_predictions, top1_hits

    model, vocab, ckpt = load_model(tiny_run / "best.pt")
    cfg = Config.from_dict(ckpt["config"])
    cfg.data.annotations, cfg.data.features = str(tiny_sim), str(tiny_sim / "features.hdf5")
    splits = load_splits(cfg.data, ("val",))
    preds = share_predictions(model, splits.val, splits.store, vocab, cfg, (0.0, 0.6))
    for p in preds.values():
        assert 100 * top1_hits(p, splits.val).mean() == pytest.approx(metric_of(p, splits.val),
                                                                       abs=0.01)
