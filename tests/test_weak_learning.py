"""Weak supervision: no boundary reaches training, the weak model learns on a world it was not
tuned on, and the presets are what they say (the ``paper`` preset is METHOD.md)."""

from __future__ import annotations

import dataclasses
import json
import random

import numpy as np
import pytest
import torch

from _tiny import one_thread
from ms2d.config import resolve
from ms2d.data.annotations import read_annotations, write_annotations
from ms2d.data.simulate import simulate, world_config
from ms2d.train.loop import train

SMALL = ["model.hidden=16", "model.word_dim=16", "model.caption_hidden=16",
         "model.conv_layers=1", "model.scales=[8,4]", "train.batch_size=8",
         "train.progress=false"]


def _state(run):
    return torch.load(run / "last.pt", weights_only=True)["model"]


@pytest.mark.parametrize("preset", ["synthetic-cpu", "synthetic-cpu-paper"])
def test_no_training_window_reaches_the_weak_model(tmp_path, preset):
    """Weak training on the same pairs with their windows, with none and with random ones gives
    bit-identical weights: the teachers and the student never read a training boundary."""
    sim = tmp_path / "sim"
    simulate(sim, world_config("i3d", num_videos_train=16, num_videos_val=4, num_videos_test=4,
                               feature_dim=24), progress=False)
    train_q = read_annotations("activitynet-captions", sim, "train").queries
    rng = random.Random(0)
    variants = {
        "true": train_q,
        "none": [dataclasses.replace(q, window=None) for q in train_q],
        "random": [dataclasses.replace(q, window=(s := rng.uniform(0, q.duration / 2),
                                                  s + rng.uniform(0.5, q.duration / 2)))
                   for q in train_q],
    }
    states = {}
    for name, queries in variants.items():
        ann = tmp_path / name
        write_annotations(queries, "jsonl", ann, split="train")
        for split in ("val", "test"):
            write_annotations(read_annotations("activitynet-captions", sim, split).queries,
                              "jsonl", ann, split=split)
        cfg = resolve(preset, [*SMALL, "train.epochs=2", "data.dataset=jsonl",
                               f"data.annotations={ann}", f"data.features={sim / 'features.hdf5'}"])
        with one_thread():
            train(cfg, tmp_path / f"run-{name}", log=lambda *a: None)
        states[name] = _state(tmp_path / f"run-{name}")
    for name in ("none", "random"):
        assert states[name].keys() == states["true"].keys()
        for key, value in states["true"].items():
            assert torch.equal(value, states[name][key]), (name, key)


@pytest.mark.slow
def test_weak_model_learns_on_a_small_non_negative_world(tmp_path):
    """On features like raw I3D averages (non-negative, a large component shared by all clips)
    the default weak model beats the prior-only baseline on validation after a few epochs (a
    small, easier i3d world: strong events, little noise, no scene cuts; about 45 s)."""
    from ms2d.baselines import PriorBaseline
    from ms2d.data.splits import load_splits
    from ms2d.eval.metrics import compute_metrics
    from ms2d.inference import candidate_table
    from ms2d.models.maps import candidate_mask

    sim = tmp_path / "sim"
    world = world_config("i3d", strength_range=(2.0, 2.5), noise_std=0.3, scene_changes=(0, 0),
                         distractors=(0, 1), num_videos_train=500, num_videos_val=60,
                         num_videos_test=1, feature_dim=64)
    stats = simulate(sim, world, progress=False)
    assert stats["features"]["negative"] == 0 and stats["features"]["shared_energy"] > 0.5
    cfg = resolve("synthetic-cpu", ["model.hidden=32", "model.conv_layers=2", "train.epochs=8",
                                    "train.batch_size=8", "train.progress=false",
                                    f"data.annotations={sim}",
                                    f"data.features={sim / 'features.hdf5'}"])
    with one_thread():
        summary = train(cfg, tmp_path / "run", log=lambda *a: None)
    splits = load_splits(cfg.data, ("train", "val"))
    frac, _ = candidate_table(cfg.model.scales, [candidate_mask(n) for n in cfg.model.scales])
    preds = PriorBaseline(frac).fit(splits.train).predict(splits.val)
    windows = [np.array([[m.start, m.end] for m in p]) for p in preds]
    prior = compute_metrics(windows, np.array([q.window for q in splits.val]))["R@1,IoU=0.5"]
    assert summary["best"]["score"] > prior + 10, (summary["best"]["score"], prior)
    last = json.loads((tmp_path / "run" / "history.json").read_text())[-1]
    assert last["rgbce"] < last["rgbce_const"] - 0.005  # the student fits its labels


def test_paper_preset_is_method_md():
    """Every setting METHOD.md names, as the ``paper`` preset resolves it."""
    cfg = resolve("paper")
    m, t = cfg.model, cfg.train
    # section 1: d_v = d_T = 512, GloVe 300-d, 3-layer BiLSTM; raw features
    assert (m.hidden, m.word_dim, m.text_encoder, m.text_layers) == (512, 300, "bilstm", 3)
    assert m.feature_norm == "none"
    # section 2-3: ActivityNet scales 64/24/4, 8 layers of kernel 5, l2-normalised fusion
    assert m.scales == (64, 24, 4) and (m.conv_layers, m.kernel) == (8, 5) and m.fusion_norm
    assert m.map_pool == "max"  # F^j[x, y] = maxpool(f_x .. f_y)
    # section 4: the caption module on F_cro of the top-K (K = 10) only, no word masking,
    # caption hidden 1024, the paper's label rule with l_min / l_max, lambda = 1
    assert (m.teacher, m.caption_input, m.top_k, m.explore, m.word_mask) == (
        "caption", "cross", 10, 0, 0.0)
    assert m.caption_hidden == 1024 and not m.caption_shared_dropout
    assert (t.label_rule, t.l_min, t.l_max, t.rec_weight) == ("paper", 0.1, 0.7, 1.0)
    # sections 5-6: Adam lr 1e-4, batch 128, NMS 0.5, weak supervision
    assert (t.lr, t.batch_size, t.nms, t.supervision) == (1e-4, 128, 0.5, "weak")
    # the config defaults are the paper's method too
    default = resolve(None)
    assert (default.model.teacher, default.model.caption_input, default.model.explore,
            default.model.word_mask, default.train.label_rule) == ("caption", "cross", 0, 0.0,
                                                                  "paper")
    assert default.model.map_pool == "max"


@pytest.mark.parametrize("preset", ["synthetic-cpu", "cpu-small", "charades-sta",
                                    "charades-sta-cpu-small", "activitynet-captions",
                                    "activitynet-captions-cpu-small", "own-videos"])
def test_user_facing_presets_use_the_appearance_teacher(preset):
    cfg = resolve(preset)
    assert (cfg.model.teacher, cfg.model.feature_norm, cfg.train.label_rule) == (
        "appearance", "standard", "evidence")
    assert cfg.model.teacher_folds >= 2
    assert cfg.model.teacher_text == "bow"  # docs/design.md: measured against the BiLSTM
    assert cfg.model.map_pool == "coarse-both"  # docs/design.md: measured against max cells


def test_paper_method_at_cpu_sizes_differs_from_synthetic_cpu_only_in_the_method():
    ours, paper = resolve("synthetic-cpu").to_dict(), resolve("synthetic-cpu-paper").to_dict()
    changed = {f"{s}.{k}" for s in ("model", "train", "data") for k in ours[s]
               if ours[s][k] != paper[s][k]}
    assert changed == {"model.teacher", "model.feature_norm", "model.inference_teacher",
                       "model.map_pool", "train.label_rule"}
    assert paper["model"]["map_pool"] == "max"  # the paper's cells on every scale


def test_a_setting_the_teacher_does_not_read_is_warned_about():
    cfg = resolve("synthetic-cpu", ["model.word_mask=0.5", "train.epochs=3"])
    assert cfg.notes == ["model.word_mask is set but not read with model.teacher=appearance, "
                         "model.teacher_text=bow, train.label_rule=evidence"]
    # the bag-of-words teacher has no hidden width; the caption teacher reads no teacher_text
    assert resolve("synthetic-cpu", ["model.caption_hidden=64"]).notes == [
        "model.caption_hidden is set but not read with model.teacher=appearance, "
        "model.teacher_text=bow, train.label_rule=evidence"]
    assert resolve("synthetic-cpu", ["model.caption_hidden=64",
                                     "model.teacher_text=lstm"]).notes == []
    assert resolve("synthetic-cpu-paper", ["model.teacher_text=bow"]).notes == [
        "model.teacher_text is set but not read with model.teacher=caption, "
        "train.label_rule=paper"]
    assert resolve("synthetic-cpu-paper", ["model.word_mask=0.5"]).notes == []
    full = resolve("synthetic-cpu", ["train.supervision=full", "train.sharpness=3"])
    assert full.notes == ["train.sharpness is set but not read with train.supervision=full "
                          "(no teacher, no pseudo-labels)"]
