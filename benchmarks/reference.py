"""Plain, obviously-correct reference implementations of the model's fast paths.

Python loops are fine here: these exist to be read and to be compared against (see
``tests/test_benchmarks.py``) and timed against (``benchmarks/run.py``), never to train with, so
they live beside the benchmarks rather than in the package (``benchmarks/`` is no package: a
script here imports ``reference`` from its own folder, the tests put the folder on the path).

- :func:`build_map_reference`: the max-pooled 2D map, one cell at a time
  (fast path: :func:`ms2d.models.maps.build_map`).
- :func:`candidate_mask_reference`: 2D-TAN's sparse candidate mask, built the way the 2D-TAN
  paper builds it, by stacking poolings one offset after the other
  (fast path: :func:`ms2d.models.maps.candidate_mask`).
- :func:`caption_nll_reference`: the caption module run on one candidate at a time
  (fast path: :class:`ms2d.models.caption.CaptionModule` over all candidates at once).
- :class:`Dense2DTAN`: a "2D-TAN-shaped" fully supervised dense baseline with the same fusion,
  conv width/depth and score head as :class:`~ms2d.models.MS2D`, used by ``benchmarks/run.py``
  to measure ms2d's speed against a dense 2D-TAN-like network at the same configuration.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ms2d.losses import full_supervision_loss
from ms2d.models.caption import CaptionModule
from ms2d.models.config import ModelConfig
from ms2d.models.encoders import TextEncoder, VideoEncoder
from ms2d.models.fusion import HadamardFusion, ScoreHead
from ms2d.models.maps import build_map, candidate_mask, cell_times, resample_weights


def build_map_reference(seq: torch.Tensor) -> torch.Tensor:
    """``seq [B, N, d] -> [B, d, N, N]``: ``map[:, :, x, y] = max(seq[:, x..y])`` for ``x <= y``,
    zero below the diagonal. One cell at a time."""
    b, n, d = seq.shape
    out = seq.new_zeros(b, d, n, n)
    for x in range(n):
        for y in range(x, n):
            out[:, :, x, y] = seq[:, x : y + 1].amax(dim=1)
    return out


def candidate_mask_reference(n: int, dense_until: int = 16) -> torch.Tensor:
    """2D-TAN's candidate mask ``[n, n]`` (bool), built as the 2D-TAN paper describes it.

    Maps up to ``dense_until`` segments keep every moment ``x <= y``. Larger maps stack
    poolings over the segments, each pooling adding the moments one offset longer:

    - ``dense_until - 1`` poolings of kernel 2, stride 1: every moment of 1 .. ``dense_until``
      segments, at every start;
    - then, repeatedly, one pooling of kernel 3 and stride 2 (the stride of the start grid
      doubles) followed by ``dense_until / 2 - 1`` poolings of kernel 2 and stride 1, each
      adding moments one grid step longer, starting on the (coarser) grid only.

    Every pooled element covers one moment ``[start, end]``; that cell is a candidate. Elements
    are tracked explicitly as ``(start, end)`` pairs of segments.
    """
    mask = torch.zeros(n, n, dtype=torch.bool)
    if n <= dense_until:
        for x in range(n):
            for y in range(x, n):
                mask[x, y] = True
        return mask
    if dense_until < 2 or dense_until % 2:
        raise ValueError("the 2D-TAN pooling schedule needs an even dense_until >= 2")

    def mark(elems: list[tuple[int, int]]) -> None:
        for start, end in elems:
            mask[start, end] = True

    # level 0: one element per segment
    elems = [(x, x) for x in range(n)]
    mark(elems)

    def pool(elems: list[tuple[int, int]], kernel: int, stride: int) -> list[tuple[int, int]]:
        """A max pooling over consecutive elements: an output element covers from the start of
        its first input element to the end of its last one."""
        return [(elems[i][0], elems[i + kernel - 1][1])
                for i in range(0, len(elems) - kernel + 1, stride)]

    for _ in range(dense_until - 1):
        elems = pool(elems, 2, 1)
        mark(elems)
    while elems:
        elems = pool(elems, 3, 2)
        mark(elems)
        for _ in range(dense_until // 2 - 1):
            if not elems:
                break
            elems = pool(elems, 2, 1)
            mark(elems)
    return mask


def caption_nll_reference(caption: CaptionModule, inputs: torch.Tensor, targets: torch.Tensor,
                          cand: torch.Tensor) -> torch.Tensor:
    """The caption module on one candidate at a time: ``cand [B, C, d] -> nll [B, C]``.

    Equal to ``caption(inputs, targets, cand)`` when dropout is off (``caption.eval()``).
    """
    cols = [caption(inputs, targets, cand[:, c : c + 1])[:, 0] for c in range(cand.shape[1])]
    return torch.stack(cols, 1)


# -----------------------------------------------------------------------------------------------
# The dense 2D-TAN-shaped baseline.
# -----------------------------------------------------------------------------------------------


def count_renorm(mask: torch.Tensor, kernel: int) -> tuple[torch.Tensor, torch.Tensor]:
    """2D-TAN's "mask by count" after one convolution of size ``kernel`` (same padding).

    ``mask [1, 1, N, N]`` (float 0/1) -> ``(weight, grown mask)``: ``weight = 1 / count`` where
    ``count`` (the number of valid input cells under the kernel) is positive, 0 elsewhere; the
    grown mask marks the cells with a positive count (it dilates by ``kernel // 2`` per layer).
    """
    ones = torch.ones(1, 1, kernel, kernel, dtype=mask.dtype, device=mask.device)
    count = torch.round(F.conv2d(mask, ones, padding=kernel // 2))
    grown = (count > 0).to(mask.dtype)
    return grown / count.clamp(min=1), grown


class Dense2DTAN(nn.Module):
    """Video + sentence -> one ``N x N`` score map, ``N = max(cfg.scales)``; fully supervised.

    The same stages as :class:`~ms2d.models.MS2D` at one scale (video projection, resampling,
    max-pooled map with the 2D-TAN candidate mask, BiLSTM sentence encoder, Hadamard fusion,
    score head), but 2D-TAN's conv stack: ``conv_layers`` dense convolutions over the full map,
    each followed by ReLU and a multiplication by ``1 / (valid cells under the kernel)`` with the
    mask growing layer by layer; and 2D-TAN's loss (scaled-IoU BCE over the candidates). No
    caption module, no second or third scale.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.n = max(cfg.scales)
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.word_dim, padding_idx=0)
        self.video = VideoEncoder(cfg)
        self.text = TextEncoder(cfg, self.embedding)
        self.fusion = HadamardFusion(cfg)
        self.convs = nn.ModuleList(
            nn.Conv2d(cfg.hidden, cfg.hidden, cfg.kernel, padding=cfg.kernel // 2)
            for _ in range(cfg.conv_layers)
        )
        self.head = ScoreHead(cfg)

    def mask(self, device: torch.device | str) -> torch.Tensor:
        return candidate_mask(self.n, self.cfg.dense_until, device)

    def forward(self, feats, lengths, words, word_lengths) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns ``(logits [B, N, N], mask [N, N])``."""
        mask = self.mask(feats.device)
        v = self.video(feats)
        seq = resample_weights(lengths, self.n, feats.shape[1]).to(v.dtype) @ v
        vmap = build_map(seq) * mask
        x = self.fusion(self.text(words, word_lengths), vmap, mask)
        m = mask[None, None].to(x.dtype)
        for conv in self.convs:
            weight, m = count_renorm(m, conv.kernel_size[0])
            x = F.relu(conv(x)) * weight
        return self.head(x, mask), mask

    def loss(self, batch: dict) -> torch.Tensor:
        """2D-TAN's scaled-IoU BCE over the candidate cells, against ``batch["window"]``."""
        logits, mask = self(batch["feats"], batch["lengths"], batch["words"], batch["word_lengths"])
        t = cell_times(self.n, batch["duration"])
        s, e = batch["window"][:, 0, None, None], batch["window"][:, 1, None, None]
        inter = (torch.minimum(t[..., 1], e) - torch.maximum(t[..., 0], s)).clamp(min=0)
        union = torch.maximum(t[..., 1], e) - torch.minimum(t[..., 0], s)
        return full_supervision_loss(logits, inter / union.clamp(min=1e-6), mask)


__all__ = ["Dense2DTAN", "build_map_reference", "candidate_mask_reference",
           "caption_nll_reference", "count_renorm"]
