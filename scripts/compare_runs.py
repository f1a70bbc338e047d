"""Is run A above run B by more than the noise, on the same queries?

Evaluates the selected checkpoint (``best.pt``) of every run on one split of one dataset (by
default the first run's: its config's dataset, annotations and features) and prints, for every
run after the first, its R@1,IoU=0.5 against the first run's with the standard error of the
paired difference over the split's query pairs (each pair: 1 if a model's top moment has
IoU >= 0.5 with a ground-truth window, else 0). The runs must have been trained on features of
one kind (checked, as `ms2d evaluate` checks it: the feature dimension each checkpoint records
against the file's; and every video of the split must be in the file).

    python scripts/compare_runs.py RUN_A RUN_B [RUN_C ...] --split test --json a-vs-b.json
    python scripts/compare_runs.py RUN_A RUN_B --dataset charades-sta \\
        --annotations ../shared/data/charades-sta --features i3d.hdf5
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from ms2d.checkpoint import load_model
from ms2d.config import Config
from ms2d.data.features import check_coverage, check_feature_dim, open_features
from ms2d.data.splits import load_split
from ms2d.eval.metrics import paired_difference, recall_hits
from ms2d.inference import evaluate_queries, moment_windows

METRIC = "R@1,IoU=0.5"


def compare_runs(runs: list[Path], split: str = "test", dataset: str | None = None,
                 annotations: str | None = None, features: str | None = None) -> dict:
    """Every run's metrics on ``split`` and each later run's paired difference to the first
    (``first - other`` in points, with its standard error)."""
    if len(runs) < 2:
        raise ValueError(f"give at least two runs to compare, got {len(runs)}")
    device = torch.device("cpu")
    loaded = [load_model(run, device) for run in runs]
    data = Config.from_dict(loaded[0][2]["config"]).data
    for name, value in (("dataset", dataset), ("annotations", annotations),
                        ("features", features)):
        if value is not None:
            setattr(data, name, value)
    queries, _, _ = load_split(data, split, need_windows=True, warn=False)
    store = open_features(data.features)
    check_coverage(store, sorted({q.vid for q in queries}))
    gts = [np.asarray(q.windows, dtype=np.float64) for q in queries]
    metrics, hits = {}, {}
    for run, (model, vocab, ckpt) in zip(runs, loaded):
        check_feature_dim(store, ckpt.get("feature_spec", {}), data.features, run)
        cfg = Config.from_dict(ckpt["config"])
        m, preds = evaluate_queries(model, queries, store, vocab, cfg, device)
        metrics[str(run)] = m
        hits[str(run)] = recall_hits(moment_windows(preds), gts, 1, 0.5)
    first = str(runs[0])
    pairs = []
    for run in map(str, runs[1:]):
        diff, se = paired_difference(hits[first], hits[run])
        pairs.append({"a": first, "b": run, "a_score": metrics[first][METRIC],
                      "b_score": metrics[run][METRIC], "difference": round(diff, 2),
                      "standard_error": round(se, 2)})
    return {"split": split, "dataset": data.dataset, "annotations": data.annotations,
            "features": data.features, "queries": len(queries), "metric": METRIC,
            "metrics": metrics, "pairs": pairs}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path, help="run folders (or checkpoints); the first "
                   "is the one the others are compared with")
    p.add_argument("--split", default="test")
    p.add_argument("--dataset", help="annotation format (default: the first run's)")
    p.add_argument("--annotations", help="annotation folder (default: the first run's)")
    p.add_argument("--features", help="feature file (default: the first run's)")
    p.add_argument("--json", type=Path, help="also write the result as JSON")
    args = p.parse_args(argv)
    if args.json is not None and not args.json.parent.is_dir():
        p.error(f"--json {args.json}: folder {args.json.parent} does not exist")
    try:
        result = compare_runs(args.runs, args.split, args.dataset, args.annotations,
                              args.features)
    except (ValueError, FileNotFoundError) as e:
        print(f"compare_runs: {e}", file=sys.stderr)
        return 2
    print(f"{result['split']} split of {result['annotations']}, {result['queries']} queries, "
          f"{METRIC}:")
    for pair in result["pairs"]:
        print(f"  {pair['a']} {pair['a_score']:.2f} - {pair['b']} {pair['b_score']:.2f} = "
              f"{pair['difference']:+.2f} ± {pair['standard_error']:.2f}")
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
