"""Argument helpers shared by the sub-commands that train or evaluate."""

from __future__ import annotations

import argparse

from ..config import Config, list_presets, resolve

DATASETS = ("simulated", "charades-sta", "activitynet-captions", "cpl", "jsonl")


def add_data_arguments(parser: argparse.ArgumentParser, required: bool = False) -> None:
    parser.add_argument("--dataset", choices=DATASETS, default=None,
                        help="annotation format / dataset (default: the preset's, or the run's)")
    parser.add_argument("--annotations", default=None, metavar="DIR",
                        help="folder (or file) holding the annotation files")
    parser.add_argument("--features", default=None, metavar="PATH",
                        help="HDF5 feature file or folder of <vid>.npy/.npz (auto-detected)")


def preset_name(preset: str | None, dataset: str | None) -> str:
    """``--preset cpu-small --dataset charades-sta`` -> ``charades-sta-cpu-small`` when it exists."""
    known = list_presets()
    if preset is None:
        if dataset in known:
            return dataset
        return "synthetic-cpu" if dataset in (None, "simulated") else "cpu-small"
    if dataset and f"{dataset}-{preset}" in known:
        return f"{dataset}-{preset}"
    return preset


def config_from_args(args: argparse.Namespace) -> Config:
    cfg = resolve(preset_name(args.preset, args.dataset), args.overrides)
    for key in ("dataset", "annotations", "features"):
        value = getattr(args, key, None)
        if value is not None:
            setattr(cfg.data, key, str(value))
    return cfg
