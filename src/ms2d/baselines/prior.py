"""Random and prior-only baselines over the same candidate set as the model."""

from __future__ import annotations

import numpy as np

from ..data.records import Query
from ..eval.metrics import iou_matrix
from ..inference import Moment, rank_moments


class RandomBaseline:
    """Ranks the model's candidate moments (fractions of the duration) in a random order."""

    def __init__(self, frac: np.ndarray, seed: int = 0) -> None:
        self.frac = frac
        self.seed = seed

    def predict(self, queries: list[Query], top_n: int = 5, nms: float = 0.5) -> list[list[Moment]]:
        rng = np.random.default_rng(self.seed)
        return [rank_moments(rng.random(len(self.frac)), self.frac, q.duration, top_n, nms)
                for q in queries]


class PriorBaseline:
    """Never looks at the video or the sentence: the candidate shapes (start and end as fractions
    of the duration) that fit the training moments best, the same ranking for every query.

    A candidate's score is its hit rate on the training split's ground-truth windows (normalised
    by duration), averaged over the IoU thresholds 0.3, 0.5 and 0.7 (so it targets the reported
    R@n metrics, not a wide window of high mean IoU; mean IoU breaks ties); NMS then picks the top-n shapes. It needs boundaries of the
    training split, so it is a reference for how much the layout prior alone explains.
    """

    thresholds = (0.3, 0.5, 0.7)

    def __init__(self, frac: np.ndarray) -> None:
        self.frac = frac
        self.scores: np.ndarray | None = None

    def fit(self, queries: list[Query]) -> PriorBaseline:
        gts = np.array([[q.window[0] / q.duration, q.window[1] / q.duration]
                        for q in queries if q.window is not None])
        if len(gts) == 0:
            raise ValueError("the prior baseline needs training pairs with ground-truth windows")
        iou = iou_matrix(self.frac, gts)
        hit_rate = np.mean([(iou >= t).mean(1) for t in self.thresholds], 0)
        self.scores = hit_rate + 1e-3 * iou.mean(1)  # mean IoU breaks ties
        return self

    def predict(self, queries: list[Query], top_n: int = 5, nms: float = 0.5) -> list[list[Moment]]:
        if self.scores is None:
            raise RuntimeError("call fit() before predict()")
        return [rank_moments(self.scores, self.frac, q.duration, top_n, nms) for q in queries]
