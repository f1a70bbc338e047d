"""Prior-only and the bag-of-words linear weak learner on any dataset a preset can read.

The two baselines of the robustness benchmark (``scripts/robustness.py``), for a real-layout
dataset too: both are fitted on the training pairs the preset trains on (``data.train_subset``
included), the linear learner's ridge strength is chosen on validation, and both are scored on
test with the preset's candidates and NMS.

    python scripts/baselines.py --preset charades-sta-cpu-small --dataset charades-sta \\
        --annotations DIR --features FILE.hdf5 [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json

import numpy as np


def training_pairs(cfg, splits) -> list:
    """The training pairs the preset trains on (``data.train_subset`` applied)."""
    return splits.train[: cfg.data.train_subset] if cfg.data.train_subset else splits.train


def fit_linear(cfg, splits, frac: np.ndarray):
    """The bag-of-words linear weak learner on ``frac``'s candidates as the benchmark fits it:
    on the preset's training pairs, its ridge strength chosen on validation. Returns the learner
    and its validation R@1,IoU=0.5 per ridge strength."""
    from ms2d.baselines import LinearWeakBaseline

    linear = LinearWeakBaseline(frac).fit(training_pairs(cfg, splits), splits.store)
    val_scores = linear.select([q for q in splits.val if q.window is not None], splits.store)
    return linear, val_scores


def baselines_for(cfg) -> dict:
    """``{"prior": metrics, "linear": metrics, "linear_ridge": float, "linear_val": float}``:
    the metrics on ``cfg``'s test split, the ridge strength chosen on validation and the
    linear learner's validation R@1,IoU=0.5 with it (beside a weak run's teacher and student)."""
    from ms2d.baselines import PriorBaseline
    from ms2d.data.splits import load_splits
    from ms2d.eval.metrics import compute_metrics
    from ms2d.inference import candidate_table, moment_windows
    from ms2d.models.maps import candidate_mask

    splits = load_splits(cfg.data)
    frac, _ = candidate_table(cfg.model.scales, [candidate_mask(n, cfg.model.dense_until)
                                                 for n in cfg.model.scales])
    gts = [np.array(q.windows, dtype=np.float64) for q in splits.test]

    prior = PriorBaseline(frac).fit(training_pairs(cfg, splits)).predict(splits.test,
                                                                         nms=cfg.train.nms)
    linear, val_scores = fit_linear(cfg, splits, frac)
    return {"prior": compute_metrics(moment_windows(prior), gts),
            "linear": compute_metrics(moment_windows(linear.predict(splits.test, splits.store,
                                                             nms=cfg.train.nms)), gts),
            "linear_ridge": linear.ridge, "linear_val": val_scores[linear.ridge]}


def main(argv: list[str] | None = None) -> int:
    from ms2d.config import resolve

    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--annotations", required=True)
    p.add_argument("--features", required=True)
    p.add_argument("--json", help="write the result here too")
    p.add_argument("overrides", nargs="*", help="KEY=VALUE config overrides")
    args = p.parse_args(argv)
    cfg = resolve(args.preset, [*args.overrides, f"data.dataset={args.dataset}",
                                f"data.annotations={args.annotations}",
                                f"data.features={args.features}"])
    result = baselines_for(cfg)
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        from ms2d.files import atomic_write_text

        atomic_write_text(args.json, text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
