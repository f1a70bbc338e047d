"""ms2d: weakly supervised video moment retrieval with multi-scale 2D temporal maps.

The Python API (imported on first use, so ``import ms2d`` stays light)::

    import ms2d
    retriever = ms2d.load("runs/my-run")                  # -> ms2d.Retriever
    video = retriever.encode_video("my_video.mp4")        # needs ms2d[video]
    moments = retriever.predict(video, ["a person opens the door", "someone sits down"])
    metrics = ms2d.evaluate("predictions.jsonl", "ground_truth.jsonl")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .api import Moment, Retriever, VideoFeatures, load
    from .eval.evaluator import evaluate_files as evaluate

_LAZY = {
    "load": ("api", "load"),
    "Retriever": ("api", "Retriever"),
    "VideoFeatures": ("api", "VideoFeatures"),
    "Moment": ("inference", "Moment"),
    "evaluate": ("eval.evaluator", "evaluate_files"),
}

__all__ = ["Moment", "Retriever", "VideoFeatures", "__version__", "evaluate", "load"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(f".{module}", __name__), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
