"""Is the weak model above the bag-of-words linear weak learner by more than the noise?

For each weak run of a robustness benchmark folder (``scripts/robustness.py``), this evaluates
the selected checkpoint and the linear learner (fitted on the run's training split, its ridge
strength chosen on validation, as the benchmark does) on the run's test split, checks that both
give the R@1,IoU=0.5 the benchmark reports, and prints their difference with the standard error
of that paired difference over the test pairs (each pair: 1 if a model's top moment has
IoU >= 0.5 with a ground-truth window, else 0):

    python scripts/weak_vs_linear.py ROBUST --json weak-vs-linear.json
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ms2d.checkpoint import load_model
from ms2d.config import Config
from ms2d.data.splits import load_splits
from ms2d.eval.metrics import paired_difference, recall_hits
from ms2d.inference import candidate_table, evaluate_queries, moment_windows

METRIC = "R@1,IoU=0.5"


def compare(name: str, ckpt: Path, data: Path, reported: dict) -> dict:
    from baselines import fit_linear  # scripts/baselines.py, beside this script

    model, vocab, saved = load_model(ckpt, torch.device("cpu"))
    cfg = Config.from_dict(saved["config"])
    cfg.data.annotations, cfg.data.features = str(data), str(data / "features.hdf5")
    splits = load_splits(cfg.data, ("train", "val", "test"))
    gts = [np.array(q.windows, dtype=np.float64) for q in splits.test]
    metrics, preds = evaluate_queries(model, splits.test, splits.store, vocab, cfg,
                                      torch.device("cpu"))
    frac, _ = candidate_table(model.cfg.scales, model.masks("cpu"))
    linear, _ = fit_linear(cfg, splits, frac)  # as scripts/baselines.py (the benchmark) fits it
    linear_preds = moment_windows(linear.predict(splits.test, splits.store, nms=cfg.train.nms))
    hits = {"weak": recall_hits(moment_windows(preds), gts, 1, 0.5),
            "linear": recall_hits(linear_preds, gts, 1, 0.5)}
    for which, got in (("weak", metrics[METRIC]), ("linear", round(100 * hits["linear"].mean(), 2))):
        if abs(got - reported[which]) > 0.005:
            raise SystemExit(f"{name}: {which} scores {got} here, {reported[which]} in the "
                             "benchmark's files (evaluate it again with scripts/robustness.py)")
    diff, se = paired_difference(hits["weak"], hits["linear"])
    return {"run": name, "weak": reported["weak"], "linear": reported["linear"],
            "difference": round(diff, 2), "standard_error": round(se, 2),
            "test_pairs": len(gts)}


def main() -> None:
    from teacher_mix import benchmark_parser, weak_runs  # scripts/, beside this script

    p = benchmark_parser(__doc__)
    p.add_argument("--json", type=Path, help="write the rows here")
    args = p.parse_args()
    rows = []
    for name, ckpt, data in weak_runs(args.out, args.preset, args.tag):
        base = args.out / "runs" / args.preset / name
        weak = json.loads((base / f"weak{'-' + args.tag if args.tag else ''}"
                           / "result.json").read_text())
        linear = json.loads((base / "baselines.json").read_text())["linear"]
        rows.append(compare(name, ckpt, data, {"weak": weak["test"][METRIC],
                                               "linear": linear[METRIC]}))
        r = rows[-1]
        print(f"{name}: weak {r['weak']:.2f} linear {r['linear']:.2f} difference "
              f"{r['difference']:+.2f} ± {r['standard_error']:.2f} ({r['test_pairs']} pairs; "
              f"{r['difference'] / r['standard_error']:+.1f} SE)", flush=True)
    if not rows:
        raise SystemExit(f"no weak runs of {args.preset} (tag {args.tag!r}) in {args.out}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
