"""Sentence vocabulary: word ids for the text encoder and the caption module."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import numpy as np

from .text import tokenize

PAD, UNK, BOS, EOS, MASK = 0, 1, 2, 3, 4
SPECIALS = ("<pad>", "<unk>", "<bos>", "<eos>", "<mask>")


class Vocab:
    """Words seen in the training sentences (at least ``min_count`` times) plus the specials."""

    def __init__(self, words: Iterable[str]) -> None:
        self.itos: list[str] = list(SPECIALS) + [w for w in words if w not in SPECIALS]
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    @classmethod
    def build(cls, sentences: Iterable[str], min_count: int = 1) -> Vocab:
        counts = Counter(w for s in sentences for w in tokenize(s))
        return cls(sorted(w for w, c in counts.items() if c >= min_count))

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, sentence: str, max_words: int | None = None) -> list[int]:
        ids = [self.stoi.get(w, UNK) for w in tokenize(sentence)]
        return ids[:max_words] if max_words else ids

    def to_list(self) -> list[str]:
        return list(self.itos)

    @classmethod
    def from_list(cls, itos: list[str]) -> Vocab:
        if list(itos[: len(SPECIALS)]) != list(SPECIALS):
            raise ValueError("vocabulary list does not start with the ms2d special tokens")
        return cls(itos[len(SPECIALS) :])

    def embedding_matrix(self, words: list[str], vectors: np.ndarray, seed: int = 0) -> tuple[np.ndarray, int]:
        """Initial embedding rows: the word vector where known, small random elsewhere.

        Returns the matrix ``[len(self), d]`` and the number of words found in ``words``.
        """
        rng = np.random.default_rng(seed)
        d = vectors.shape[1]
        mat = rng.normal(0, 0.1, size=(len(self), d)).astype(np.float32)
        mat[PAD] = 0
        index = {w: i for i, w in enumerate(words)}
        found = 0
        for i, w in enumerate(self.itos):
            j = index.get(w)
            if j is not None:
                mat[i] = vectors[j]
                found += 1
        return mat, found
