"""From score maps to ranked moments in seconds (METHOD.md section 5), for one query or a
whole split (:func:`predict`, :func:`evaluate_queries`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .eval.metrics import compute_metrics, nms


@dataclass(frozen=True)
class Moment:
    """One predicted moment, in seconds."""

    start: float
    end: float
    score: float


def candidate_table(scales: tuple[int, ...], masks: list[torch.Tensor]) -> tuple[np.ndarray, np.ndarray]:
    """All valid cells of all scales: their normalised ``[start, end]`` and flat map positions.

    Returns ``frac [C, 2]`` (fractions of the duration) and ``(scale, cell) [C, 2]``.
    """
    fracs, where = [], []
    for j, (n, mask) in enumerate(zip(scales, masks)):
        x, y = mask.cpu().nonzero(as_tuple=True)
        fracs.append(np.stack([x.numpy() / n, (y.numpy() + 1) / n], 1))
        where.append(np.stack([np.full(len(x), j), (x * n + y).numpy()], 1))
    return np.concatenate(fracs).astype(np.float64), np.concatenate(where)


def rank_moments(
    scores: np.ndarray, frac: np.ndarray, duration: float, top_n: int = 5, nms_threshold: float = 0.5
) -> list[Moment]:
    """Merge the scales' candidates of one query, NMS, and return the top ``n`` in seconds."""
    windows = frac * float(duration)
    keep = nms(windows, scores, threshold=nms_threshold, top_n=top_n)
    return [Moment(float(windows[i, 0]), float(windows[i, 1]), float(scores[i])) for i in keep]


def moment_windows(preds: list[list[Moment]]) -> list[np.ndarray]:
    """Ranked moments per query -> ``[n, 2]`` arrays of (start, end), the evaluator's input."""
    return [np.array([[m.start, m.end] for m in p]).reshape(-1, 2) for p in preds]


def eval_loader(ds, batch_size: int, workers: int = 0, pin: bool = False):
    """In-order batches of a ``MomentDataset`` for validation and prediction."""
    from torch.utils.data import DataLoader

    from .data.dataset import collate

    return DataLoader(ds, batch_size=batch_size, shuffle=False, collate_fn=collate,
                      num_workers=workers, pin_memory=pin)


def to_device(batch: dict, device: torch.device) -> dict:
    """A collated batch on ``device`` (non-blocking copies to a GPU)."""
    nb = device.type == "cuda"
    return {k: v.to(device, non_blocking=nb) for k, v in batch.items()}


@torch.no_grad()
def predict(model, loader, device, top_n: int = 5, nms: float = 0.5, progress=False):
    """Ranked moments (seconds) for every item of the loader, in loader order."""
    from tqdm.auto import tqdm

    model.eval()
    frac, _ = candidate_table(model.cfg.scales, model.masks("cpu"))
    preds = []
    for batch in tqdm(loader, desc="predict", disable=not progress, leave=False):
        batch = to_device(batch, device)
        args = (batch["feats"], batch["lengths"], batch["words"], batch["word_lengths"])
        scores = model.candidate_scores(model(*args)["logits"], *args).float().cpu().numpy()
        for s, d in zip(scores, batch["duration"].cpu().numpy()):
            preds.append(rank_moments(s, frac, d, top_n=top_n, nms_threshold=nms))
    return preds


def evaluate_queries(model, queries, store, vocab, cfg, device, progress=False):
    """``(metrics, predictions)`` of ``model`` on ``queries`` (each scored against its
    best-matching ground-truth window); batch size, workers and NMS from ``cfg.train``."""
    from .data.dataset import MomentDataset

    ds = MomentDataset(queries, store, vocab, cfg.train.max_words)
    loader = eval_loader(ds, cfg.train.batch_size, cfg.train.num_workers, device.type == "cuda")
    preds = predict(model, loader, device, top_n=5, nms=cfg.train.nms, progress=progress)
    gts = [np.array(q.windows, dtype=np.float64) for q in queries]  # several: best match
    return compute_metrics(moment_windows(preds), gts), preds
