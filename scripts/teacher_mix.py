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

``--ridge B1,B2,..`` also ranks with the bag-of-words linear learner's direction (its ridge fitted
on the run's training split, strength chosen on validation) beside the student and the teacher:
``(1 - a - b) z(student) + a z(teacher) + b z(ridge)`` for every teacher share ``a`` and ridge
share ``b`` with ``a + b <= 1``; the pooled table then has one row per ``b``. Each run's line also
gives the share its own validation split would choose (``per-run``) and that share's test score,
and whether choosing the share per run is worth it, judged on validation alone: over repeated
random halves of the run's validation queries, the share chosen on one half against the run's own
share, both scored on the other half (``held-out validation``, points of R@1,IoU=0.5;
:func:`held_out_gain`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from ms2d.baselines import LinearWeakBaseline
from ms2d.checkpoint import load_model
from ms2d.config import Config
from ms2d.data.dataset import MomentDataset
from ms2d.data.splits import load_splits
from ms2d.eval.metrics import compute_metrics, recall_hits
from ms2d.inference import candidate_table, eval_loader, moment_windows, rank_moments
from ms2d.losses import standardise

METRIC = "R@1,IoU=0.5"
SHARES = (0.0, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0)


def share_scores(model, queries, store, vocab, cfg: Config, shares, ridge=None,
                 ridge_shares=(0.0,)) -> dict[tuple[float, float], float]:
    """``METRIC`` of ``model`` on ``queries`` for each (teacher share, ridge share) (top 5 after
    NMS, as ``ms2d evaluate``). A ridge share of 0 is :meth:`MS2D.candidate_scores`' own mix;
    above 0 the fitted ``ridge`` (a :class:`LinearWeakBaseline` on the same candidates) joins."""
    preds = share_predictions(model, queries, store, vocab, cfg, shares, ridge, ridge_shares)
    return {pair: metric_of(p, queries) for pair, p in preds.items()}


def metric_of(preds: list, queries) -> float:
    gts = [np.array(q.windows, dtype=np.float64) for q in queries]
    return compute_metrics(moment_windows(preds), gts)[METRIC]


def top1_hits(preds: list, queries) -> np.ndarray:
    """Per query, whether its top-ranked moment has IoU >= 0.5 with a ground-truth window (its
    contribution to ``METRIC``)."""
    gts = [np.array(q.windows, dtype=np.float64) for q in queries]
    return recall_hits(moment_windows(preds), gts, 1, 0.5)


def held_out_gain(hits: dict[float, np.ndarray], fixed: float, repeats: int = 200,
                  seed: int = 0) -> float:
    """How much choosing the share on validation beats ``fixed``, measured on validation alone.

    ``hits[share]``: per validation query, its top-1 hit with that share. Each repeat splits the
    queries into two random halves; the share chosen on one half (ties: the one nearest
    ``fixed``) and ``fixed`` are scored on the other, both ways round. Returns the mean
    difference in points of R@1 (> 0: choosing per run is better on queries it did not see)."""
    shares = sorted(hits)
    table = np.stack([hits[w] for w in shares]).astype(np.float64)  # [shares, queries]
    base = table[shares.index(fixed)]
    rng = np.random.default_rng(seed)
    n, gains = table.shape[1], []
    for _ in range(repeats):
        order = rng.permutation(n)
        for a, b in ((order[: n // 2], order[n // 2:]), (order[n // 2:], order[: n // 2])):
            means = table[:, a].mean(1)
            best = max(range(len(shares)), key=lambda i: (means[i], -abs(shares[i] - fixed)))
            gains.append(table[best, b].mean() - base[b].mean())
    return 100 * float(np.mean(gains))


@torch.no_grad()
def share_predictions(model, queries, store, vocab, cfg: Config, shares, ridge=None,
                      ridge_shares=(0.0,)) -> dict[tuple[float, float], list]:
    """The ranked moments (top 5 after NMS) of each query for each (teacher share, ridge
    share): :func:`share_scores` before the metric."""
    model.eval()
    frac, _ = candidate_table(model.cfg.scales, model.masks("cpu"))
    loader = eval_loader(MomentDataset(queries, store, vocab, cfg.train.max_words), 64)
    pairs = [(w, b) for b in ridge_shares for w in shares if w + b <= 1 + 1e-9]
    preds: dict[tuple[float, float], list] = {pair: [] for pair in pairs}
    own, done = model.cfg.inference_teacher, 0
    try:
        for batch in loader:
            args = (batch["feats"], batch["lengths"], batch["words"], batch["word_lengths"])
            logits = model(*args)["logits"]  # the student once, the mix per share
            segs = model.standard_segments(batch["feats"], batch["lengths"])
            batch_queries = queries[done: done + len(batch["feats"])]
            done += len(batch_queries)
            if any(b > 0 for _, b in pairs):
                z_s = standardise(model.flat_student(logits).double())
                z_t = standardise(model.flat_teacher(segs, args[2], args[3]).double())
                z_r = standardise(torch.from_numpy(np.stack(
                    [ridge.scores(q.sentence, store.get(q.vid)) for q in batch_queries])))
            for w, b in pairs:
                if b > 0:
                    scores = ((1 - w - b) * z_s + w * z_t + b * z_r).numpy()
                else:
                    model.cfg.inference_teacher = w
                    scores = model.candidate_scores(logits, *args, segs=segs).numpy()
                for s, d in zip(scores, batch["duration"].numpy()):
                    preds[(w, b)].append(rank_moments(s, frac, d, top_n=5,
                                                      nms_threshold=cfg.train.nms))
    finally:
        model.cfg.inference_teacher = own  # the model ranks as it did before
    return preds


def weak_runs(out: Path, preset: str, tag: str):
    """``(name, checkpoint, data folder)`` of every weak run of ``preset`` in ``out``."""
    from robustness import test_split_id  # scripts/robustness.py, beside this script

    suffix = f"-{tag}" if tag else ""
    for base in sorted((out / "runs" / preset).glob("*-s*")):
        if not base.is_dir():
            continue
        run = base / f"weak{suffix}"
        result = run / "result.json"
        if not result.exists():
            continue
        info = json.loads(result.read_text())
        if info.get("from_quickstart"):
            source = Path(info["from_quickstart"])
            yield base.name, source / "runs" / "weak" / "best.pt", source / "data"
            continue
        world, seed = base.name.rsplit("-s", 1)
        # the world's data folder this run was evaluated on (a benchmark folder can hold the
        # same world at several sizes: -n<videos>-t<test videos>)
        found = sorted((out / "data").glob(f"{world}-s{seed}-n*"))
        same = [d for d in found if test_split_id(d) == info.get("test_split")]
        if len(same) != 1 and len(found) != 1:
            raise SystemExit(f"{run}: cannot tell which of {[d.name for d in found]} it was "
                             "evaluated on (its result.json's test_split matches "
                             f"{len(same)}); evaluate it again with scripts/robustness.py")
        yield base.name, run / "best.pt", (same or found)[0]


def key(w: float, b: float) -> str:
    return f"{w:g}" if b == 0 else f"{w:g}|ridge={b:g}"


def benchmark_parser(doc: str) -> argparse.ArgumentParser:
    """The arguments of a script that reads the weak runs of a benchmark folder (:func:`weak_runs`)."""
    p = argparse.ArgumentParser(description=doc,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path, help="a scripts/robustness.py --out folder")
    p.add_argument("--preset", default="synthetic-cpu")
    p.add_argument("--tag", default="", help="the weak runs' --tag")
    return p


def main() -> None:
    p = benchmark_parser(__doc__)
    p.add_argument("--shares", default=",".join(map(str, SHARES)))
    p.add_argument("--ridge", default="", metavar="B1,B2,..",
                   help="ridge shares beside the teacher's (the linear learner's direction)")
    p.add_argument("--json", type=Path, help="write the table here")
    args = p.parse_args()
    shares = [float(x) for x in args.shares.split(",")]
    ridge_shares = [0.0, *(float(x) for x in args.ridge.split(",") if x and float(x) > 0)]
    table, chosen = {}, {}
    for name, ckpt, data in weak_runs(args.out, args.preset, args.tag):
        model, vocab, saved = load_model(ckpt)
        own = model.cfg.inference_teacher  # the share the run was trained and selected with
        if model.cfg.teacher != "appearance":
            raise SystemExit(f"{ckpt}: model.teacher={model.cfg.teacher}; the share applies to "
                             "the appearance teacher only")
        cfg = Config.from_dict(saved["config"])
        cfg.data.annotations, cfg.data.features = str(data), str(data / "features.hdf5")
        use_ridge = len(ridge_shares) > 1
        splits = load_splits(cfg.data, ("train", "val", "test") if use_ridge else ("val", "test"))
        ridge = None
        if use_ridge:
            frac, _ = candidate_table(model.cfg.scales, model.masks("cpu"))
            ridge = LinearWeakBaseline(frac).fit(splits.train, splits.store)
            ridge.select([q for q in splits.val if q.window is not None], splits.store)
        table[name] = {}
        for split in ("val", "test"):
            queries = getattr(splits, split)
            preds = share_predictions(model, queries, splits.store, vocab, cfg, shares, ridge,
                                      ridge_shares)
            table[name][split] = {key(*pair): metric_of(p, queries) for pair, p in preds.items()}
            if split == "val" and own in shares:  # choosing per run, judged on validation
                table[name]["held_out_gain"] = held_out_gain(
                    {w: top1_hits(preds[(w, 0.0)], queries) for w in shares}, own)
        val = {w: table[name]["val"][key(w, 0)] for w in shares}
        best = max(val, key=lambda w: (val[w], -abs(w - own)))
        chosen[name] = (best, table[name]["test"][key(best, 0)])
        gain = table[name].get("held_out_gain")
        print(name, " ".join(f"{w:g}: {val[w]:.2f}" for w in shares),
              f"| per-run: {best:g} (test {chosen[name][1]:.2f}"
              + ("" if gain is None else f"; held-out validation {gain:+.2f} against {own:g}")
              + ")", flush=True)
    if not table:
        raise SystemExit(f"no weak runs of {args.preset} (tag {args.tag!r}) in {args.out}")
    print(f"\n{METRIC} by teacher share, mean of {len(table)} runs")
    print("| split | ridge | " + " | ".join(f"{w:g}" for w in shares) + " |")
    print("|---" * (len(shares) + 2) + "|")
    for split in ("val", "test"):
        for b in ridge_shares:
            means = [np.mean([r[split][key(w, b)] for r in table.values()])
                     if w + b <= 1 + 1e-9 else None for w in shares]
            print(f"| {split} | {b:g} | " + " | ".join("-" if m is None else f"{m:.2f}"
                                                      for m in means) + " |")
    gains = [r["held_out_gain"] for r in table.values() if "held_out_gain" in r]
    print("per-run share chosen on validation: "
          + (f"held-out validation {np.mean(gains):+.2f} points against each run's own share "
             f"(above it on {sum(g > 0 for g in gains)} of {len(gains)} runs; repeated random "
             "halves of each validation split, the share chosen on one half, scored on the "
             "other); " if gains else "")
          + f"test (read after) {np.mean([t for _, t in chosen.values()]):.2f}")
    if args.json:
        args.json.write_text(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
