"""A bag-of-words linear weak learner: closed form, trained without boundaries.

Training (only (video, sentence) pairs): clip features are standardised with the training
split's per-dimension mean and deviation; a ridge regression maps a sentence's bag of words to
the mean standardised clip of its video, so each word gets an appearance direction (the
cross-video signal: a word's direction is what the videos described with it have in common).
Inference: a query's direction is its words' sum; every candidate span scores the mean
projection of its clips onto that direction minus the mean projection of the rest of the video
(a span that holds the whole event and nothing else scores highest). The ridge strength is
chosen on the validation split's windows, like every trained model's checkpoint.
"""

from __future__ import annotations

import numpy as np

from ..data.records import Query
from ..data.text import tokenize
from ..eval.metrics import compute_metrics
from ..inference import Moment, moment_windows, rank_moments

RIDGE_GRID = (0.01, 0.1, 1.0, 10.0)


class LinearWeakBaseline:
    """``fit(train, store)`` then ``predict(queries, store)``; ``select(val, store)`` picks the
    ridge strength on validation windows (the only use of boundaries)."""

    def __init__(self, frac: np.ndarray, ridge: float = 1.0, min_count: int = 2) -> None:
        self.frac = frac
        self.ridge = ridge
        self.min_count = min_count
        self.words: dict[str, int] = {}
        self.weights: np.ndarray | None = None

    def _bag(self, sentence: str) -> np.ndarray:
        b = np.zeros(len(self.words))
        for w in tokenize(sentence):
            i = self.words.get(w)
            if i is not None:
                b[i] = 1.0
        return b

    def _standard(self, feats: np.ndarray) -> np.ndarray:
        return (np.asarray(feats, dtype=np.float64) - self.mean) / self.std

    def fit(self, queries: list[Query], store) -> LinearWeakBaseline:
        vids = sorted({q.vid for q in queries})
        clips = [np.asarray(store.get(v), dtype=np.float64) for v in vids]
        allc = np.concatenate(clips, 0)
        self.mean, self.std = allc.mean(0), allc.std(0) + 1e-6
        video_mean = {v: self._standard(c).mean(0) for v, c in zip(vids, clips)}
        counts: dict[str, int] = {}
        for q in queries:
            for w in set(tokenize(q.sentence)):
                counts[w] = counts.get(w, 0) + 1
        self.words = {w: i for i, w in enumerate(sorted(w for w, c in counts.items()
                                                        if c >= self.min_count))}
        self._b = np.stack([self._bag(q.sentence) for q in queries])
        z = np.stack([video_mean[q.vid] for q in queries])
        self._z = z - z.mean(0)
        self._gram = self._b.T @ self._b
        self._cross = self._b.T @ self._z
        return self.solve(self.ridge)

    def solve(self, ridge: float) -> LinearWeakBaseline:
        self.ridge = ridge
        lam = ridge * max(np.trace(self._gram) / max(len(self.words), 1), 1e-6)
        self.weights = np.linalg.solve(self._gram + lam * np.eye(len(self.words)), self._cross)
        return self

    def select(self, queries: list[Query], store, grid=RIDGE_GRID,
               metric: str = "R@1,IoU=0.5") -> dict:
        """Pick the ridge strength with the best validation ``metric``; returns the scores."""
        scores = {}
        gts = np.array([q.window for q in queries], dtype=np.float64)
        for r in grid:
            preds = self.solve(r).predict(queries, store)
            scores[r] = compute_metrics(moment_windows(preds), gts)[metric]
        self.solve(max(scores, key=lambda r: (scores[r], -r)))
        return scores

    def scores(self, query: str, feats: np.ndarray) -> np.ndarray:
        """Score of every candidate of ``frac`` for one query on one video's clips."""
        if self.weights is None:
            raise RuntimeError("call fit() before predict()")
        p = self._standard(feats) @ (self._bag(query) @ self.weights)  # [T]
        t = len(p)
        cs = np.concatenate([[0.0], np.cumsum(p)])
        i0 = np.clip(np.floor(self.frac[:, 0] * t).astype(int), 0, t - 1)
        i1 = np.clip(np.maximum(np.round(self.frac[:, 1] * t).astype(int), i0 + 1), 1, t)
        inside = cs[i1] - cs[i0]
        n_in = (i1 - i0).astype(np.float64)
        n_out = t - n_in
        rest = np.where(n_out > 0, (cs[t] - inside) / np.maximum(n_out, 1), cs[t] / t)
        return inside / n_in - rest

    def predict(self, queries: list[Query], store, top_n: int = 5,
                nms: float = 0.5) -> list[list[Moment]]:
        return [rank_moments(self.scores(q.sentence, store.get(q.vid)), self.frac, q.duration,
                             top_n, nms) for q in queries]
