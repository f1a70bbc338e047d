"""The appearance teacher: ms2d's own moments evaluation module (not the paper's).

It learns, from (video, sentence) pairs alone, what a sentence looks like: a small text encoder
predicts the mean of the video's standardised clip features from the sentence (mean squared
error; the only target is the whole video, so no boundary is ever used). A sentence's predicted
appearance ``g(q)`` is then a direction in feature space, and every valid candidate of every scale
gets the evidence ``<g(q), mean(span) - mean(rest of the video)>`` (zero for the whole video):
the span whose clips differ from the rest of their video in the sentence's direction holds the
event. Scoring every candidate costs one dot product per segment (prefix sums), so the teacher
looks at all of them, not only the student's top-K, and it gives the same scores in training and
evaluation (no masking, no dropout in the evidence).

How it reads the sentence (``model.teacher_text``): ``lstm``, a BiLSTM over the word embeddings
the student shares, with a linear read-out; or ``bow``, linear in the bag of words (each word
its own learnt appearance direction, summed over the sentence's words, plus a bias), the
bag-of-words linear weak learner's model (:mod:`ms2d.baselines.linear`) fit by gradient inside
the cross-fitting below. ``bow`` reads no embedding, so the student's word embeddings learn from
its own loss alone.

Cross-fitting: a teacher that has fit a training video's mean predicts that video (its scene,
its other events) rather than the sentence, and its labels for that video get worse while its
loss keeps falling. So there are ``folds`` teachers; teacher ``k`` learns from the videos of
every fold but ``k`` and labels the videos of fold ``k`` (a video's fold: its index modulo
``folds``), so every label comes from a teacher that never saw that video.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from ..data.vocab import PAD
from .config import ModelConfig
from .maps import span_minus_rest


class BowAppearanceTeacher(nn.Module):
    """``model.teacher_text=bow``: a sentence's appearance is the sum of its words' learnt
    directions plus a bias (both start at zero: the first prediction is the mean video)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.words = nn.EmbeddingBag(cfg.vocab_size, cfg.feature_dim, mode="sum", padding_idx=PAD)
        nn.init.zeros_(self.words.weight)
        self.bias = nn.Parameter(torch.zeros(cfg.feature_dim))

    def forward(self, words: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``words [B, L]`` (padded with ``PAD``) -> predicted standardised appearance ``[B, F]``.
        A word id past the training vocabulary (an open-vocabulary word at inference,
        :class:`ms2d.api.Retriever`) has no learnt direction and adds nothing."""
        known = words.masked_fill(words >= self.words.num_embeddings, PAD)
        return self.words(known) + self.bias


class AppearanceTeacher(nn.Module):
    def __init__(self, cfg: ModelConfig, embedding: nn.Embedding) -> None:
        super().__init__()
        h = cfg.caption_hidden
        self.embedding = embedding
        self.lstm = nn.LSTM(cfg.word_dim, h // 2, batch_first=True, bidirectional=True)
        # a linear read-out: an MLP here fits each training video's own mean (its scene, its
        # other events) within a few epochs, and its labels for those videos get worse
        self.out = nn.Linear(h, cfg.feature_dim)

    def forward(self, words: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``words [B, L]``, ``lengths [B]`` -> predicted standardised appearance ``[B, F]``."""
        packed = pack_padded_sequence(self.embedding(words), lengths.cpu().clamp(min=1),
                                      batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True,
                                                  total_length=words.shape[1])
        mask = (torch.arange(words.shape[1], device=words.device)[None]
                < lengths[:, None]).to(out.dtype)
        pooled = (out * mask[..., None]).sum(1) / lengths.clamp(min=1)[:, None].to(out.dtype)
        return self.out(pooled)


def contrast(seq: torch.Tensor, idx: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """``<direction, mean(span) - mean(rest)>`` for the spans of flat cell indices ``idx [B, K]``
    of the segments ``seq [B, N, F]``; 0 for the whole video. ``direction [B, F]`` -> ``[B, K]``."""
    n = seq.shape[1]
    p = (seq * direction[:, None]).sum(-1)  # [B, N]: each segment's projection
    cs = torch.cat([p.new_zeros(p.shape[0], 1), p.cumsum(1)], 1)
    x, y = idx // n, idx % n
    length = (y - x + 1).to(p.dtype)
    inside = cs.gather(1, y + 1) - cs.gather(1, x)
    return span_minus_rest(inside, cs[:, -1:], length, n)


class CrossFitTeachers(nn.Module):
    """``folds`` appearance teachers (one when ``folds == 1``: it labels its own videos)."""

    def __init__(self, cfg: ModelConfig, embedding: nn.Embedding) -> None:
        super().__init__()
        self.folds = cfg.teacher_folds
        self.teachers = nn.ModuleList(
            BowAppearanceTeacher(cfg) if cfg.teacher_text == "bow"
            else AppearanceTeacher(cfg, embedding) for _ in range(self.folds))

    def forward(self, words: torch.Tensor, lengths: torch.Tensor, target: torch.Tensor,
                video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(loss, direction [B, F])``: the teachers' mean squared error on the videos they
        learn from, and each query's direction from the teacher of its video's fold."""
        fold = video % self.folds
        preds = torch.stack([t(words, lengths) for t in self.teachers])  # [K, B, F]
        err = (preds - target[None]).pow(2).mean(-1)  # [K, B]
        if self.folds == 1:
            return err.mean(), preds[0]
        learn = fold[None] != torch.arange(self.folds, device=fold.device)[:, None]  # [K, B]
        loss = (err * learn).sum() / learn.sum().clamp(min=1)
        return loss, preds.gather(0, fold[None, :, None].expand(1, -1, preds.shape[2]))[0]

    def predict(self, words: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """A new sentence's appearance: the teachers' mean (for checks; training uses folds)."""
        return torch.stack([t(words, lengths) for t in self.teachers]).mean(0)
