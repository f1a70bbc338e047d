"""Model stages (one small file each) and the assembled network.

``ModelConfig`` (a plain dataclass) imports without torch; the network and the registry are
imported on first use, so that reading a config (and ``ms2d --help``) does not load torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import ModelConfig

if TYPE_CHECKING:
    from .ms2d import MS2D
    from .registry import create_model, list_models, model_config

_LAZY = {
    "MS2D": "ms2d",
    "create_model": "registry",
    "list_models": "registry",
    "model_config": "registry",
}

__all__ = ["MS2D", "ModelConfig", "create_model", "list_models", "model_config"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
