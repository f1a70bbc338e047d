"""Turning a ``DataConfig`` into query lists, a feature store and a vocabulary."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config import DataConfig
from ..data.annotations import read_annotations
from ..data.features import check_coverage, open_features
from ..data.records import DataError, Query
from ..data.vocab import Vocab

# The simulated benchmark is written in the ActivityNet Captions layout.
_READER = {"simulated": "activitynet-captions"}


@dataclass
class Splits:
    train: list[Query]
    val: list[Query]
    test: list[Query]
    store: object
    protocol: str
    reports: dict


def load_split(cfg: DataConfig, split: str) -> tuple[list[Query], str, dict]:
    if not cfg.annotations:
        raise DataError("no annotations given: pass --annotations DIR (or data.annotations=DIR)")
    kwargs = {"protocol": cfg.protocol} if cfg.protocol else {}
    if cfg.dataset == "charades-sta":
        kwargs["val_fraction"] = cfg.val_fraction
    ann = read_annotations(_READER.get(cfg.dataset, cfg.dataset), cfg.annotations, split, **kwargs)
    return ann.queries, ann.protocol, ann.report


def default_features(cfg: DataConfig) -> str:
    """The feature file to use when none is given: for ``dataset=simulated``, the
    ``features.hdf5`` that ``ms2d simulate`` writes next to the annotations; else ``""``."""
    if cfg.features or cfg.dataset != "simulated" or not cfg.annotations:
        return cfg.features
    folder = Path(cfg.annotations)
    found = (folder if folder.is_dir() else folder.parent) / "features.hdf5"
    return str(found) if found.is_file() else ""


# file names a split may have in an annotation folder, per format (absent: always there)
_SPLIT_FILES = {"jsonl": ("{}.jsonl",), "cpl": ("{}.json", "{}_data.json"),
                "activitynet-captions": ("{}.json",)}


def split_missing(cfg: DataConfig, split: str) -> bool:
    """True when the annotation folder has no file for ``split`` (e.g. no ``val.jsonl``)."""
    folder = Path(cfg.annotations)
    names = _SPLIT_FILES.get(cfg.dataset)
    if not names or not folder.is_dir():
        return False
    return not any((folder / n.format(split)).is_file() for n in names)


def load_splits(cfg: DataConfig, splits=("train", "val", "test"), optional=()) -> Splits:
    """The queries of ``splits``, the feature store and the reader reports. With no
    ``cfg.features`` for a simulated dataset, the simulation's own ``features.hdf5`` is used
    (and recorded in ``cfg``, so the run's config names it). A split named in ``optional``
    whose file is absent from the annotation folder is empty instead of an error."""
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
        out[split], protocol, reports[split] = load_split(cfg, split)
    if cfg.train_subset and "train" in out:
        out["train"] = out["train"][: cfg.train_subset]
    store = open_features(cfg.features)
    for queries in out.values():
        check_coverage(store, sorted({q.vid for q in queries}))
    return Splits(out.get("train", []), out.get("val", []), out.get("test", []), store, protocol, reports)


def build_vocab(queries: list[Query]) -> Vocab:
    return Vocab.build(q.sentence for q in queries)
