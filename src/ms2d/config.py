"""Typed run configuration: presets in YAML files, ``key=value`` overrides, saved with every run.

A run's config is ``Config(model=ModelConfig, train=TrainConfig, data=DataConfig)``. Presets live
in ``ms2d/configs/<name>.yaml`` (or any YAML path) and only list what they change. Overrides use
dotted keys: ``train.lr=3e-4 model.scales=[16,8,4] data.features=/x.hdf5``.

Every field is checked when a config is built (:meth:`Config.validate`, run by
:meth:`Config.from_dict`, :func:`resolve` and checkpoint loading): its type, and the allowed
values or range declared next to it with :func:`ms2d.settings.setting`. A wrong value is a
:class:`ms2d.settings.ConfigError` (a ``ValueError``) naming the key and what is allowed, raised
before any data is read.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from .models.config import ModelConfig
from .settings import ConfigError, check_fields, did_you_mean, raise_problems, setting

#: the ``data.dataset`` names: the annotation formats, and the built-in simulated benchmark
DATASETS: tuple[str, ...] = ("simulated", "charades-sta", "activitynet-captions", "cpl", "jsonl")
#: ``data.protocol`` values ("" = the dataset's default); which dataset takes which: PROTOCOLS
#: in ms2d.data.annotations
PROTOCOL_NAMES: tuple[str, ...] = ("", "2d-tan", "cpl", "strict")


def _model_names() -> list[str]:
    from .models.registry import list_models

    return list_models()


def _metric_keys() -> tuple[str, ...]:
    from .eval.metrics import METRIC_KEYS

    return METRIC_KEYS


def _device_name(name: str) -> str | None:
    """Whether ``name`` spells a device (availability is checked where a run starts:
    :func:`ms2d.utils.check_device`, since a checkpoint trained on a GPU is read on CPUs)."""
    from .utils import device_problem

    return device_problem(name, check_available=False)


#: label rules each teacher can use (the first is its default)
TEACHER_RULES = {"caption": ("paper", "rank", "softmax"), "appearance": ("evidence",)}
#: settings only the caption teacher reads
CAPTION_ONLY = ("model.top_k", "model.caption_input", "model.caption_fusion",
                "model.caption_shared_dropout", "model.word_mask", "model.explore")
#: settings only the appearance teacher reads
APPEARANCE_ONLY = ("model.teacher_folds", "model.inference_teacher", "model.teacher_text")


@dataclass
class TrainConfig:
    model: str = setting("ms2d", choices=_model_names)  # ms2d, ms2d-single-scale, bow-linear
    # weak (the paper) or full (2D-TAN scaled-IoU BCE on the ground-truth windows)
    supervision: str = setting("weak", choices=("weak", "full"))
    # pseudo-label rule. Caption teacher: paper (METHOD.md: l_min / l_max of the NLL shares),
    # rank or softmax (within each scale's candidates). Appearance teacher: evidence (every
    # candidate of every scale, standardised evidence, the best 1; docs/design.md)
    label_rule: str = setting("paper", choices=("paper", "rank", "softmax", "evidence"))
    l_min: float = setting(0.1, min=0, max=1)  # paper rule
    l_max: float = setting(0.7, min=0, max=1)  # paper rule
    sharpness: float = setting(2.0, gt=0)  # evidence rule: labels exp(s * (z - z_max))
    rec_weight: float = setting(1.0, min=0)  # lambda in L = L_rgbce + lambda * L_rec
    lr: float = setting(1e-4, gt=0)
    weight_decay: float = setting(0.0, min=0)
    batch_size: int = setting(128, min=1)
    epochs: int = setting(10, min=1)
    seed: int = setting(0, min=0, max=2**32 - 1)
    grad_clip: float = setting(5.0, min=0)  # max gradient norm; 0 disables clipping
    num_workers: int = setting(0, min=0)
    device: str = setting("auto", check=_device_name)  # auto, cpu, cuda, cuda:1, mps
    amp: bool = False  # bf16 autocast on GPU
    tf32: bool = False  # GPU: TF32 matrix products and convolutions (false: full fp32 everywhere)
    compile: bool = False  # torch.compile the conv stacks and the caption module
    deterministic: bool = False  # deterministic kernels (GPU: bit-identical resume; slower)
    nms: float = setting(0.5, min=0, max=1)
    # validation metric that picks the best checkpoint
    select_metric: str = setting("R@1,IoU=0.5", choices=_metric_keys)
    max_words: int = setting(25, min=1)
    progress: bool = True
    # also save last.pt every N steps (0 = at epoch ends only)
    checkpoint_every: int = setting(0, min=0)


@dataclass
class DataConfig:
    dataset: str = setting("simulated", choices=DATASETS)
    annotations: str = ""  # folder (or file) of the annotation files
    features: str = ""  # HDF5 file or folder of .npy/.npz
    word_vectors: str = ""  # optional GloVe / word2vec file
    protocol: str = setting("", choices=PROTOCOL_NAMES)  # "" = the dataset's default
    # Charades-STA: share of train videos held out for validation
    val_fraction: float = setting(0.1, gt=0, lt=1)
    train_subset: int = setting(0, min=0)  # use only the first N training pairs (0 = all)
    feature_name: str = ""  # extractor name recorded in the checkpoint's feature spec
    # seconds per clip, recorded in the feature spec (0 = unknown)
    clip_seconds: float = setting(0.0, min=0)


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)
    preset: str = ""
    #: warnings about explicitly given settings that this config does not read (not saved)
    notes: list[str] = field(default_factory=list, repr=False, compare=False)

    def to_dict(self) -> dict:
        return {"model": self.model.to_dict(), "train": asdict(self.train),
                "data": asdict(self.data), "preset": self.preset}

    @classmethod
    def from_dict(cls, d: dict, validate: bool = True) -> Config:
        """The config of a (nested) dict: a preset, a saved ``config.yaml``, a checkpoint's
        ``config``. Checked unless ``validate=False`` (for a caller that changes it further and
        then calls :meth:`validate` itself)."""
        if not isinstance(d, dict):
            raise ConfigError(f"a config must be a mapping of sections, got {type(d).__name__}")
        unknown = sorted(set(d) - {"model", "train", "data", "preset", "inherit"})
        if unknown:
            raise ConfigError(f"unknown config section(s) {unknown}; the sections are model, "
                              "train and data (and preset)")
        cfg = cls()
        for section in ("model", "train", "data"):
            values = d.get(section) or {}
            if not isinstance(values, dict):
                raise ConfigError(f"config section {section!r} must be a mapping of key: value, "
                                  f"got {type(values).__name__}")
            for key, value in values.items():
                _set(cfg, f"{section}.{key}", value)
        cfg.preset = str(d.get("preset") or "")
        return cfg.validate() if validate else cfg

    def problems(self) -> list[str]:
        """Every setting that is not allowed, one message each (empty when all are fine)."""
        problems = (self.model.problems("model") + check_fields(self.train, "train")
                    + check_fields(self.data, "data"))
        tc, dc = self.train, self.data
        if tc.l_min > tc.l_max:
            problems.append(f"train.l_min={tc.l_min} > train.l_max={tc.l_max}: l_min must be "
                            "<= l_max")
        rules = TEACHER_RULES.get(self.model.teacher, ())
        known = tc.label_rule in {r for rs in TEACHER_RULES.values() for r in rs}
        if tc.supervision == "weak" and rules and known and tc.label_rule not in rules:
            problems.append(f"train.label_rule={tc.label_rule} does not go with "
                            f"model.teacher={self.model.teacher}: use "
                            f"{' or '.join(rules)} (or the other teacher)")
        if dc.protocol in PROTOCOL_NAMES[1:] and dc.dataset in DATASETS:
            from .data.annotations import PROTOCOLS

            allowed = PROTOCOLS.get("activitynet-captions" if dc.dataset == "simulated"
                                    else dc.dataset, ())
            if dc.protocol not in allowed:
                problems.append(f"data.protocol={dc.protocol!r} is not available for "
                                f"data.dataset={dc.dataset}: choose {' or '.join(allowed)} "
                                "(or leave it empty for the default)")
        return problems

    def validate(self) -> Config:
        """Raise :class:`ms2d.settings.ConfigError` naming every setting that is not allowed;
        return the config itself when all are fine."""
        raise_problems(self.problems())
        return self

    def unread(self, keys) -> list[str]:
        """Of the dotted ``keys`` (settings given explicitly), those this config's supervision,
        teacher and label rule never read, one message each (a warning, not an error)."""
        m, t = self.model, self.train
        reads: dict[str, bool] = {
            "train.l_min": t.label_rule == "paper", "train.l_max": t.label_rule == "paper",
            "train.sharpness": t.label_rule == "evidence",
        }
        for key in CAPTION_ONLY:
            reads[key] = m.teacher == "caption"
        for key in APPEARANCE_ONLY:
            reads[key] = m.teacher == "appearance"
        # the bag-of-words appearance teacher has no hidden layer
        reads["model.caption_hidden"] = not (m.teacher == "appearance" and m.teacher_text == "bow")
        text = f", model.teacher_text={m.teacher_text}" if m.teacher == "appearance" else ""
        why = f"model.teacher={m.teacher}{text}, train.label_rule={t.label_rule}"
        if t.supervision == "full":
            for key in (*CAPTION_ONLY, *APPEARANCE_ONLY, *reads, "model.teacher",
                        "model.caption_hidden",
                        "train.label_rule", "train.rec_weight"):
                reads[key] = False
            why = "train.supervision=full (no teacher, no pseudo-labels)"
        return [f"{k} is set but not read with {why}" for k in keys if reads.get(k) is False]


def _coerce(current, value, key: str):
    """``value`` (text from the command line, or a YAML value) as the type of ``current``."""
    raw = value
    if isinstance(current, bool):
        if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(value, str) and value.strip().lower() in ("0", "false", "no", "off"):
            return False
        if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
            return bool(value)
        raise ConfigError(f"{key}: expected true or false, got {raw!r}")
    if isinstance(current, tuple):
        try:
            if isinstance(value, str):
                value = yaml.safe_load(value) if value.strip() else []
            if isinstance(value, int) and not isinstance(value, bool):
                value = [value]
            if not isinstance(value, (list, tuple)) or any(
                    isinstance(v, bool) or float(v) != int(v) for v in value):
                raise ValueError
            return tuple(int(v) for v in value)
        except (TypeError, ValueError, OverflowError, yaml.YAMLError):
            raise ConfigError(f"{key}: expected a list of integers such as [16,8,4], "
                              f"got {raw!r}") from None
    if isinstance(current, str):
        if isinstance(value, (list, dict, bool)) or value is None:
            raise ConfigError(f"{key}: expected a text value, got {raw!r}")
        return str(value)
    # a number
    kind = "an integer" if isinstance(current, int) else "a number"
    if isinstance(value, str):
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError:
            pass  # float() below says what is wrong
    try:
        if isinstance(value, (bool, list, dict)) or value is None:
            raise TypeError
        if isinstance(current, float):
            return float(value)
        if isinstance(value, int):
            return value
        number = float(value)
        if not number.is_integer():
            raise ValueError
        return int(number)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{key}: expected {kind}, got {raw!r}") from None


def _set(cfg: Config, dotted: str, value) -> None:
    parts = str(dotted).strip().split(".")
    if len(parts) != 2 or parts[0] not in ("model", "train", "data"):
        raise ConfigError(f"config key {dotted!r}: use section.key with section model, train or "
                          "data, e.g. train.epochs=5")
    section = getattr(cfg, parts[0])
    names = {f.name for f in dataclasses.fields(section)}
    if parts[1] not in names:
        raise ConfigError(f"unknown config key {dotted!r}{did_you_mean(parts[1], names)}; "
                          f"{parts[0]} keys: {', '.join(sorted(names))}")
    setattr(section, parts[1], _coerce(getattr(section, parts[1]), value, dotted))


def list_presets() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("ms2d.configs").iterdir() if p.name.endswith(".yaml"))


def load_preset(name_or_path: str, _seen: tuple[str, ...] = ()) -> dict:
    """The dict of a preset name (``ms2d/configs/<name>.yaml``) or YAML path, with its
    ``inherit:`` presets (a name or a list, merged left to right, the preset's own values
    last) merged in (not yet checked: see :func:`resolve`)."""
    path = Path(name_or_path)
    if not path.suffix:
        res = resources.files("ms2d.configs") / f"{name_or_path}.yaml"
        if not res.is_file():
            raise ConfigError(f"unknown preset {name_or_path!r}"
                              f"{did_you_mean(name_or_path, list_presets())}; known: "
                              f"{', '.join(list_presets())} (or give a .yaml path)")
        text = res.read_text()
    else:
        if not path.is_file():
            raise FileNotFoundError(f"preset file {path} does not exist"
                                    + (" (it is a folder)" if path.is_dir() else ""))
        text = path.read_text(encoding="utf-8")
    try:
        d = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"preset {name_or_path}: not valid YAML ({exc})".replace("\n", " ")
                          ) from None
    if not isinstance(d, dict):
        raise ConfigError(f"preset {name_or_path}: expected a mapping of sections (model:, "
                          f"train:, data:), got {type(d).__name__}")
    bases = d.pop("inherit", None) or []
    merged: dict = {}
    for base in ([bases] if isinstance(bases, str) else bases) + [None]:
        if base is None:
            layer = d
        else:
            if str(base) in _seen:
                raise ConfigError(f"preset {name_or_path}: 'inherit' goes round in a circle "
                                  f"({' -> '.join((*_seen, str(base)))})")
            layer = load_preset(str(base), (*_seen, str(name_or_path)))
        for section in ("model", "train", "data"):
            values = layer.get(section) or {}
            if not isinstance(values, dict):
                raise ConfigError(f"preset {name_or_path}: section {section!r} must be a "
                                  f"mapping of key: value, got {type(values).__name__}")
            merged.setdefault(section, {}).update(values)
        for key in set(layer) - {"model", "train", "data"}:
            merged[key] = layer[key]
    return merged


def resolve(preset: str | None = None, overrides: list[str] | dict | None = None) -> Config:
    """Defaults <- preset file <- overrides (``["train.lr=1e-3", ...]`` or a dotted dict)."""
    cfg = Config.from_dict(load_preset(preset), validate=False) if preset else Config()
    cfg.preset = preset or ""
    items = overrides.items() if isinstance(overrides, dict) else [
        o.split("=", 1) if "=" in o else (o, None) for o in (overrides or [])
    ]
    given = []
    for key, value in items:
        if value is None:
            raise ConfigError(f"override {key!r} needs a value: write key=value, e.g. "
                              "train.epochs=5")
        _set(cfg, key, value)
        given.append(key)
    cfg.validate()
    cfg.notes = cfg.unread(given)  # not saved: train() logs them as warnings
    return cfg


def save_config(cfg: Config, path: Path) -> None:
    from .files import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))
