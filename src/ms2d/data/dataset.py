"""The torch dataset over canonical records + a feature store, and its collate function."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.utils.data import Dataset

from .records import DataError, Query
from .vocab import Vocab


class MomentDataset(Dataset):
    """Items are ``(clip features [T, F], word ids, duration, window)`` for one query.

    ``store`` is any feature store with ``get(vid) -> float32 [T, F]`` (see ``features.py``);
    it opens its file once per worker process.
    """

    def __init__(self, queries: list[Query], store, vocab: Vocab, max_words: int = 25) -> None:
        self.queries = queries
        self.store = store
        self.vocab = vocab
        self.max_words = max_words
        # each query's video as an integer (sorted video ids): the appearance teacher's folds
        self.video_index = {v: i for i, v in enumerate(sorted({q.vid for q in queries}))}
        self.words = []
        for q in queries:
            ids = vocab.encode(q.sentence, max_words)
            if not ids:
                raise DataError(
                    f"query {q.qid!r} (video {q.vid!r}) has no words after tokenisation: "
                    f"{q.sentence!r}; remove the record or give it a sentence"
                )
            self.words.append(ids)

    def __len__(self) -> int:
        return len(self.queries)

    def __getitem__(self, i: int) -> dict:
        q = self.queries[i]
        feats = np.asarray(self.store.get(q.vid), dtype=np.float32)
        window = q.window if q.window is not None else (math.nan, math.nan)
        return {"feats": feats, "words": self.words[i], "duration": q.duration,
                "window": window, "index": i, "video": self.video_index[q.vid]}


def collate(items: list[dict]) -> dict:
    b = len(items)
    t_max = max(it["feats"].shape[0] for it in items)
    f_dim = items[0]["feats"].shape[1]
    l_max = max(len(it["words"]) for it in items)
    feats = torch.zeros(b, t_max, f_dim)
    words = torch.zeros(b, l_max, dtype=torch.long)
    for i, it in enumerate(items):
        feats[i, : it["feats"].shape[0]] = torch.from_numpy(it["feats"])
        words[i, : len(it["words"])] = torch.tensor(it["words"])
    return {
        "feats": feats,
        "lengths": torch.tensor([it["feats"].shape[0] for it in items]),
        "words": words,
        "word_lengths": torch.tensor([len(it["words"]) for it in items]),
        "duration": torch.tensor([float(it["duration"]) for it in items]),
        "window": torch.tensor([list(it["window"]) for it in items], dtype=torch.float32),
        "index": torch.tensor([it["index"] for it in items]),
        "video": torch.tensor([it.get("video", it["index"]) for it in items]),
    }
