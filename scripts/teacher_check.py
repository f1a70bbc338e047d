"""Teacher vs student on validation: where does each one's best span lie against the truth?

For a trained run (or a checkpoint), the moments evaluation module (the caption teacher)
scores every valid candidate of every scale (its evidence: the caption NLL of the span, minus
``complement_weight`` times the NLL of the rest of the video where the run uses the complement),
and the student scores them with its maps. For each validation query this reports the share of
queries whose best span has IoU >= 0.5 / 0.7 with the ground truth (the teacher's "R@1"), the
mean IoU of that span, and its mean length as a fraction of the video, for both.

    python scripts/teacher_check.py RUN --annotations DIR --features FILE [--queries 300]
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from ms2d.config import Config
from ms2d.data.dataset import MomentDataset, collate
from ms2d.eval.metrics import iou_matrix
from ms2d.inference import candidate_table
from ms2d.models.maps import resample_weights
from ms2d.models.ms2d import complement_mean, span_mean
from ms2d.train.data import load_splits
from ms2d.train.loop import load_model


@torch.no_grad()
def teacher_report(model, queries, store, vocab, cfg: Config, batch_size: int = 32,
                   complement_weight: float | None = None, linear: bool = False) -> dict:
    """Best-span quality of the teacher (caption evidence) and of the student (map scores)."""
    model.eval()
    mc = model.cfg
    w = cfg.train.complement_weight if complement_weight is None else complement_weight
    use_comp = (mc.caption_complement or mc.teacher == "contrast") if complement_weight is None \
        else complement_weight > 0
    frac, _ = candidate_table(mc.scales, model.masks("cpu"))
    ds = MomentDataset(queries, store, vocab, cfg.train.max_words)
    rows = {"teacher": [], "student": []}
    for i in range(0, len(ds), batch_size):
        batch = collate([ds[j] for j in range(i, min(i + batch_size, len(ds)))])
        seqs = model.segments(batch["feats"], batch["lengths"])
        x = model.video.normalize(batch["feats"])
        feat_seqs = [resample_weights(batch["lengths"], n, x.shape[1]).to(x.dtype) @ x
                     for n in mc.scales]
        out = model(batch["feats"], batch["lengths"], batch["words"], batch["word_lengths"])
        inputs, targets = model.caption_io(batch["words"], batch["word_lengths"], masked=False)
        evid, stud = [], []
        for seq, lg, mask in zip(seqs, out["logits"], out["masks"]):
            idx = mask.flatten().nonzero()[:, 0][None].expand(seq.shape[0], -1)
            src = seq if mc.caption_input == "visual_mean" else (feat_seqs[len(evid)] if mc.caption_input == "feature_mean" else None)
            if src is None:  # F_cro: the fused post-conv map of each cell
                raise SystemExit("teacher_check needs a visual caption input (visual_mean)")
            if linear:  # first order: -<d_q, mean(span) - mean(rest)>
                d = model.caption.evidence_direction(inputs, targets, src.mean(1))  # [B, d]
                diff = span_mean(src, idx) - complement_mean(src, idx)
                evid.append(-(diff * d[:, None]).sum(-1))
                stud.append(lg.flatten(1).gather(1, idx))
                continue
            nll = model.caption(inputs, targets, span_mean(src, idx))
            if use_comp:
                nll = nll - w * model.caption(inputs, targets, complement_mean(src, idx))
            evid.append(nll)
            stud.append(lg.flatten(1).gather(1, idx))
        evid, stud = torch.cat(evid, 1).numpy(), torch.cat(stud, 1).numpy()
        for k, q in enumerate(queries[i:i + batch_size]):
            gt = np.array([[q.window[0] / q.duration, q.window[1] / q.duration]])
            for name, best in (("teacher", evid[k].argmin()), ("student", stud[k].argmax())):
                span = frac[best:best + 1]
                rows[name].append((float(iou_matrix(span, gt)[0, 0]), float(span[0, 1] - span[0, 0])))
    gt_len = float(np.mean([(q.window[1] - q.window[0]) / q.duration for q in queries]))
    report = {"queries": len(queries), "ground_truth_length": round(gt_len, 3)}
    for name, r in rows.items():
        a = np.array(r)
        report[name] = {"R@1,IoU=0.5": round(100 * float((a[:, 0] >= 0.5).mean()), 2),
                        "R@1,IoU=0.7": round(100 * float((a[:, 0] >= 0.7).mean()), 2),
                        "mIoU": round(100 * float(a[:, 0].mean()), 2),
                        "length": round(float(a[:, 1].mean()), 3)}
    return report


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="run folder or checkpoint")
    p.add_argument("--annotations", required=True)
    p.add_argument("--features", required=True)
    p.add_argument("--dataset", default="simulated")
    p.add_argument("--queries", type=int, default=300)
    p.add_argument("--complement-weight", type=float, default=None,
                   help="override the run's evidence (0: the span's NLL alone)")
    args = p.parse_args()
    model, vocab, ckpt = load_model(args.run)
    cfg = Config.from_dict(ckpt["config"])
    cfg.data.dataset, cfg.data.annotations, cfg.data.features = (
        args.dataset, args.annotations, args.features)
    splits = load_splits(cfg.data, ("val",))
    print(json.dumps(teacher_report(model, splits.val[: args.queries], splits.store, vocab, cfg,
                                    complement_weight=args.complement_weight), indent=1))


if __name__ == "__main__":
    main()
