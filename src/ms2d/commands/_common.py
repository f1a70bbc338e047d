"""Argument helpers shared by the sub-commands: typed numbers with their ranges, input and
output paths checked before any work, the config of a command line."""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from pathlib import Path

from ..config import DATASETS, Config, list_presets, resolve

__all__ = ["DATASETS", "SEED", "add_data_arguments", "apply_data_arguments", "check_input",
           "check_plot_path", "config_from_args", "count", "number", "preset_name"]


def number(kind: type = float, *, min: float | None = None,  # noqa: A002 - rule names
           max: float | None = None, gt: float | None = None) -> Callable[[str], float]:
    """An argparse ``type=`` for an ``int`` or a finite ``float`` within bounds; a bad value is
    argparse's usage error (exit status 2) saying what is allowed."""
    from ..settings import format_number

    bounds = " and ".join(f"{op} {format_number(v)}" for op, v in
                          ((">", gt), (">=", min), ("<=", max)) if v is not None)
    what = ("a whole number" if kind is int else "a number") + (f" {bounds}" if bounds else "")

    def parse(text: str) -> float:
        try:
            value = kind(text.strip())
        except (TypeError, ValueError, OverflowError):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if kind is float and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        if ((min is not None and value < min) or (max is not None and value > max)
                or (gt is not None and value <= gt)):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    parse.__name__ = kind.__name__
    return parse


def count(min: int = 1, max: int = 10**9) -> Callable[[str], float]:  # noqa: A002
    """A whole number in ``[min, max]`` (a count of videos, items, steps ...)."""
    return number(int, min=min, max=max)


#: seeds: numpy's generators take 0 <= seed < 2**32
SEED = number(int, min=0, max=2**32 - 1)


def check_input(path: str | os.PathLike | None, what: str, *, folder_ok: bool = True,
                file_ok: bool = True) -> Path | None:
    """Raise ``FileNotFoundError`` (naming ``what``, e.g. ``--features``) unless ``path``
    exists (as a file and/or a folder, as allowed); None passes."""
    if path is None:
        return None
    p = Path(path)
    if str(path).strip() == "":
        raise FileNotFoundError(f"{what}: the path is empty")
    if not p.exists():
        raise FileNotFoundError(f"{what} {p} does not exist")
    if p.is_dir() and not folder_ok:
        raise IsADirectoryError(f"{what} {p} is a folder; give a file")
    if not p.is_dir() and not file_ok:
        raise NotADirectoryError(f"{what} {p} is a file; give a folder")
    return p


def check_plot_path(path: str | os.PathLike, what: str) -> Path:
    """A figure file that can be written, in a format matplotlib writes (from its suffix)."""
    from ..files import check_output_file

    p = check_output_file(path, what, suffix=".png")
    kind = p.suffix[1:].lower()
    if kind:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.figure import Figure

        known = Figure().canvas.get_supported_filetypes()
        if kind not in known:
            raise ValueError(f"{what} {p}: matplotlib cannot write .{kind} files; use one of "
                             f"{', '.join('.' + k for k in sorted(known))}")
    return p


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


def apply_data_arguments(cfg: Config, args: argparse.Namespace) -> Config:
    """``--dataset/--annotations/--features`` over ``cfg.data``; the result is checked."""
    for key in ("dataset", "annotations", "features"):
        value = getattr(args, key, None)
        if value is not None:
            setattr(cfg.data, key, str(value))
    return cfg.validate()


def config_from_args(args: argparse.Namespace) -> Config:
    cfg = resolve(preset_name(args.preset, args.dataset), args.overrides)
    return apply_data_arguments(cfg, args)
