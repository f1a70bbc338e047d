"""Is the weak multi-scale model above its single-scale ablation by more than the noise?

For each ``ms2d quickstart`` folder, this evaluates the selected checkpoints of the weak
multi-scale model and of its single-scale ablation on the folder's test split, checks that their
R@1,IoU=0.5 is the one ``results.json`` reports, and prints their difference with the standard
error of that paired difference over the test pairs (each pair: 1 if a model's top moment has
IoU >= 0.5 with a ground-truth window, else 0):

    python scripts/multi_vs_single.py qs/s0 qs/s1 qs/s2 --json multi-vs-single.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from ms2d.checkpoint import load_model
from ms2d.config import Config
from ms2d.data.splits import load_splits
from ms2d.eval.metrics import paired_difference, recall_hits
from ms2d.inference import evaluate_queries, moment_windows

METRIC = "R@1,IoU=0.5"


def compare(folder: Path) -> dict:
    report = json.loads((folder / "results.json").read_text())
    hits = {}
    for name in ("weak", "weak_single_scale"):
        model, vocab, ckpt = load_model(folder / "runs" / name / "best.pt", torch.device("cpu"))
        cfg = Config.from_dict(ckpt["config"])
        cfg.data.annotations = str(folder / "data")
        cfg.data.features = str(folder / "data" / "features.hdf5")
        splits = load_splits(cfg.data, ("test",))
        metrics, preds = evaluate_queries(model, splits.test, splits.store, vocab, cfg,
                                          torch.device("cpu"))
        if abs(metrics[METRIC] - report[name][METRIC]) > 1e-6:
            raise SystemExit(f"{folder}: {name} scores {metrics[METRIC]} here, "
                             f"{report[name][METRIC]} in results.json")
        gts = [np.asarray(q.windows, dtype=np.float64) for q in splits.test]
        hits[name] = recall_hits(moment_windows(preds), gts, 1, 0.5)
    diff, se = paired_difference(hits["weak"], hits["weak_single_scale"])
    return {"folder": str(folder), "seed": report["_meta"]["seed"],
            "multi": report["weak"][METRIC], "single": report["weak_single_scale"][METRIC],
            "difference": round(diff, 2), "standard_error": round(se, 2),
            "test_pairs": len(hits["weak"])}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folders", nargs="+", type=Path, help="ms2d quickstart --out folders")
    p.add_argument("--json", type=Path, help="also write the rows here")
    args = p.parse_args()
    torch.set_num_threads(1)
    rows = []
    for folder in args.folders:
        rows.append(compare(folder))
        print(json.dumps(rows[-1]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
