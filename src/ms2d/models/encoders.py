"""Basic representations: the video projection and the sentence encoder (METHOD.md section 1)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from .config import ModelConfig


class VideoEncoder(nn.Module):
    """Linear map of the clip features to ``d_v`` (applied before resampling: they commute).

    ``feature_norm="standard"`` first standardises every feature dimension with the mean and
    deviation of the training split's clips (buffers ``feat_mean`` / ``feat_std``, set once by
    :meth:`set_statistics` before training and saved in the checkpoint), so that a large
    component shared by all clips (raw I3D / C3D features) does not reach the map as a constant.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.proj = nn.Linear(cfg.feature_dim, cfg.hidden)
        self.drop = nn.Dropout(cfg.dropout)
        self.standard = cfg.feature_norm == "standard"
        if self.standard:
            self.register_buffer("feat_mean", torch.zeros(cfg.feature_dim))
            self.register_buffer("feat_std", torch.ones(cfg.feature_dim))

    @torch.no_grad()
    def set_statistics(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """The training split's per-dimension clip mean and deviation (``[F]`` each)."""
        if not self.standard:
            raise ValueError("set_statistics needs model.feature_norm='standard'")
        self.feat_mean.copy_(mean)
        self.feat_std.copy_(std.clamp(min=1e-6))

    def normalize(self, feats: torch.Tensor) -> torch.Tensor:
        """The clip features as the projection sees them (standardised or unchanged)."""
        if self.standard:  # padded clips become -mean/std: resampling never reads them
            return (feats - self.feat_mean) / self.feat_std
        return feats

    def forward(self, feats: torch.Tensor) -> torch.Tensor:  # [B, T, F] -> [B, T, d]
        return self.drop(self.proj(self.normalize(feats)))


class TextEncoder(nn.Module):
    """Word embeddings -> 3-layer BiLSTM; the last hidden state is the sentence feature ``f_T``.

    ``text_encoder="bow"`` replaces the LSTM by the mean of the word embeddings: the bag-of-words
    ablation. The embedding table is shared with the caption module.
    """

    def __init__(self, cfg: ModelConfig, embedding: nn.Embedding) -> None:
        super().__init__()
        self.kind = cfg.text_encoder
        self.embedding = embedding
        if self.kind == "bilstm":
            self.lstm = nn.LSTM(
                cfg.word_dim, cfg.hidden // 2, num_layers=cfg.text_layers, batch_first=True,
                bidirectional=True, dropout=cfg.dropout if cfg.text_layers > 1 else 0.0,
            )
            self.out = nn.Linear(cfg.hidden, cfg.hidden)
        elif self.kind == "bow":
            self.out = nn.Linear(cfg.word_dim, cfg.hidden)
        else:
            raise ValueError(f"unknown text_encoder {self.kind!r}: use 'bilstm' or 'bow'")

    def forward(self, words: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``words [B, L]`` (0-padded ids), ``lengths [B]`` -> ``f_T [B, d]``."""
        emb = self.embedding(words)
        if self.kind == "bow":
            mask = (torch.arange(words.shape[1], device=words.device)[None] < lengths[:, None])
            mean = (emb * mask[..., None]).sum(1) / lengths.clamp(min=1)[:, None]
            return self.out(mean)
        packed = pack_padded_sequence(emb, lengths.cpu().clamp(min=1), batch_first=True,
                                      enforce_sorted=False)
        _, (h, _) = self.lstm(packed)
        last = torch.cat([h[-2], h[-1]], dim=-1)  # top layer, forward and backward
        return self.out(last)


