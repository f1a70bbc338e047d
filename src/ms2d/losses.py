"""Losses: reconstruction, pseudo labels (pure functions), RG-BCE, full-supervision IoU BCE."""

from __future__ import annotations

import torch
import torch.nn.functional as F

LABEL_RULES = ("paper", "rank", "softmax", "evidence")


def reconstruction_loss(nll: torch.Tensor, word_lengths: torch.Tensor) -> torch.Tensor:
    """``L_rec``: mean word NLL over all candidates and words.

    ``nll [B, C]`` is each candidate's summed word NLL; each sentence has ``length + 1``
    predicted tokens (the words and ``<eos>``).
    """
    return (nll / (word_lengths[:, None] + 1).to(nll.dtype)).mean()


def standardise(x: torch.Tensor) -> torch.Tensor:
    """Each row of ``x [B, C]`` to mean 0 and deviation 1 (a constant row to zeros): a query's
    scores over its candidates."""
    return (x - x.mean(1, keepdim=True)) / x.std(1, keepdim=True).clamp(min=1e-6)


def pseudo_labels(
    nll: torch.Tensor, rule: str = "paper", l_min: float = 0.1, l_max: float = 0.7,
    temperature: float = 1.0,
) -> torch.Tensor:
    """Labels ``y [B, K]`` for K candidates from their evidence ``nll`` (lower is better).

    The caption teacher's rules take the K candidates of one scale and their summed word NLL:

    - ``paper``: ``l = nll / sum_k nll`` (so the ``l`` of a scale sum to 1; lower is better);
      ``y = 0 if l >= l_max; 1 - l if l_min <= l < l_max; 1 if l < l_min``.
    - ``rank``: linear in the rank of the reconstruction: best 1, worst 0.
    - ``softmax``: ``softmax(-nll / T)`` scaled so that the best candidate gets 1.

    The appearance teacher's rule takes every candidate of every scale:

    - ``evidence``: the evidence standardised over the query's candidates, ``z``, and
      ``y = exp(temperature * (z - max z))``: 1 for the best, ``e^-temperature`` one deviation
      below it, about 0 for most candidates (an absolute target, unlike a rank).

    Labels carry no gradient.
    """
    nll = nll.detach()
    k = nll.shape[1]
    if rule == "paper":
        share = nll / nll.sum(1, keepdim=True).clamp(min=1e-8)  # the paper's l_jk
        y = torch.where(share >= l_max, torch.zeros_like(share), 1 - share)
        return torch.where(share < l_min, torch.ones_like(share), y)
    if rule == "rank":
        if k == 1:
            return torch.ones_like(nll)
        rank = nll.argsort(1).argsort(1).to(nll.dtype)  # 0 = best reconstruction
        return 1 - rank / (k - 1)
    if rule == "softmax":
        p = torch.softmax(-nll / temperature, 1)
        return p / p.max(1, keepdim=True).values
    if rule == "evidence":  # standardised per query: the best 1, one deviation less e^-sharpness
        z = standardise(-nll)
        return torch.exp(temperature * (z - z.max(1, keepdim=True).values))
    raise ValueError(f"unknown label rule {rule!r}; known: {', '.join(LABEL_RULES)}")


def rg_bce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """RG-BCE: binary cross-entropy between the selected candidates' scores and their labels."""
    return F.binary_cross_entropy_with_logits(logits, labels)


def scaled_iou_targets(iou: torch.Tensor, min_iou: float = 0.5, max_iou: float = 1.0) -> torch.Tensor:
    """2D-TAN's targets: IoU rescaled from ``[min_iou, max_iou]`` to ``[0, 1]`` and clipped."""
    return ((iou - min_iou) / (max_iou - min_iou)).clamp(0, 1)


def full_supervision_loss(logits: torch.Tensor, iou: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """2D-TAN's scaled-IoU BCE over the valid cells of one map (``[B, N, N]`` each)."""
    target = scaled_iou_targets(iou)
    loss = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return (loss * mask).sum() / (mask.sum() * logits.shape[0]).clamp(min=1)
