"""The training objective of one batch (METHOD.md section 4), from the losses of ``ms2d.losses``.

Full supervision: 2D-TAN's scaled-IoU BCE on every cell of every scale. Weak supervision:
``L = L_rgbce + lambda * L_rec``, where RG-BCE fits the student's scores of the teacher's
candidates to the pseudo-labels of ``train.label_rule`` and ``L_rec`` is the teacher's own loss
(the caption module's mean word NLL over its candidates; or the appearance teacher's error on
the whole video).
"""

from __future__ import annotations

import torch

from .config import Config
from .data.records import DataError
from .losses import full_supervision_loss, pseudo_labels, reconstruction_loss, rg_bce
from .models.maps import cell_times


def cell_iou(n: int, duration: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """IoU of every cell of an ``n x n`` map with each query's window: ``[B, n, n]``."""
    t = cell_times(n, duration)
    s, e = window[:, 0, None, None], window[:, 1, None, None]
    inter = (torch.minimum(t[..., 1], e) - torch.maximum(t[..., 0], s)).clamp(min=0)
    union = torch.maximum(t[..., 1], e) - torch.minimum(t[..., 0], s)
    return inter / union.clamp(min=1e-6)


def compute_loss(model: torch.nn.Module, batch: dict, cfg: Config) -> tuple[torch.Tensor, dict]:
    """``(loss, parts)`` of one batch for ``model`` (an ``MS2D``, or its DDP wrapper).

    ``parts`` holds the loss's terms as floats; under weak supervision also ``rgbce_const``,
    the RG-BCE of the best constant prediction of the batch's labels: a student that stays
    there has learnt nothing.
    """
    tc = cfg.train
    weak = tc.supervision == "weak"
    out = model(batch["feats"], batch["lengths"], batch["words"], batch["word_lengths"],
                captions=weak, video=batch.get("video"))
    if not weak:
        if torch.isnan(batch["window"]).any():
            raise DataError("full supervision needs a ground-truth window for every training pair")
        scales = getattr(model, "module", model).cfg.scales
        loss = sum(
            full_supervision_loss(lg, cell_iou(n, batch["duration"], batch["window"]), m)
            for n, lg, m in zip(scales, out["logits"], out["masks"])
        ) / len(out["logits"])
        return loss, {"iou_bce": loss.item()}
    evidence = out["evidence"]
    if tc.label_rule == "evidence":  # one soft ranking over every candidate of every scale
        labels = pseudo_labels(torch.cat(evidence, 1), "evidence", temperature=tc.sharpness)
    else:  # the caption teacher's rules: within each scale's candidates
        labels = torch.cat([pseudo_labels(e, tc.label_rule, tc.l_min, tc.l_max)
                            for e in evidence], 1)
    l_bce = rg_bce(torch.cat(out["cand_logits"], 1), labels)
    q = labels.mean().clamp(1e-6, 1 - 1e-6)
    parts = {"rgbce": l_bce.item(),
             "rgbce_const": float(-(q * q.log() + (1 - q) * (1 - q).log()))}
    if "appearance_loss" in out:
        l_rec = out["appearance_loss"]
    else:
        l_rec = reconstruction_loss(torch.cat(evidence, 1), batch["word_lengths"])
    return l_bce + tc.rec_weight * l_rec, {**parts, "rec": l_rec.item()}
