"""Turning a ``DataConfig`` into query lists, a feature store and a vocabulary."""

from __future__ import annotations

from dataclasses import dataclass

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


def load_splits(cfg: DataConfig, splits=("train", "val", "test")) -> Splits:
    if not cfg.features:
        raise DataError("no features given: pass --features FILE.hdf5 (or data.features=PATH)")
    out, protocol, reports = {}, "", {}
    for split in splits:
        out[split], protocol, reports[split] = load_split(cfg, split)
    if cfg.train_subset and "train" in out:
        out["train"] = out["train"][: cfg.train_subset]
    store = open_features(cfg.features)
    for queries in out.values():
        check_coverage(store, sorted({q.vid for q in queries}))
    return Splits(out.get("train", []), out.get("val", []), out.get("test", []), store, protocol, reports)


def build_vocab(queries: list[Query]) -> Vocab:
    return Vocab.build(q.sentence for q in queries)
