"""Typed run configuration: presets in YAML files, ``key=value`` overrides, saved with every run.

A run's config is ``Config(model=ModelConfig, train=TrainConfig, data=DataConfig)``. Presets live
in ``ms2d/configs/<name>.yaml`` (or any YAML path) and only list what they change. Overrides use
dotted keys: ``train.lr=3e-4 model.scales=[16,8,4] data.features=/x.hdf5``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from .models.config import ModelConfig


@dataclass
class TrainConfig:
    model: str = "ms2d"  # registry name: ms2d, ms2d-single-scale, bow-linear
    supervision: str = "weak"  # "weak" (the paper) or "full" (2D-TAN scaled-IoU BCE)
    label_rule: str = "rank"  # pseudo-label rule: rank (default), paper, softmax (docs/design.md)
    label_scope: str = "scale"  # rank candidates within each scale ("scale") or across all ("all")
    complement_weight: float = 1.0  # evidence = nll(span) - w * nll(rest of the video)
    rec_warmup_epochs: int = 0  # epochs at the start where only L_rec trains (RG-BCE off)
    pseudo_weight: float = 0.0  # + w * IoU-BCE of every cell against the teacher's best candidate
    rec_best: float = 0.0  # L_rec = (1-a) * mean over candidates + a * best candidate per scale
    margin: float = 0.0  # per-word NLL margin: own video vs another video (needs model.caption_video/negative)
    l_min: float = 0.1
    l_max: float = 0.7
    rec_weight: float = 1.0  # lambda in L = L_rgbce + lambda * L_rec
    lr: float = 1e-4
    weight_decay: float = 0.0
    batch_size: int = 128
    epochs: int = 10
    seed: int = 0
    grad_clip: float = 5.0  # max gradient norm; 0 disables clipping
    num_workers: int = 0
    device: str = "auto"  # auto, cpu, cuda, cuda:1, mps
    amp: bool = False  # bf16 autocast on GPU
    tf32: bool = False  # GPU: TF32 matrix products and convolutions (false: full fp32 everywhere)
    compile: bool = False  # torch.compile the conv stacks and the caption module
    deterministic: bool = False  # deterministic kernels (GPU: bit-identical resume; slower)
    nms: float = 0.5
    select_metric: str = "R@1,IoU=0.5"  # validation metric that picks the best checkpoint
    max_words: int = 25
    progress: bool = True
    checkpoint_every: int = 0  # also save last.pt every N steps (0 = at epoch ends only)


@dataclass
class DataConfig:
    dataset: str = "simulated"  # simulated, charades-sta, activitynet-captions, cpl, jsonl
    annotations: str = ""  # folder (or file) of the annotation files
    features: str = ""  # HDF5 file or folder of .npy/.npz
    word_vectors: str = ""  # optional GloVe / word2vec file
    protocol: str = ""  # dataset protocol ("" = the dataset's default)
    val_fraction: float = 0.1  # Charades-STA: share of train videos held out for validation
    train_subset: int = 0  # use only the first N training pairs (0 = all)
    feature_name: str = ""  # extractor name recorded in the checkpoint's feature spec
    clip_seconds: float = 0.0  # seconds per clip, recorded in the feature spec (0 = unknown)


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)
    preset: str = ""

    def to_dict(self) -> dict:
        return {"model": self.model.to_dict(), "train": asdict(self.train),
                "data": asdict(self.data), "preset": self.preset}

    @classmethod
    def from_dict(cls, d: dict) -> Config:
        cfg = cls()
        for section in ("model", "train", "data"):
            for key, value in (d.get(section) or {}).items():
                _set(cfg, f"{section}.{key}", value)
        cfg.preset = d.get("preset", "")
        return cfg


def _coerce(current, value, key: str):
    if isinstance(current, bool):
        if isinstance(value, str):
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(f"{key}: expected true/false, got {value!r}")
        return bool(value)
    if isinstance(current, tuple):
        if isinstance(value, str):
            value = yaml.safe_load(value)
        if isinstance(value, int):
            value = [value]
        return tuple(int(v) for v in value)
    if isinstance(current, (int, float)) and isinstance(value, str):
        value = yaml.safe_load(value)
    try:
        if isinstance(current, float):
            return float(value)
        if isinstance(current, int):
            if float(value) != int(float(value)):
                raise ValueError(f"{key}: expected an integer, got {value!r}")
            return int(value)
    except (TypeError, ValueError) as exc:
        if str(exc).startswith(key):
            raise
        kind = "an integer" if isinstance(current, int) else "a number"
        raise ValueError(f"{key}: expected {kind}, got {value!r}") from None
    return str(value)


def _set(cfg: Config, dotted: str, value) -> None:
    parts = dotted.split(".")
    if len(parts) != 2 or parts[0] not in ("model", "train", "data"):
        raise ValueError(f"config key {dotted!r}: use section.key with section model, train or data")
    section = getattr(cfg, parts[0])
    names = {f.name for f in dataclasses.fields(section)}
    if parts[1] not in names:
        raise ValueError(f"unknown config key {dotted!r}; {parts[0]} keys: {', '.join(sorted(names))}")
    setattr(section, parts[1], _coerce(getattr(section, parts[1]), value, dotted))


def list_presets() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("ms2d.configs").iterdir() if p.name.endswith(".yaml"))


def load_preset(name_or_path: str) -> dict:
    path = Path(name_or_path)
    if not path.suffix:
        res = resources.files("ms2d.configs") / f"{name_or_path}.yaml"
        if not res.is_file():
            raise ValueError(f"unknown preset {name_or_path!r}; known: {', '.join(list_presets())}")
        text = res.read_text()
    else:
        text = path.read_text()
    d = yaml.safe_load(text) or {}
    base = d.pop("inherit", None)
    if base:
        parent = load_preset(base)
        for section in ("model", "train", "data"):
            parent.setdefault(section, {}).update(d.get(section) or {})
        d = parent
    return d


def resolve(preset: str | None = None, overrides: list[str] | dict | None = None) -> Config:
    """Defaults <- preset file <- overrides (``["train.lr=1e-3", ...]`` or a dotted dict)."""
    cfg = Config.from_dict(load_preset(preset)) if preset else Config()
    cfg.preset = preset or ""
    items = overrides.items() if isinstance(overrides, dict) else [
        o.split("=", 1) if "=" in o else (o, None) for o in (overrides or [])
    ]
    for key, value in items:
        if value is None:
            raise ValueError(f"override {key!r} needs a value: write key=value")
        _set(cfg, key, value)
    return cfg


def save_config(cfg: Config, path: Path) -> None:
    from .utils import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))
