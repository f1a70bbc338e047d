"""Cross-modal fusion, temporal context and the score head (METHOD.md sections 3-4)."""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from .. import ops
from .config import ModelConfig
from .maps import candidate_mask


class HadamardFusion(nn.Module):
    """``F_cro = l2norm((W_T f_T) * (W_M F^j))`` per cell over channels; masked cells stay 0."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.text = nn.Linear(cfg.hidden, cfg.hidden)
        self.video = nn.Conv2d(cfg.hidden, cfg.hidden, 1)
        self.norm = cfg.fusion_norm

    def forward(self, text: torch.Tensor, vmap: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``text [B, d]``, ``vmap [B, d, N, N]``, ``mask [N, N]`` -> ``[B, d, N, N]``."""
        return self.on_map(text, vmap) * mask

    def per_cell(self, text: torch.Tensor) -> ops.PerCell:
        """The fusion with the sentence ``text [B, d]``, for a conv stack to run in its own
        layout (:meth:`ms2d.ops.MaskedConvStack.run_after`)."""
        return ops.PerCell(partial(self.on_map, text), partial(self.on_cells, text))

    def on_map(self, text: torch.Tensor, vmap: torch.Tensor) -> torch.Tensor:
        """Every cell of ``vmap [B, d, N, N]``."""
        fused = self.text(text)[:, :, None, None] * self.video(vmap)
        return F.normalize(fused, dim=1) if self.norm else fused

    def on_cells(self, text: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
        """Cells ``[R, B, d]`` (channels last): the 1x1 convolution as a linear map."""
        fused = self.text(text)[None] * F.linear(cells, self.video.weight.flatten(1), self.video.bias)
        return F.normalize(fused, dim=2) if self.norm else fused


class MaskedConvStack(ops.MaskedConvStack):
    """The temporal context: ``cfg.conv_layers`` masked convolutions over the fused maps of
    ``scales`` (on their candidate masks), :class:`ms2d.ops.MaskedConvStack` set up from
    ``cfg``."""

    def __init__(self, cfg: ModelConfig, scales: list[int] | tuple[int, ...] = ()) -> None:
        super().__init__(cfg.hidden, cfg.kernel, cfg.conv_layers, dropout=cfg.dropout,
                         impl=cfg.conv_impl,
                         masks=[candidate_mask(n, cfg.dense_until) for n in scales])


class ScoreHead(nn.Module):
    """``P^j = sigmoid(W_F . F_cro^j)`` (a 1x1 convolution); returns masked logits ``[B, N, N]``."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.proj = nn.Conv2d(cfg.hidden, 1, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.proj(x)[:, 0].masked_fill(~mask, -1e4)
