"""Baselines under the same evaluator: random and prior-only (neither looks at the video), and a
closed-form bag-of-words linear weak learner (no boundaries in training).

The full-supervision upper reference and the single-scale ablation are the same network trained
with another config (``train.supervision=full``, ``train.model=ms2d-single-scale``).
"""

from .linear import LinearWeakBaseline
from .prior import PriorBaseline, RandomBaseline

__all__ = ["LinearWeakBaseline", "PriorBaseline", "RandomBaseline"]
