"""From score maps to ranked moments in seconds (METHOD.md section 5)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .eval.metrics import nms


@dataclass(frozen=True)
class Moment:
    """One predicted moment, in seconds."""

    start: float
    end: float
    score: float


def candidate_table(scales: tuple[int, ...], masks: list[torch.Tensor]) -> tuple[np.ndarray, np.ndarray]:
    """All valid cells of all scales: their normalised ``[start, end]`` and flat map positions.

    Returns ``frac [C, 2]`` (fractions of the duration) and ``(scale, cell) [C, 2]``.
    """
    fracs, where = [], []
    for j, (n, mask) in enumerate(zip(scales, masks)):
        x, y = mask.cpu().nonzero(as_tuple=True)
        fracs.append(np.stack([x.numpy() / n, (y.numpy() + 1) / n], 1))
        where.append(np.stack([np.full(len(x), j), (x * n + y).numpy()], 1))
    return np.concatenate(fracs).astype(np.float64), np.concatenate(where)


def flat_scores(logits: list[torch.Tensor], masks: list[torch.Tensor]) -> torch.Tensor:
    """Sigmoid scores of every valid cell of every scale, in ``candidate_table`` order: ``[B, C]``."""
    return torch.cat([torch.sigmoid(lg[:, m]) for lg, m in zip(logits, masks)], 1)


def rank_moments(
    scores: np.ndarray, frac: np.ndarray, duration: float, top_n: int = 5, nms_threshold: float = 0.5
) -> list[Moment]:
    """Merge the scales' candidates of one query, NMS, and return the top ``n`` in seconds."""
    windows = frac * float(duration)
    keep = nms(windows, scores, threshold=nms_threshold, top_n=top_n)
    return [Moment(float(windows[i, 0]), float(windows[i, 1]), float(scores[i])) for i in keep]
