"""The caption module of the moments evaluation module (the paper's Fig. 3).

Word embeddings -> LSTM layer 1 -> hidden states ``h^1_l``, fused with the candidate's feature
-> LSTM layer 2 -> ``h^2_l`` -> linear layer -> next-word distribution (teacher forcing).
Layer 1 depends only on the sentence, so it runs once per query; layer 2 runs for all
``N_s x K`` candidates of all queries in one batched call.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig


class CaptionModule(nn.Module):
    def __init__(self, cfg: ModelConfig, embedding: nn.Embedding) -> None:
        super().__init__()
        if cfg.caption_fusion not in ("concat", "product"):
            raise ValueError(f"unknown caption_fusion {cfg.caption_fusion!r}: 'concat' or 'product'")
        self.fusion = cfg.caption_fusion
        h = cfg.caption_hidden
        self.embedding = embedding
        self.lstm1 = nn.LSTM(cfg.word_dim, h, batch_first=True)
        self.cand = nn.Linear(cfg.hidden, h)
        self.lstm2 = nn.LSTM(2 * h if self.fusion == "concat" else h, h, batch_first=True)
        self.out = nn.Linear(h, cfg.vocab_size)
        self.drop = nn.Dropout(cfg.dropout)
        self.shared = cfg.caption_shared_dropout

    def forward(self, inputs: torch.Tensor, targets: torch.Tensor, cand: torch.Tensor) -> torch.Tensor:
        """Per-candidate summed word NLL.

        ``inputs``/``targets`` ``[B, L]`` (targets 0-padded: pad words cost nothing),
        ``cand [B, C, d]`` candidate features. Returns ``nll [B, C]``.
        """
        b, c, _ = cand.shape
        h1, _ = self.lstm1(self.drop(self.embedding(inputs)))  # [B, L, H], once per query
        h1 = h1[:, None].expand(b, c, *h1.shape[1:]).reshape(b * c, *h1.shape[1:])
        v = self.cand(cand).reshape(b * c, 1, -1).expand_as(h1)
        fused = torch.cat([h1, v], -1) if self.fusion == "concat" else h1 * torch.tanh(v)
        h2, _ = self.lstm2(self._drop(fused, b))
        logits = self.out(self._drop(h2, b))  # [B*C, L, V]
        tgt = targets[:, None].expand(b, c, targets.shape[1]).reshape(-1)
        # softmax over the contiguous last dim: 2-3x faster than over dim 1 of [B*C, V, L]
        nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt, ignore_index=0,
                              reduction="none")
        return nll.view(b * c, -1).sum(-1).reshape(b, c)

    def _drop(self, x: torch.Tensor, b: int) -> torch.Tensor:
        """Dropout on ``[B*C, L, H]``; with ``caption_shared_dropout`` one mask per query, shared
        by its ``C`` candidates, so that their NLLs (and the pseudo labels, which rank them)
        differ only through the candidates' features, not through dropout noise."""
        p = self.drop.p
        if not (self.training and self.shared and p > 0):
            return self.drop(x)
        keep = torch.empty(b, 1, *x.shape[1:], dtype=x.dtype, device=x.device).bernoulli_(1 - p)
        return (x.view(b, -1, *x.shape[1:]) * keep.div_(1 - p)).view_as(x)
