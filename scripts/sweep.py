"""Run several training configs side by side on one machine and compare them on validation.

Each config trains in its own process; its checkpoint is selected on validation, then the
selected checkpoint is evaluated once on test. Configs are compared and ranked on their
validation score only (the decision); the test score is recorded for the report, never used to
choose. For the comparison across simulated worlds use scripts/robustness.py.

    python scripts/sweep.py --data DIR --out RUNS --json results.json \
        --base train.epochs=12 --config paper: --config rank:train.label_rule=rank,model.explore=10
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def child(args: argparse.Namespace) -> int:
    from ms2d.checkpoint import load_model
    from ms2d.config import resolve
    from ms2d.data.splits import load_splits
    from ms2d.inference import evaluate_queries
    from ms2d.train.loop import train
    from ms2d.utils import pick_device

    cfg = resolve(args.preset, args.overrides)
    cfg.data.annotations, cfg.data.features = args.data, str(Path(args.data) / "features.hdf5")
    cfg.train.progress = False
    splits = load_splits(cfg.data)
    summary = train(cfg, args.run, overwrite=True, splits=splits, log=lambda *a: None)
    device = pick_device(cfg.train.device)
    model, vocab, _ = load_model(Path(args.run) / "best.pt", device)
    test, _ = evaluate_queries(model, splits.test, splits.store, vocab, cfg, device)
    hist = json.loads((Path(args.run) / "history.json").read_text())
    out = {"best": summary["best"], "test": test,
           "val_curve": [h["val"][cfg.train.select_metric] for h in hist]}
    Path(args.run, "sweep.json").write_text(json.dumps(out))
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--json", required=True)
    p.add_argument("--preset", default="synthetic-cpu")
    p.add_argument("--base", nargs="*", default=[], help="overrides for every config")
    p.add_argument("--config", action="append", default=[], help="NAME:k=v,k=v")
    p.add_argument("--seeds", default="0", help="comma-separated training seeds")
    p.add_argument("--parallel", type=int, default=4)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--run", help=argparse.SUPPRESS)
    p.add_argument("overrides", nargs="*", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args)
    jobs = []
    for spec in args.config:
        name, _, kv = spec.partition(":")
        for seed in args.seeds.split(","):
            ov = [*args.base, *[x for x in kv.split(",") if x], f"train.seed={seed}"]
            run = Path(args.out) / f"{name}_s{seed}"
            jobs.append((f"{name}_s{seed}", run, ov))
    running, results, t0 = [], {}, time.time()
    while jobs or running:
        while jobs and len(running) < args.parallel:
            name, run, ov = jobs.pop(0)
            cmd = [sys.executable, __file__, "--child", "--data", args.data, "--out", args.out,
                   "--json", args.json, "--preset", args.preset, "--run", str(run), *ov]
            log = open(Path(args.out) / f"{name}.log", "w") if Path(args.out).mkdir(parents=True, exist_ok=True) is None else None
            running.append((name, run, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)))
        time.sleep(1)
        for item in list(running):
            name, run, proc = item
            if proc.poll() is not None:
                running.remove(item)
                f = run / "sweep.json"
                results[name] = json.loads(f.read_text()) if f.exists() else {"error": proc.returncode}
                r = results[name]
                shown = (f"val {r['best']['metric']}={r['best']['score']:.2f} (epoch "
                         f"{r['best']['epoch']})" if "best" in r else r)
                print(f"[{time.time() - t0:6.0f}s] {name}: {shown}", flush=True)
                Path(args.json).write_text(json.dumps(results, indent=1))
    ranked = sorted((r["best"]["score"], n) for n, r in results.items() if "best" in r)
    print("ranked on validation (the decision; test is reported, never compared):")
    for score, name in reversed(ranked):
        test = results[name]["test"]
        print(f"  {name:<24} val {score:6.2f}   test R@1,IoU=0.5 {test['R@1,IoU=0.5']:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
