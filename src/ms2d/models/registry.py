"""Models by name: ``create_model(name, **overrides)`` and ``list_models()``.

Every entry is the same network with a different configuration, so ablations are config
changes, not code branches.
"""

from __future__ import annotations

from collections.abc import Callable

from .config import ModelConfig
from .ms2d import MS2D

_REGISTRY: dict[str, Callable[[ModelConfig], ModelConfig]] = {}


def register(name: str):
    def deco(fn: Callable[[ModelConfig], ModelConfig]):
        _REGISTRY[name] = fn
        return fn

    return deco


@register("ms2d")
def _ms2d(cfg: ModelConfig) -> ModelConfig:
    """The paper's model: every scale of ``cfg.scales``."""
    return cfg


@register("ms2d-single-scale")
def _single(cfg: ModelConfig) -> ModelConfig:
    """Table III ablation: only the largest map."""
    cfg.scales = (max(cfg.scales),)
    return cfg


@register("bow-linear")
def _bow(cfg: ModelConfig) -> ModelConfig:
    """A linear bag-of-words scorer: mean word embedding, bilinear fusion, no convs, no norm."""
    cfg.text_encoder = "bow"
    cfg.conv_layers = 0
    cfg.fusion_norm = False
    return cfg


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def model_config(name: str, base: ModelConfig | None = None, **overrides) -> ModelConfig:
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(list_models())}")
    cfg = ModelConfig.from_dict({**(base or ModelConfig()).to_dict(), **overrides})
    return _REGISTRY[name](cfg)


def create_model(name: str = "ms2d", base: ModelConfig | None = None, **overrides) -> MS2D:
    return MS2D(model_config(name, base, **overrides))
