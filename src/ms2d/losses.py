"""Losses: reconstruction, pseudo labels (pure functions), RG-BCE, full-supervision IoU BCE."""

from __future__ import annotations

import torch
import torch.nn.functional as F

LABEL_RULES = ("paper", "rank", "softmax", "best-iou")


def reconstruction_loss(nll: torch.Tensor, word_lengths: torch.Tensor) -> torch.Tensor:
    """``L_rec``: mean word NLL over all candidates and words.

    ``nll [B, C]`` is each candidate's summed word NLL; each sentence has ``length + 1``
    predicted tokens (the words and ``<eos>``).
    """
    return (nll / (word_lengths[:, None] + 1).to(nll.dtype)).mean()


def best_reconstruction_loss(nll: list[torch.Tensor], word_lengths: torch.Tensor) -> torch.Tensor:
    """Multiple-instance ``L_rec``: per query and scale, the word NLL of the candidate that
    reconstructs the sentence best, averaged. ``nll``: one ``[B, K_j]`` per scale.

    The mean over all candidates (the paper's ``L_rec``) is dominated by candidates off the
    event, whose video does not match the sentence, so it teaches the caption module to ignore
    the video; the best candidate is the one that should explain the sentence.
    """
    per_word = (word_lengths[:, None] + 1).to(nll[0].dtype)
    return torch.stack([(n / per_word).min(1).values.mean() for n in nll]).mean()


def pseudo_labels(
    nll: torch.Tensor, rule: str = "paper", l_min: float = 0.1, l_max: float = 0.7,
    temperature: float = 1.0,
) -> torch.Tensor:
    """Labels ``y [B, K]`` for the K candidates of one scale from their summed word NLL.

    - ``paper``: ``l = nll / sum_k nll`` (so the ``l`` of a scale sum to 1; lower is better);
      ``y = 0 if l >= l_max; 1 - l if l_min <= l < l_max; 1 if l < l_min``.
    - ``rank``: linear in the rank of the reconstruction: best 1, worst 0.
    - ``softmax``: ``softmax(-nll_per_word / T)`` scaled so that the best candidate gets 1.

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
