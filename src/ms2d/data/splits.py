"""Turning a ``DataConfig`` into query lists, a feature store and a vocabulary."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from ..config import DataConfig
from .annotations import Annotations, read_annotations
from .features import check_clip_counts, check_coverage, open_features
from .formats import FORMATS
from .records import DataError, DataWarning, Query
from .vocab import Vocab

# The simulated benchmark is written in the ActivityNet Captions layout.
_READER = {"simulated": "activitynet-captions"}

#: the splits whose queries are scored against their ground-truth windows
EVALUATED = ("val", "test")

#: report keys of records a protocol changed or dropped, with what the warning says of them
_FIXED = {
    "dropped_start_ge_end": "dropped: start >= end once clamped to the video (a window empty "
                            "or wholly beyond the video)",
    "dropped_end_gt_duration": "dropped: end beyond the video (protocol cpl)",
    "dropped_other": "dropped",
    "clamped_end": "end clamped to the video's duration",
    "clamped_start": "negative start clamped to 0",
}


@dataclass
class Splits:
    train: list[Query]
    val: list[Query]
    test: list[Query]
    store: object
    protocol: str
    reports: dict


def _require_windows(ann: Annotations, split: str) -> None:
    """An evaluated split needs a ground-truth window on every query (else the metrics would
    be computed on a ragged array): a ``DataError`` naming the first record without one."""
    n = ann.report.get("no_window", 0)
    if n:
        first = ann.examples.get("no_window", ann.source)
        raise DataError(
            f"{first}: no ground-truth window ('windows' absent, null or []), and split {split!r} "
            f"is evaluated against its windows ({n:,} of {ann.report.get('kept', n):,} queries "
            "lack one). Fix: give every query of this split its window, or move the queries "
            "without one to the training split (weak supervision needs none)"
        )


def warn_fixed(ann: Annotations, split: str) -> None:
    """A :class:`DataWarning` for the records the dataset's protocol dropped or clamped
    (counted, with the first of each kind), so none goes unnoticed."""
    parts = [f"{ann.report[k]:,} {what} (first: {ann.examples.get(k, ann.source)})"
             for k, what in _FIXED.items() if ann.report.get(k)]
    if parts:
        warnings.warn(DataWarning(
            f"annotations of split {split!r} ({ann.source}, protocol {ann.protocol}): "
            + "; ".join(parts) + f"; {ann.report.get('kept', 0):,} of "
            f"{ann.report.get('raw', 0):,} records kept"), stacklevel=3)


def load_annotations(cfg: DataConfig, split: str, *, need_windows: bool = False,
                     warn: bool = False) -> Annotations:
    """The annotations of one split of ``cfg``; ``need_windows``: every query must have its
    window (:data:`EVALUATED` splits); ``warn``: a :class:`DataWarning` for records dropped or
    clamped, naming the first of each kind."""
    if not cfg.annotations:
        raise DataError("no annotations given: pass --annotations DIR (or data.annotations=DIR)")
    kwargs = {"protocol": cfg.protocol} if cfg.protocol else {}
    if cfg.dataset == "charades-sta":
        kwargs["val_fraction"] = cfg.val_fraction
    ann = read_annotations(_READER.get(cfg.dataset, cfg.dataset), cfg.annotations, split, **kwargs)
    if need_windows:
        _require_windows(ann, split)
    if warn:
        warn_fixed(ann, split)
    return ann


def load_split(cfg: DataConfig, split: str, *, need_windows: bool = False,
               warn: bool = False) -> tuple[list[Query], str, dict]:
    ann = load_annotations(cfg, split, need_windows=need_windows, warn=warn)
    return ann.queries, ann.protocol, ann.report


def clip_seconds(cfg: DataConfig) -> float:
    """Seconds per clip of ``cfg``'s features: ``data.clip_seconds``, else the spec that
    ``ms2d extract`` wrote with the file, else 0 (unknown)."""
    if cfg.clip_seconds:
        return float(cfg.clip_seconds)
    from ..video.extract import read_feature_spec  # imports no video package at module level

    try:
        spec = read_feature_spec(cfg.features) if cfg.features else None
    except (OSError, ValueError):
        spec = None
    return float((spec or {}).get("clip_seconds") or 0.0)


def default_features(cfg: DataConfig) -> str:
    """The feature file to use when none is given: for ``dataset=simulated``, the
    ``features.hdf5`` that ``ms2d simulate`` writes next to the annotations; else ``""``."""
    if cfg.features or cfg.dataset != "simulated" or not cfg.annotations:
        return cfg.features
    folder = Path(cfg.annotations)
    found = (folder if folder.is_dir() else folder.parent) / "features.hdf5"
    return str(found) if found.is_file() else ""


def split_missing(cfg: DataConfig, split: str) -> bool:
    """True when the annotation folder has no file for ``split`` (e.g. no ``val.jsonl``);
    never for a split the format derives (Charades-STA's val) or for the simulated data."""
    folder = Path(cfg.annotations)
    fmt = FORMATS.get(cfg.dataset)
    names = fmt.split_files(split) if fmt else ()
    if not names or not folder.is_dir():
        return False
    return not any((folder / n).is_file() for n in names)


def load_splits(cfg: DataConfig, splits=("train", "val", "test"), optional=()) -> Splits:
    """The queries of ``splits``, the feature store and the reader reports. With no
    ``cfg.features`` for a simulated dataset, the simulation's own ``features.hdf5`` is used
    (and recorded in ``cfg``, so the run's config names it). A split of :data:`EVALUATED`
    needs a window on every query, unless it is named in ``optional``: such a split (training's
    validation) may lack windows (its queries without one are not scored), and when its file is
    absent from the annotation folder it is empty instead of an error."""
    cfg.features = default_features(cfg)
    if not cfg.features:
        hint = (f" ({Path(cfg.annotations) / 'features.hdf5'} does not exist)"
                if cfg.dataset == "simulated" and cfg.annotations else "")
        raise DataError(f"no features given{hint}: pass --features FILE.hdf5 (or "
                        "data.features=PATH)")
    out, protocol, reports = {}, "", {}
    for split in splits:
        if split in optional and split_missing(cfg, split):
            out[split], reports[split] = [], {}
            continue
        out[split], protocol, reports[split] = load_split(
            cfg, split, need_windows=split in EVALUATED and split not in optional, warn=True)
    if cfg.train_subset and "train" in out:
        out["train"] = out["train"][: cfg.train_subset]
    store = open_features(cfg.features)
    for queries in out.values():
        check_coverage(store, sorted({q.vid for q in queries}))
    seconds = clip_seconds(cfg)
    for split, queries in out.items():
        check_clip_counts(store, queries, seconds, split)
    return Splits(out.get("train", []), out.get("val", []), out.get("test", []), store, protocol, reports)


def build_vocab(queries: list[Query]) -> Vocab:
    return Vocab.build(q.sentence for q in queries)
