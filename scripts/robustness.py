"""The robustness benchmark: every user-facing preset on every simulated world, several seeds.

For each world (``ms2d.data.simulate.WORLDS``) and seed it simulates a benchmark, trains each
preset weakly (its default weak model) and with full supervision, and computes the prior-only
baseline and the bag-of-words linear weak learner (``ms2d.baselines.LinearWeakBaseline``) on the
same data. Every checkpoint (and the linear learner's ridge strength) is chosen on validation;
test is evaluated once per selected model. It prints one table per preset (mean +- spread over
seeds, per world) with the dead runs counted: a weak run is *dead* when its RG-BCE is within
0.005 of ln 2 after its second epoch (the rank / paper label rules' constant-prediction loss);
``dead*`` counts runs whose RG-BCE at their last epoch is not 0.005 below the loss of the best
constant prediction of their own labels (a student that learnt nothing, whatever the rule).
The last column is the teacher's and the student's best-span R@1,IoU=0.5 on validation
(`scripts/teacher_check.py`): which of the two limits a weak run; and the linear learner's
validation R@1,IoU=0.5, the bar both have to clear.

    python scripts/robustness.py --out ROBUST --jobs 2              # everything (hours on 2 cores)
    python scripts/robustness.py --out ROBUST --worlds i3d --seeds 0 --presets synthetic-cpu

Each world has 1200 training, 200 validation and 1500 test videos (``--videos`` scales them
together; the large test split resolves 1-point differences, docs/simulator.md).
Results are cached per run (``ROBUST/runs/<preset>/<world>-s<seed>/<method>/result.json``): an
interrupted benchmark continues where it stopped. A cached result or baseline evaluated on
another test split of the same world (an older, smaller one) is evaluated again on this one
without training: the run must have been trained on byte-identical training and validation
splits (checked; videos are simulated one by one from their own generators, so the size of the
test split does not change the others). ``--set KEY=VALUE`` overrides a config key in
every weak run (a design variant: give it its own ``--tag``). ``ROBUST/robustness.json`` and
``ROBUST/robustness.md`` hold the table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

PRESETS = ("synthetic-cpu", "charades-sta-cpu-small", "activitynet-captions-cpu-small")
METRIC = "R@1,IoU=0.5"
LN2 = math.log(2)


def split_sizes(videos: int) -> tuple[int, int]:
    """Validation and test videos for ``videos`` training videos: the quickstart's proportions
    (1200 / 200 / 1500; a large test split, docs/simulator.md)."""
    return max(videos // 6, 20), max(videos * 5 // 4, 20)


def _data_dir(out: Path, world: str, seed: int, videos: int) -> Path:
    return out / "data" / f"{world}-s{seed}-n{videos}-t{split_sizes(videos)[1]}"


def simulate_world(out: Path, world: str, seed: int, videos: int) -> Path:
    from ms2d.data.simulate import simulate, world_config

    d = _data_dir(out, world, seed, videos)
    if not (d / "simulation.json").exists():
        val, test = split_sizes(videos)
        cfg = world_config(world, seed=seed, num_videos_train=videos, num_videos_val=val,
                           num_videos_test=test)
        simulate(d, cfg, overwrite=True, progress=False)
    return d


def test_split_id(data: Path) -> str:
    """A fingerprint of a benchmark's test split: a cached result evaluated on another test
    split (an older, smaller one) is evaluated again, not mixed into the table."""
    return hashlib.sha256((data / "test.json").read_bytes()).hexdigest()[:16]


def first_different_split(ours: Path, theirs: Path, splits) -> str | None:
    """The first of ``splits`` whose annotation file in folder ``theirs`` is missing or not
    byte-identical to the one in ``ours``; None when all are the same."""
    import filecmp

    for split in splits:
        a, b = ours / f"{split}.json", theirs / f"{split}.json"
        if not b.exists() or not filecmp.cmp(a, b, shallow=False):
            return split
    return None


def check_same_training_data(run: Path, data: Path) -> None:
    """A cached run may be evaluated on ``data``'s test split only if it was trained and
    selected on exactly ``data``'s training and validation splits (byte-identical files)."""
    import yaml

    missing = [n for n in ("config.yaml", "best.pt") if not (run / n).exists()]
    if missing:
        raise SystemExit(f"{run} has no {' or '.join(missing)} to evaluate on the new test "
                         f"split: delete {run} to train it again")
    trained_on = Path(yaml.safe_load((run / "config.yaml").read_text())["data"]["annotations"])
    split = first_different_split(data, trained_on, ("train", "val"))
    if split:
        raise SystemExit(f"{run} was trained on {trained_on}, whose {split} split is not "
                         f"{data / f'{split}.json'}: delete {run} to train it again on this "
                         "benchmark's data")


def _config(preset: str, data: Path, seed: int, overrides: list[str]):
    from ms2d.config import resolve

    return resolve(preset, [*overrides, f"train.seed={seed}", "data.dataset=simulated",
                            f"data.annotations={data}", f"data.features={data / 'features.hdf5'}",
                            "train.progress=false"])


def child(args: argparse.Namespace) -> int:
    """One job in its own process: the baselines of a (preset, world, seed), or one training
    run (train, select on validation, evaluate test once)."""
    import torch

    if args.baselines:
        torch.set_num_threads(args.threads)
        result = baselines(args.preset, Path(args.data), args.seed)
        result["test_split"] = test_split_id(Path(args.data))
        (Path(args.run) / "baselines.json").write_text(json.dumps(result, indent=1))
        return 0
    if args.retest:
        torch.set_num_threads(args.threads)
        return retest(Path(args.run), Path(args.data), args.preset, args.seed)

    from ms2d.checkpoint import load_model
    from ms2d.data.splits import load_splits
    from ms2d.inference import evaluate_queries
    from ms2d.train.loop import train

    torch.set_num_threads(args.threads)
    run = Path(args.run)
    cfg = _config(args.preset, Path(args.data), args.seed, args.overrides)
    splits = load_splits(cfg.data)
    t0 = time.time()
    summary = train(cfg, run, overwrite=True, splits=splits, log=lambda *a: None)
    from ms2d.utils import pick_device

    model, vocab, _ = load_model(run / "best.pt", pick_device(cfg.train.device))
    device = next(model.parameters()).device
    test, _ = evaluate_queries(model, splits.test, splits.store, vocab, cfg, device)
    hist = json.loads((run / "history.json").read_text())
    result = {
        "best_epoch": summary["best"]["epoch"], "val": summary["best"]["val"], "test": test,
        "val_curve": [round(h["val"][METRIC], 2) for h in hist],
        "rgbce": [round(h["rgbce"], 4) for h in hist if "rgbce" in h],
        "rgbce_const": [round(h["rgbce_const"], 4) for h in hist if "rgbce_const" in h],
        "seconds": round(time.time() - t0, 1), "overrides": args.overrides,
    }
    result["test_split"] = test_split_id(Path(args.data))
    if cfg.train.supervision == "weak":
        result["teacher_val"] = teacher_on_val(model, splits, vocab, cfg)
    (run / "result.json").write_text(json.dumps(result, indent=1))
    return 0


def retest(run: Path, data: Path, preset: str, seed: int) -> int:
    """Evaluate a cached run's selected checkpoint on ``data``'s test split (its result was
    evaluated on another one) without training again: checked to be trained on the same
    training and validation splits. Everything but ``test`` is kept."""
    from ms2d.checkpoint import load_model
    from ms2d.data.splits import load_splits
    from ms2d.inference import evaluate_queries
    from ms2d.utils import pick_device

    check_same_training_data(run, data)
    result = json.loads((run / "result.json").read_text())
    cfg = _config(preset, data, seed, result.get("overrides", []))
    splits = load_splits(cfg.data, ("test",))
    model, vocab, _ = load_model(run / "best.pt", pick_device(cfg.train.device))
    device = next(model.parameters()).device
    result["test"], _ = evaluate_queries(model, splits.test, splits.store, vocab, cfg, device)
    result["test_split"] = test_split_id(data)
    result["test_pairs"] = len(splits.test)
    (run / "result.json").write_text(json.dumps(result, indent=1))
    return 0


def teacher_on_val(model, splits, vocab, cfg) -> dict:
    """The teacher's and the student's best span against the ground truth on validation
    (``scripts/teacher_check.py``): is a weak run limited by its labels or by its student?"""
    from teacher_check import teacher_report

    return teacher_report(model, [q for q in splits.val if q.window is not None], splits.store,
                          vocab, cfg)


def import_quickstart(out: Path, folder: Path, videos: int) -> str:
    """The weak and full runs of an ``ms2d quickstart`` folder as this benchmark's ``classic``
    runs of the same seed, without training them again: the quickstart simulates the
    ``classic`` world with the same sizes and trains the same preset, so its runs *are* those
    runs. The simulated annotations must be byte-identical to the benchmark's own."""
    report = json.loads((folder / "results.json").read_text())
    seed, preset = report["_meta"]["seed"], report["_meta"]["preset"]
    if report["_meta"].get("overrides"):
        return f"{folder}: skipped (run with overrides {report['_meta']['overrides']})"
    data = simulate_world(out, "classic", seed, videos)
    split = first_different_split(data, folder / "data", ("train", "val", "test"))
    if split:
        return (f"{folder}: skipped ({folder / 'data' / f'{split}.json'} differs from "
                f"{data / f'{split}.json'})")
    for method in ("weak", "full"):
        run = folder / "runs" / method
        hist = json.loads((run / "history.json").read_text())
        best = max(hist, key=lambda h: h["val"][METRIC])  # the quickstart's best.pt
        result = {
            "best_epoch": best["epoch"], "val": best["val"], "test": report[method],
            "val_curve": [round(h["val"][METRIC], 2) for h in hist],
            "rgbce": [round(h["rgbce"], 4) for h in hist if "rgbce" in h],
            "rgbce_const": [round(h["rgbce_const"], 4) for h in hist if "rgbce_const" in h],
            "seconds": report["_meta"]["train_seconds"].get(method),
            "overrides": [], "from_quickstart": str(folder), "test_split": test_split_id(data)}
        if method == "weak":
            from ms2d.checkpoint import load_model
            from ms2d.config import Config
            from ms2d.data.splits import load_splits

            model, vocab, ckpt = load_model(run / "best.pt")
            cfg = Config.from_dict(ckpt["config"])
            cfg.data.annotations, cfg.data.features = str(data), str(data / "features.hdf5")
            result["teacher_val"] = teacher_on_val(model, load_splits(cfg.data, ("val",)),
                                                   vocab, cfg)
        dest = out / "runs" / preset / f"classic-s{seed}" / method
        dest.mkdir(parents=True, exist_ok=True)
        (dest / "result.json").write_text(json.dumps(result, indent=1))
    return f"{folder}: classic seed {seed} ({preset}) imported"


def dead(result: dict) -> tuple[bool, bool]:
    """(RG-BCE within 0.005 of ln 2 after the second epoch: a student stuck at 0.5 under rank
    or paper labels; RG-BCE never 0.005 below the loss of the best constant prediction of its
    own labels, at the last epoch: a student that learnt nothing, whatever the label rule)."""
    r, c = result.get("rgbce", []), result.get("rgbce_const", [])
    if len(r) < 2:
        return False, False
    return abs(r[1] - LN2) < 0.005, bool(c) and r[-1] > c[-1] - 0.005


def _current(path: Path, test_id: str) -> bool:
    """``path`` (a result.json or baselines.json) exists and was evaluated on this test split."""
    return _read_current(path, test_id, []) is not None


def _read_current(path: Path, test_id: str, stale: list[str]) -> dict | None:
    """``path``'s result if it was evaluated on this test split; a result on another split is
    added to ``stale`` and left out."""
    if not path.exists():
        return None
    result = json.loads(path.read_text())
    if result.get("test_split") != test_id:
        stale.append(str(path))
        return None
    return result


def baselines(preset: str, data: Path, seed: int) -> dict:
    from baselines import baselines_for

    return baselines_for(_config(preset, data, seed, []))


def _mean_std(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{np.mean(values):.2f} ± {np.std(values):.2f}"


def _mean(values: list[float]) -> str:
    return f"{np.mean(values):.1f}" if values else "-"


def table(out: Path, presets, worlds, seeds, tag: str, test_id: dict) -> tuple[str, dict]:
    """The table of every result evaluated on the current test split of its world and seed
    (``test_id[(world, seed)]``); a result left on another split (its retest failed) is named
    below the table, not counted."""
    rows, summary, stale = [], {}, []
    header = ("| world | prior-only | linear weak | weak (the preset) | full supervision | weak / full "
              "| weak - prior (min) | weak > linear | dead (ln 2) | dead* "
              "| teacher / student / linear (val) |")
    for preset in presets:
        rows += [f"\n### `{preset}`\n", header, "|" + "---|" * 11]
        all_ratio = []
        for world in worlds:
            cell: dict[str, list] = {"prior": [], "linear": [], "weak": [], "full": [],
                                     "teacher_val": [], "student_val": [], "linear_val": []}
            dead_n = dead_c = beats = 0
            margins = []
            for seed in seeds:
                base = out / "runs" / preset / f"{world}-s{seed}"
                b, r, f = (_read_current(p, test_id[(world, seed)], stale) for p in (
                    base / "baselines.json", base / f"weak{tag}" / "result.json",
                    base / "full" / "result.json"))
                if b:
                    cell["prior"].append(b["prior"][METRIC])
                    cell["linear"].append(b["linear"][METRIC])
                    if "linear_val" in b:
                        cell["linear_val"].append(b["linear_val"])
                if r:
                    cell["weak"].append(r["test"][METRIC])
                    if "teacher_val" in r:
                        cell["teacher_val"].append(r["teacher_val"]["teacher"][METRIC])
                        cell["student_val"].append(r["teacher_val"]["student"][METRIC])
                    d1, d2 = dead(r)
                    dead_n += d1
                    dead_c += d2
                    if b:
                        margins.append(r["test"][METRIC] - b["prior"][METRIC])
                        beats += r["test"][METRIC] > b["linear"][METRIC]
                if f:
                    cell["full"].append(f["test"][METRIC])
            ratio = (float(np.mean(cell["weak"]) / np.mean(cell["full"]))
                     if cell["weak"] and cell["full"] else None)  # None: no full run (JSON null)
            if ratio is not None:
                all_ratio.append(ratio)
            summary[f"{preset}/{world}"] = {k: v for k, v in cell.items()} | {
                "dead": dead_n, "dead_const": dead_c, "weak_beats_linear": beats,
                "min_margin_over_prior": min(margins) if margins else None, "weak_over_full": ratio}
            rows.append(f"| {world} | {_mean_std(cell['prior'])} | {_mean_std(cell['linear'])} | "
                        f"{_mean_std(cell['weak'])} | {_mean_std(cell['full'])} | "
                        f"{'-' if ratio is None else f'{ratio:.2f}'} | "
                        f"{f'{min(margins):+.2f}' if margins else '-'} | "
                        f"{beats}/{len(cell['weak'])} | {dead_n} | {dead_c} | "
                        f"{_mean(cell['teacher_val'])} / {_mean(cell['student_val'])} / "
                        f"{_mean(cell['linear_val'])} |")
        if all_ratio:
            rows.append(f"\nweak / full averaged over worlds: {np.mean(all_ratio):.2f}")
    if stale:
        rows.append("\nNot counted (evaluated on another test split; train them again): "
                    + ", ".join(stale))
    return "\n".join(rows), summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--worlds", default="classic,i3d,c3d,vgg")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--presets", default=",".join(PRESETS))
    p.add_argument("--methods", default="weak,full", help="trained rows: weak, full")
    p.add_argument("--videos", type=int, default=1200, help="training videos per world")
    p.add_argument("--jobs", type=int, default=max(1, (os.cpu_count() or 2)),
                   help="training processes at once")
    p.add_argument("--threads", type=int, default=1, help="torch threads per process")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="config override for every weak run (a design variant)")
    p.add_argument("--tag", default="", help="suffix of the weak runs' folder (for --set variants)")
    p.add_argument("--set-all", action="append", default=[], metavar="KEY=VALUE",
                   help="config override for every trained run, weak and full (e.g. a smoke "
                        "test's train.epochs=1)")
    p.add_argument("--quickstart", action="append", default=[], type=Path, metavar="DIR",
                   help="an `ms2d quickstart` output folder whose weak and full runs stand for "
                        "the classic world's runs of its seed (checked to be the same data)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--baselines", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--retest", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--run", help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    p.add_argument("--preset", help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    p.add_argument("overrides", nargs="*", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child(args)
    worlds = [w for w in args.worlds.split(",") if w]
    seeds = [int(s) for s in args.seeds.split(",") if s]
    presets = [x for x in args.presets.split(",") if x]
    methods = [m for m in args.methods.split(",") if m]
    tag = f"-{args.tag}" if args.tag else ""
    t0 = time.time()
    for folder in args.quickstart:
        print(import_quickstart(args.out, folder, args.videos), flush=True)
    pairs = [(w, s) for w in worlds for s in seeds]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:  # the worlds, in parallel
        data_dirs = dict(zip(pairs, pool.map(simulate_world, [args.out] * len(pairs),
                                             [w for w, _ in pairs], [s for _, s in pairs],
                                             [args.videos] * len(pairs))))
    print(f"{len(pairs)} simulated worlds ready ({time.time() - t0:.0f}s)", flush=True)
    test_id = {pair: test_split_id(d) for pair, d in data_dirs.items()}
    jobs, later = [], []  # weak runs first, then baselines, then full supervision
    for world, seed in pairs:
        data = data_dirs[(world, seed)]
        for preset in presets:
            base = args.out / "runs" / preset / f"{world}-s{seed}"
            base.mkdir(parents=True, exist_ok=True)
            if not _current(base / "baselines.json", test_id[(world, seed)]):
                later.append((f"{preset}/{world}-s{seed}/baselines", base, data, preset, seed,
                              ["--baselines"]))
            for method in methods:
                name = f"weak{tag}" if method == "weak" else method
                run = base / name
                if (run / "result.json").exists():
                    if not _current(run / "result.json", test_id[(world, seed)]):
                        jobs.append((f"{preset}/{world}-s{seed}/{name}", run, data, preset, seed,
                                     ["--retest"]))
                    continue
                ov = [*args.set_all, *(["train.supervision=full"] if method == "full"
                                       else args.set)]
                (jobs if method == "weak" else later).append(
                    (f"{preset}/{world}-s{seed}/{name}", run, data, preset, seed, ov))
    order = {p: i for i, p in enumerate(presets)}  # one preset's table completes first
    jobs.sort(key=lambda j: order[j[3]])
    jobs += sorted(later, key=lambda j: (not j[-1] == ["--baselines"], order[j[3]]))
    print(f"{len(jobs)} jobs to do, {args.jobs} at a time", flush=True)
    running: list = []
    while jobs or running:
        while jobs and len(running) < args.jobs:
            name, run, data, preset, seed, ov = jobs.pop(0)
            run.mkdir(parents=True, exist_ok=True)
            log_path = run.parent / f"{run.name}.log"
            cmd = [sys.executable, __file__, "--out", str(args.out), "--child", "--run", str(run),
                   "--data", str(data), "--preset", preset, "--seed", str(seed),
                   "--threads", str(args.threads), *ov]
            log = open(log_path, "w")
            running.append((name, run, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                                        env={**os.environ, "OMP_NUM_THREADS":
                                                             str(args.threads)})))
        time.sleep(2)
        for item in list(running):
            name, run, proc = item
            if proc.poll() is None:
                continue
            running.remove(item)
            f = run / ("baselines.json" if name.endswith("/baselines") else "result.json")
            if proc.returncode != 0 or not f.exists():
                print(f"[{time.time() - t0:6.0f}s] {name}: FAILED (exit {proc.returncode}; see "
                      f"{run.parent / (run.name + '.log')})", flush=True)
            elif name.endswith("/baselines"):
                b = json.loads(f.read_text())
                print(f"[{time.time() - t0:6.0f}s] {name}: prior {b['prior'][METRIC]:.2f}, "
                      f"linear {b['linear'][METRIC]:.2f}", flush=True)
            else:
                r = json.loads(f.read_text())
                print(f"[{time.time() - t0:6.0f}s] {name}: test {METRIC} {r['test'][METRIC]:.2f}, "
                      f"val by epoch {r['val_curve']}", flush=True)
    text, summary = table(args.out, presets, worlds, seeds, tag, test_id)
    (args.out / f"robustness{tag}.md").write_text(text + "\n")
    (args.out / f"robustness{tag}.json").write_text(json.dumps(summary, indent=1))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
