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

import torch
from compare_runs import METRIC, compare_runs  # scripts/compare_runs.py, beside this script


def compare(folder: Path) -> dict:
    report = json.loads((folder / "results.json").read_text())
    names = ("weak", "weak_single_scale")
    runs = [folder / "runs" / name / "best.pt" for name in names]
    result = compare_runs(runs, "test", annotations=str(folder / "data"),
                          features=str(folder / "data" / "features.hdf5"))
    for name, run in zip(names, runs):
        got = result["metrics"][str(run)][METRIC]
        if abs(got - report[name][METRIC]) > 1e-6:
            raise SystemExit(f"{folder}: {name} scores {got} here, "
                             f"{report[name][METRIC]} in results.json")
    (pair,) = result["pairs"]
    return {"folder": str(folder), "seed": report["_meta"]["seed"],
            "multi": report["weak"][METRIC], "single": report["weak_single_scale"][METRIC],
            "difference": pair["difference"], "standard_error": pair["standard_error"],
            "test_pairs": result["queries"]}


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
