"""Typed config: presets, overrides, round trip."""

import pytest

from ms2d.config import Config, list_presets, resolve


def test_presets_exist_and_inherit():
    assert {"paper", "charades-sta", "activitynet-captions", "cpu-small", "synthetic-cpu",
            "charades-sta-cpu-small", "activitynet-captions-cpu-small"} <= set(list_presets())
    paper = resolve("paper")
    assert paper.model.scales == (64, 24, 4) and paper.model.hidden == 512
    assert paper.model.caption_hidden == 1024 and paper.train.batch_size == 128
    assert paper.train.lr == 1e-4 and paper.model.top_k == 10
    cha = resolve("charades-sta-cpu-small")
    assert cha.model.feature_dim == 1024 and cha.data.dataset == "charades-sta"
    assert cha.model.hidden == 64 and cha.data.train_subset == 3000


def test_overrides_are_typed():
    cfg = resolve("synthetic-cpu", ["train.lr=3e-4", "model.scales=[8,4]", "model.fusion_norm=false",
                                    "train.epochs=2", "data.features=/x.h5"])
    assert cfg.train.lr == 3e-4 and cfg.model.scales == (8, 4) and cfg.model.fusion_norm is False
    assert cfg.train.epochs == 2 and cfg.data.features == "/x.h5"
    with pytest.raises(ValueError, match="unknown config key"):
        resolve(None, ["train.lrr=1"])
    with pytest.raises(ValueError, match="needs a value"):
        resolve(None, ["train.lr"])
    with pytest.raises(ValueError, match="integer"):
        resolve(None, ["train.epochs=1.5"])
    with pytest.raises(ValueError, match="unknown preset"):
        resolve("nope")


def test_round_trip():
    cfg = resolve("charades-sta", ["train.seed=7"])
    again = Config.from_dict(cfg.to_dict())
    assert again.to_dict() == cfg.to_dict()


def test_bad_number_names_the_key():
    with pytest.raises(ValueError, match="train.epochs: expected an integer"):
        resolve(None, ["train.epochs=abc"])
    with pytest.raises(ValueError, match="train.lr: expected a number"):
        resolve(None, ["train.lr=fast"])


def test_every_preset_follows_the_rules():
    for name in list_presets():
        resolve(name).validate()


def test_a_declared_field_is_checked_without_more_code():
    """A field added later needs only its declaration (what another change to the configs does)."""
    from dataclasses import dataclass

    from ms2d.settings import check_fields, setting

    @dataclass
    class Extra:
        caption_decoder: str = setting("lstm", choices=("lstm", "transformer"))
        norm: float = setting(1.0, gt=0, max=10)
        sizes: tuple[int, ...] = setting((4,), nonempty=True, min=1)
        flag: bool = False

    assert check_fields(Extra(), "model") == []
    problems = check_fields(Extra("Transformer", float("nan"), (), "yes"), "model")
    assert problems == [
        "model.caption_decoder='Transformer' is not allowed: choose one of lstm, transformer "
        "(did you mean 'transformer'?)",
        "model.norm=nan: expected a finite number",
        "model.sizes=[]: give at least one value",
        "model.flag='yes': expected true or false",
    ]
    assert check_fields(Extra(norm=0.0), "m") == ["m.norm=0.0: must be > 0 and <= 10"]
