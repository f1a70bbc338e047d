"""Teacher vs student on validation: where does each one's best span lie against the truth?

For a trained run (or a checkpoint), the teacher (the paper's caption module, or ms2d's
appearance teacher) scores every valid candidate of every scale (its evidence; lower is better)
and the student scores them with its maps. For each validation query this reports the share of
queries whose best span has IoU >= 0.5 / 0.7 with the ground truth (the teacher's "R@1"), the
mean IoU of that span and its mean length as a fraction of the video, for both.

    python scripts/teacher_check.py RUN --annotations DIR --features FILE [--queries 300]
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from ms2d.checkpoint import load_model
from ms2d.config import Config
from ms2d.data.dataset import MomentDataset, collate
from ms2d.data.splits import load_splits
from ms2d.eval.metrics import iou_matrix
from ms2d.inference import candidate_table


@torch.no_grad()
def teacher_report(model, queries, store, vocab, cfg: Config, batch_size: int = 32) -> dict:
    """Best-span quality of the teacher (its evidence) and of the student (its map scores)."""
    model.eval()
    frac, _ = candidate_table(model.cfg.scales, model.masks("cpu"))
    ds = MomentDataset(queries, store, vocab, cfg.train.max_words)
    rows: dict[str, list] = {"teacher": [], "student": []}
    for i in range(0, len(ds), batch_size):
        batch = collate([ds[j] for j in range(i, min(i + batch_size, len(ds)))])
        args = (batch["feats"], batch["lengths"], batch["words"], batch["word_lengths"])
        evidence = torch.cat(model.teacher_evidence(*args), 1).numpy()
        out = model(*args)
        student = model.flat_student(out["logits"]).numpy()
        for k, q in enumerate(queries[i:i + len(batch["index"])]):
            gt = np.array([[q.window[0] / q.duration, q.window[1] / q.duration]])
            for name, best in (("teacher", evidence[k].argmin()), ("student", student[k].argmax())):
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
    args = p.parse_args()
    model, vocab, ckpt = load_model(args.run)
    cfg = Config.from_dict(ckpt["config"])
    cfg.data.dataset, cfg.data.annotations, cfg.data.features = (
        args.dataset, args.annotations, args.features)
    splits = load_splits(cfg.data, ("val",))
    print(json.dumps(teacher_report(model, splits.val[: args.queries], splits.store, vocab, cfg),
                     indent=1))


if __name__ == "__main__":
    main()
