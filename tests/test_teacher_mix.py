"""scripts/teacher_mix.py scores each teacher share exactly as the model ranks with it."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
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
