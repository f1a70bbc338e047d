"""How much of the ranking should the appearance teacher take at inference? (model.inference_teacher)

For the weak runs of a robustness benchmark folder (``scripts/robustness.py``), this scores the
validation split with ``model.inference_teacher`` set to each share of ``--shares`` (the
student's logits are computed once; the mix is :meth:`ms2d.models.MS2D.candidate_scores`) and
prints R@1,IoU=0.5 per run and pooled over the runs, on validation (where the share is chosen)
and on test (reported, never used to choose). The runs should be trained with the student's
ranking alone, so that their checkpoints were not selected with a mix:

    python scripts/robustness.py --out ROBUST --presets synthetic-cpu --methods weak \\
        --set model.inference_teacher=0 --tag student
    python scripts/teacher_mix.py ROBUST --tag student --json mix.json

A classic-world run imported from a quickstart folder (``--quickstart``) is read from there.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from ms2d.checkpoint import load_model
from ms2d.config import Config
from ms2d.data.dataset import MomentDataset
from ms2d.data.splits import load_splits
from ms2d.eval.metrics import compute_metrics
from ms2d.inference import candidate_table, eval_loader, moment_windows, rank_moments

METRIC = "R@1,IoU=0.5"
SHARES = (0.0, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0)


@torch.no_grad()
def share_scores(model, queries, store, vocab, cfg: Config, shares) -> dict[float, float]:
    """``METRIC`` of ``model`` on ``queries`` for each teacher share (top 5 after NMS, as
    ``ms2d evaluate``)."""
    model.eval()
    frac, _ = candidate_table(model.cfg.scales, model.masks("cpu"))
    loader = eval_loader(MomentDataset(queries, store, vocab, cfg.train.max_words), 64)
    preds: dict[float, list] = {w: [] for w in shares}
    own = model.cfg.inference_teacher
    try:
        for batch in loader:
            args = (batch["feats"], batch["lengths"], batch["words"], batch["word_lengths"])
            logits = model(*args)["logits"]  # the student once, the mix per share
            segs = model.standard_segments(batch["feats"], batch["lengths"])
            for w in shares:
                model.cfg.inference_teacher = w
                scores = model.candidate_scores(logits, *args, segs=segs).numpy()
                for s, d in zip(scores, batch["duration"].numpy()):
                    preds[w].append(rank_moments(s, frac, d, top_n=5,
                                                 nms_threshold=cfg.train.nms))
    finally:
        model.cfg.inference_teacher = own  # the model ranks as it did before
    gts = [np.array(q.windows, dtype=np.float64) for q in queries]
    return {w: compute_metrics(moment_windows(p), gts)[METRIC] for w, p in preds.items()}


def weak_runs(out: Path, preset: str, tag: str):
    """``(name, checkpoint, data folder)`` of every weak run of ``preset`` in ``out``."""
    suffix = f"-{tag}" if tag else ""
    for base in sorted((out / "runs" / preset).glob("*-s*")):
        if not base.is_dir():
            continue
        run = base / f"weak{suffix}"
        result = run / "result.json"
        if not result.exists():
            continue
        source = json.loads(result.read_text()).get("from_quickstart")
        if source:
            yield base.name, Path(source) / "runs" / "weak" / "best.pt", Path(source) / "data"
        else:
            world, seed = base.name.rsplit("-s", 1)
            yield base.name, run / "best.pt", next((out / "data").glob(f"{world}-s{seed}-n*"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path, help="a scripts/robustness.py --out folder")
    p.add_argument("--preset", default="synthetic-cpu")
    p.add_argument("--tag", default="", help="the weak runs' --tag")
    p.add_argument("--shares", default=",".join(map(str, SHARES)))
    p.add_argument("--json", type=Path, help="write the table here")
    args = p.parse_args()
    shares = [float(x) for x in args.shares.split(",")]
    table = {}
    for name, ckpt, data in weak_runs(args.out, args.preset, args.tag):
        model, vocab, saved = load_model(ckpt)
        if model.cfg.teacher != "appearance":
            raise SystemExit(f"{ckpt}: model.teacher={model.cfg.teacher}; the share applies to "
                             "the appearance teacher only")
        cfg = Config.from_dict(saved["config"])
        cfg.data.annotations, cfg.data.features = str(data), str(data / "features.hdf5")
        splits = load_splits(cfg.data, ("val", "test"))
        table[name] = {split: share_scores(model, getattr(splits, split), splits.store, vocab,
                                           cfg, shares) for split in ("val", "test")}
        print(name, " ".join(f"{w:g}: {table[name]['val'][w]:.2f}" for w in shares), flush=True)
    if not table:
        raise SystemExit(f"no weak runs of {args.preset} (tag {args.tag!r}) in {args.out}")
    print(f"\n{METRIC} by teacher share, mean of {len(table)} runs")
    print("| split | " + " | ".join(f"{w:g}" for w in shares) + " |")
    print("|---" * (len(shares) + 1) + "|")
    for split in ("val", "test"):
        means = [np.mean([r[split][w] for r in table.values()]) for w in shares]
        print(f"| {split} | " + " | ".join(f"{m:.2f}" for m in means) + " |")
    if args.json:
        args.json.write_text(json.dumps({n: {s: {str(w): v for w, v in r.items()}
                                             for s, r in t.items()} for n, t in table.items()},
                                        indent=1))


if __name__ == "__main__":
    main()
