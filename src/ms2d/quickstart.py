"""``ms2d quickstart``: simulate -> train weak / weak single-scale / full -> baselines -> one table."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np

from .baselines import PriorBaseline, RandomBaseline
from .checkpoint import load_model
from .config import resolve
from .data.splits import load_splits
from .eval.metrics import METRIC_KEYS, compute_metrics, format_console_table, format_table
from .files import atomic_path, atomic_write_text
from .inference import candidate_table, evaluate_queries, moment_windows
from .models.maps import candidate_mask
from .train.loop import train
from .utils import pick_device

# rows of the table: name -> (registry model, supervision)
TRAINED = {
    "weak_single_scale": ("ms2d-single-scale", "weak"),
    "weak": ("ms2d", "weak"),
    "full": ("ms2d", "full"),
}
ORDER = ("random", "prior", "weak_single_scale", "weak", "full")
LABELS = {
    "random": "random",
    "prior": "prior-only",
    "weak_single_scale": "weak, single scale",
    "weak": "weak, multi-scale (ms2d)",
    "full": "full supervision",
}


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# relative cost of one epoch (measured, one thread per process on 2 cores: 26 s / 22 s / 25 s)
COST = {"weak": 1.0, "weak_single_scale": 0.85, "full": 0.95}


def plan_jobs(names: list[str], jobs: int | None) -> list[list[str]]:
    """Split the trainings into ``jobs`` groups of similar cost (longest first, greedily).

    ``jobs=None`` picks one process per core, at most one per model: on 2 cores, the weak
    multi-scale model in one and the two cheaper ones in the other. One group means train in
    this process.
    """
    if jobs is None:
        jobs = min(len(names), max(1, available_cores()))
    jobs = max(1, min(jobs, len(names)))
    groups: list[list[str]] = [[] for _ in range(jobs)]
    load = [0.0] * jobs
    for name in sorted(names, key=lambda n: -COST.get(n, 1.0)):
        i = load.index(min(load))
        groups[i].append(name)
        load[i] += COST.get(name, 1.0)
    return [g for g in groups if g]


def _die_with_parent() -> None:
    """Worker initializer: on Linux, get SIGKILL when the parent process dies, so no training
    keeps writing into the run folders on its own. Checkpoints are written atomically, so a
    killed run resumes from its last complete checkpoint (``--resume``)."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the parent's shutdown below still applies
        pass


def _train_group(names: list[str], cfgs: dict, out: Path, threads: int, overwrite: bool) -> dict:
    """One worker process: train its models one after the other on ``threads`` threads."""
    import torch

    torch.set_num_threads(threads)
    timings = {}
    for name in names:
        t1 = time.time()
        cfgs[name].train.progress = False
        summary = train(cfgs[name], out / "runs" / name, overwrite=overwrite,
                        log=lambda msg, _n=name: print(f"[{_n}] {msg}", flush=True))
        if summary.get("interrupted"):  # SIGTERM / Ctrl-C: saved; do not start the next model
            os._exit(130)
        timings[name] = round(time.time() - t1, 1)
    return timings


def _train_parallel(groups: list[list[str]], cfgs: dict, out: Path, threads: int,
                    overwrite: bool) -> dict:
    ctx = multiprocessing.get_context("spawn")  # no forked torch thread pools
    timings: dict[str, float] = {}
    pool = ProcessPoolExecutor(max_workers=len(groups), mp_context=ctx,
                               initializer=_die_with_parent)
    try:
        futures = [pool.submit(_train_group, g, {n: cfgs[n] for n in g}, out, threads, overwrite)
                   for g in groups]
        for f in futures:
            timings.update(f.result())  # re-raises a worker's error here
    except BaseException as e:  # Ctrl-C, a stopped worker or a failed one
        for proc in list(getattr(pool, "_processes", {}).values()):
            proc.terminate()  # each training saves last.pt on SIGTERM
        pool.shutdown(wait=True, cancel_futures=True)
        if isinstance(e, (BrokenProcessPool, KeyboardInterrupt)):
            raise SystemExit(
                f"quickstart interrupted: a training process stopped (Ctrl-C, SIGTERM or killed); "
                f"each run saved its last checkpoint under {out / 'runs'}. Run the quickstart "
                f"again with --overwrite to start over.") from None
        raise
    pool.shutdown(wait=True)
    return timings


def run_quickstart(out: str | Path, *, seed: int = 0, preset: str = "synthetic-cpu",
                   overrides: list[str] | None = None, methods=ORDER, sim_overrides: dict | None = None,
                   overwrite: bool = False, progress: bool = True, log=print,
                   jobs: int | None = None) -> dict:
    """Simulate, train, evaluate, write ``results.{json,md,png}`` in ``out``.

    ``jobs``: training processes on a CPU (None: one per core, up to the three trained rows;
    1: everything in this process with torch's threads).
    """
    from .data.simulate import SimConfig, simulate

    out = Path(out)
    t0 = time.time()
    data_dir = out / "data"
    sim_cfg = SimConfig(seed=seed, **(sim_overrides or {}))
    if (data_dir / "simulation.json").exists():
        log(f"using the simulated data already in {data_dir}")
    else:
        stats = simulate(data_dir, sim_cfg, progress=progress)
        log(f"simulated {stats.get('pairs', stats)} in {data_dir}")
    base = resolve(preset, overrides)
    base.train.seed = seed
    base.train.progress = progress
    base.data.annotations = str(data_dir)
    base.data.features = str(data_dir / "features.hdf5")
    splits = load_splits(base.data, ("train", "val", "test"))
    gts = np.array([q.window for q in splits.test], dtype=np.float64)
    results: dict[str, dict] = {}
    timings: dict[str, float] = {}
    frac, _ = candidate_table(base.model.scales, [candidate_mask(n, base.model.dense_until)
                                                  for n in base.model.scales])
    if "random" in methods:
        preds = RandomBaseline(frac, seed).predict(splits.test, nms=base.train.nms)
        results["random"] = compute_metrics(moment_windows(preds), gts)
    if "prior" in methods:
        preds = PriorBaseline(frac).fit(splits.train).predict(splits.test, nms=base.train.nms)
        results["prior"] = compute_metrics(moment_windows(preds), gts)
    device = pick_device(base.train.device, "train.device")
    cfgs = {}
    for name in (m for m in methods if m in TRAINED):
        model_name, supervision = TRAINED[name]
        cfg = resolve(preset, overrides)
        cfg.train.seed, cfg.train.progress = seed, progress
        cfg.train.model, cfg.train.supervision = model_name, supervision
        cfg.data = base.data
        cfgs[name] = cfg
    groups = plan_jobs(list(cfgs), jobs if device.type == "cpu" else 1)
    if len(groups) > 1:
        threads = max(1, available_cores() // len(groups))
        log(f"training {', '.join(LABELS[n] for n in cfgs)} in {len(groups)} processes "
            f"of {threads} thread(s) each (--jobs); their epoch lines are prefixed")
        timings.update(_train_parallel(groups, cfgs, out, threads, overwrite))
    else:
        for name, cfg in cfgs.items():
            log(f"training {LABELS[name]} ...")
            t1 = time.time()
            train(cfg, out / "runs" / name, overwrite=overwrite, splits=splits, log=log)
            timings[name] = round(time.time() - t1, 1)
    for name, cfg in cfgs.items():
        model, vocab, _ = load_model(out / "runs" / name / "best.pt", device)
        results[name], _ = evaluate_queries(model, splits.test, splits.store, vocab, cfg, device)
    ordered = {k: results[k] for k in ORDER if k in results}
    report = {
        **ordered,
        "_meta": {"seed": seed, "preset": preset, "overrides": list(overrides or []),
                  "test_pairs": len(splits.test), "train_pairs": len(splits.train),
                  "val_pairs": len(splits.val), "train_seconds": timings,
                  "train_processes": len(groups),
                  "total_seconds": round(time.time() - t0, 1)},
    }
    atomic_write_text(out / "results.json", json.dumps(report, indent=2))
    rows = {LABELS[k]: v for k, v in ordered.items()}
    md = (f"# ms2d quickstart results\n\nSimulated benchmark, seed {seed}, preset `{preset}`, "
          f"{len(splits.test)} test pairs. Checkpoints selected on validation.\n\n"
          + format_table(rows) + "\n")
    atomic_write_text(out / "results.md", md)
    plot_results(ordered, out / "results.png")
    log(format_console_table(rows))
    log(f"wrote {out / 'results.json'}, results.md, results.png in {report['_meta']['total_seconds']:.0f}s")
    return report


def combine_results(reports: list[dict]) -> dict[str, list[dict]]:
    """Several ``results.json`` (one per seed) -> ``{method: [metrics per seed]}`` in table
    order, for :func:`plot_results`; methods missing from a report are left out of it."""
    names = [k for k in ORDER if any(k in r for r in reports)]
    return {k: [r[k] for r in reports if k in r] for k in names}


def combine_seed_files(paths: list[str | Path], out: str | Path, log=print) -> dict:
    """``results.json`` of several quickstart runs (seeds) -> ``out/results.{md,png}``: the
    mean ± std table (population std) and the bar chart with every seed's value."""
    reports = []
    for p in paths:
        try:
            reports.append(json.loads(Path(p).read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{p}: not a readable results.json ({exc})") from None
    combined = combine_results(reports)
    if not combined:
        raise ValueError(f"none of {', '.join(map(str, paths))} holds quickstart results")
    out = Path(out)
    rows = {}
    for name, runs in combined.items():
        values = np.array([[m[k] for k in METRIC_KEYS] for m in runs], dtype=float)
        rows[LABELS[name]] = {k: f"{m:.2f} ± {s:.2f}" for k, m, s in
                              zip(METRIC_KEYS, values.mean(0), values.std(0))}
    seeds = [r.get("_meta", {}).get("seed", "?") for r in reports]
    md = (f"# ms2d quickstart results over {len(reports)} seeds\n\nSeeds {seeds}; test split, "
          "mean ± standard deviation (population), percent.\n\n" + format_table(rows) + "\n")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "results.md", md)
    plot_results(combined, out / "results.png")
    log(format_console_table(rows))
    log(f"wrote {out / 'results.md'} and results.png ({len(reports)} seeds)")
    return combined


def plot_results(results: dict[str, dict | list[dict]], path: Path, *,
                 title: str = "ms2d on the simulated benchmark (test split)") -> None:
    """Grouped bars, one group per metric, one bar per method, each bar labelled with its value.

    A method given as a list of metric dicts (one per seed) is drawn at its mean with the seeds
    as dots and a line from the lowest to the highest seed, and labelled ``mean ± std``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = {k: (v if isinstance(v, list) else [v]) for k, v in results.items()}
    seeds = max((len(v) for v in runs.values()), default=1)
    fig, ax = plt.subplots(figsize=(12, 4.6))
    width = 0.8 / max(len(runs), 1)
    x = np.arange(len(METRIC_KEYS))
    for i, (name, per_seed) in enumerate(runs.items()):
        values = np.array([[m[k] for k in METRIC_KEYS] for m in per_seed], dtype=float)
        mean, std = values.mean(0), values.std(0)
        pos = x + i * width
        bars = ax.bar(pos, mean, width, label=LABELS.get(name, name))
        if len(per_seed) > 1:
            ax.vlines(pos, values.min(0), values.max(0), colors="black", lw=1)
            for row in values:
                ax.plot(pos, row, "o", ms=2.5, color="black")
            text = [f"{m:.1f}\n±{s:.1f}" for m, s in zip(mean, std)]
            tops = values.max(0)
        else:
            text = [f"{m:.1f}" for m in mean]
            tops = mean
        for bar, top, t in zip(bars, tops, text):
            ax.text(bar.get_x() + bar.get_width() / 2, top + 1, t, ha="center", va="bottom",
                    fontsize=6, rotation=0)
    ax.set_xticks(x + width * (len(runs) - 1) / 2, METRIC_KEYS, fontsize=8)
    ax.set_ylabel("%")
    ax.set_ylim(0, 112)
    spread = (f" -- mean of {seeds} seeds, dots: each seed, line: lowest to highest"
              if seeds > 1 else "")
    ax.set_title(title + spread, fontsize=10)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=len(runs),
              frameon=False)
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=100, format="png")
    finally:
        plt.close(fig)
