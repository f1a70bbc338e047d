"""``ms2d info``: statistics of an annotation set, optionally with features and word vectors."""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..data.annotations import DATASETS, Annotations, read_annotations
from ..data.formats import FORMATS
from ..data.records import DataError
from ..data.text import tokenize
from ._common import check_input, check_plot_path

NAME = "info"
HELP = "Print dataset statistics (pairs, videos, durations, moments, vocabulary, coverage)."

DEFAULT_SPLITS: dict[str, tuple[str, ...]] = {
    "charades-sta": ("train_full", "test"),
    "activitynet-captions": ("train", "val", "test"),
    "cpl": ("train", "val", "test"),
    "jsonl": ("train", "val", "test"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, choices=DATASETS, help="annotation format")
    parser.add_argument(
        "--annotations",
        required=True,
        metavar="DIR",
        help="annotation directory (or file for cpl / jsonl / activitynet)",
    )
    parser.add_argument(
        "--split",
        action="append",
        default=None,
        metavar="S",
        help="split to describe; repeat for several (default: every standard "
        "split found, e.g. train_full + test for charades-sta)",
    )
    parser.add_argument("--protocol", default=None, help="2d-tan (default) or cpl")
    parser.add_argument("--features", metavar="FILE", help="feature store (HDF5 file or npy dir)")
    parser.add_argument(
        "--features-key", default=None, help="dataset name inside each group of a grouped HDF5 file"
    )
    parser.add_argument(
        "--word-vectors", metavar="FILE|glove-6b-50d",
        help="word vectors (a file, or glove-6b-50d), to report vocabulary coverage"
    )
    parser.add_argument(
        "--plot", metavar="PNG", help="write histograms of moment start/end fractions and lengths"
    )


_REPORT_ROWS = {
    "clamped_end": "end clamped to duration",
    "clamped_start": "negative start clamped",
    "dropped_start_ge_end": "dropped: start >= end",
    "dropped_end_gt_duration": "dropped: end > duration",
    "dropped_other": "dropped: other",
    "held_out": "held out (val carve-out)",
    "non_ascii": "non-ASCII sentences",
    "no_window": "without a window",
}


def _available_splits(args: argparse.Namespace) -> list[str]:
    ann = Path(args.annotations)
    if args.split:
        return list(args.split)
    if ann.is_file():
        return [ann.stem]
    if not ann.is_dir():
        raise DataError(f"{ann} does not exist.")
    found = []
    for s in DEFAULT_SPLITS[args.dataset]:
        if any((ann / n).is_file() for n in FORMATS[args.dataset].split_files(s)):
            found.append(s)
    if not found:
        raise DataError(
            f"{ann}: found no {args.dataset} split files; give --split (expected e.g. "
            f"{', '.join(DEFAULT_SPLITS[args.dataset])})."
        )
    return found


def _int(n: float) -> str:
    return f"{int(n):,}"


def _f(x: float, digits: int = 2) -> str:
    return f"{x:,.{digits}f}"


def _pct(num: float, den: float) -> str:
    return f"{100.0 * num / den:.2f}%" if den else "n/a"


def _describe(values: Sequence[float], digits: int = 2) -> list[str]:
    if not len(values):
        return ["n/a"] * 4
    a = np.asarray(values, dtype=np.float64)
    return [
        _f(float(a.mean()), digits),
        _f(float(np.median(a)), digits),
        _f(float(a.min()), digits),
        _f(float(a.max()), digits),
    ]


def _stats(
    anns: Annotations, word_set: set[str] | None, store: object | None
) -> tuple[dict[str, str], Counter[str]]:
    qs = anns.queries
    rep = anns.report
    rows: dict[str, str] = {}
    rows["pairs kept"] = _int(rep["kept"])
    rows["pairs raw"] = _int(rep["raw"])
    for key, label in _REPORT_ROWS.items():
        if rep.get(key):
            rows[label] = _int(rep[key])
    vids = {q.vid: q.duration for q in qs}
    rows["videos"] = _int(len(vids))
    for name, v in zip(("mean", "median", "min", "max"), _describe(list(vids.values()))):
        rows[f"duration {name} (s)"] = v
    wins = [(q.window, q.duration) for q in qs if q.window is not None]
    lens = [w[1] - w[0] for w, _ in wins]
    fracs = [(w[1] - w[0]) / d for w, d in wins]
    for name, v in zip(("mean", "median", "min", "max"), _describe(lens)):
        rows[f"moment length {name} (s)"] = v
    for name, v in zip(("mean", "median", "min", "max"), _describe(fracs, 3)):
        rows[f"moment length {name} (frac)"] = v
    counts: Counter[str] = Counter()
    sent_lens = []
    for q in qs:
        toks = tokenize(q.sentence)
        counts.update(toks)
        sent_lens.append(len(toks))
    for name, v in zip(
        ("mean", "median", "min", "max"), _describe(sent_lens, 1)[:2] + _describe(sent_lens, 0)[2:]
    ):
        rows[f"sentence tokens {name}"] = v
    rows["vocabulary (types)"] = _int(len(counts))
    if word_set is not None:
        cov_types = sum(1 for w in counts if w in word_set)
        total = sum(counts.values())
        cov_tokens = sum(c for w, c in counts.items() if w in word_set)
        rows["word-vector coverage (types)"] = (
            f"{cov_types:,}/{len(counts):,} ({_pct(cov_types, len(counts))})"
        )
        rows["word-vector coverage (tokens)"] = _pct(cov_tokens, total)
    if store is not None:
        have = sum(1 for v in vids if v in store)  # type: ignore[operator]
        rows["videos with features"] = f"{have:,}/{len(vids):,} ({_pct(have, len(vids))})"
    return rows, counts


def _table(columns: dict[str, dict[str, str]]) -> str:
    labels: list[str] = []
    for rows in columns.values():
        for k in rows:
            if k not in labels:
                labels.append(k)
    names = list(columns)
    w0 = max(len(s) for s in labels + [""])
    widths = [max([len(n)] + [len(columns[n].get(k, "")) for k in labels]) for n in names]
    lines = [" " * w0 + "".join(f"  {n:>{w}}" for n, w in zip(names, widths))]
    for k in labels:
        lines.append(
            f"{k:<{w0}}"
            + "".join(f"  {columns[n].get(k, '-'):>{w}}" for n, w in zip(names, widths))
        )
    return "\n".join(lines)


def _plot(path: Path, data: dict[str, Annotations]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6))
    panels = [
        ("start / duration", 0),
        ("end / duration", 1),
        ("length / duration", 2),
        ("length (s)", 3),
    ]
    for split, anns in data.items():
        w = [(q.window, q.duration) for q in anns.queries if q.window is not None]
        if not w:
            continue
        s = np.array([a[0] for a, _ in w])
        e = np.array([a[1] for a, _ in w])
        d = np.array([x for _, x in w])
        values = [s / d, e / d, (e - s) / d, e - s]
        for (title, i), v in zip(panels, values):
            rng = (0.0, 1.0) if i < 3 else None
            axes[i].hist(v, bins=40, range=rng, histtype="step", density=True, label=split)
            axes[i].set_title(title)
    for ax in axes:
        ax.set_ylabel("density")
    axes[0].legend()
    fig.tight_layout()
    from ..files import atomic_path

    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=100, format=path.suffix[1:].lower() or "png")
    finally:
        plt.close(fig)


def run(args: argparse.Namespace) -> int:
    if args.plot is not None:
        check_plot_path(args.plot, "--plot")  # before reading anything
    if args.features is not None:
        check_input(args.features, "--features")
    elif args.features_key is not None:
        raise ValueError("--features-key names the dataset inside a grouped HDF5 --features "
                         "file; give --features too")
    if args.word_vectors is not None:
        from ..data.wordvec import NAMED_SOURCES, check_named_source

        if args.word_vectors in NAMED_SOURCES:
            check_named_source(args.word_vectors)
        else:
            check_input(args.word_vectors, "--word-vectors", folder_ok=False)
    splits = _available_splits(args)
    data = {
        s: read_annotations(args.dataset, args.annotations, s, protocol=args.protocol)
        for s in splits
    }
    word_set: set[str] | None = None
    wv_line = ""
    if args.word_vectors:
        from ..data.wordvec import load_word_vectors

        vocab: set[str] = set()
        for anns in data.values():
            for q in anns.queries:
                vocab.update(tokenize(q.sentence))
        words, vecs = load_word_vectors(args.word_vectors, vocab=vocab)
        word_set = set(words)
        wv_line = (
            f"word vectors: {args.word_vectors} (dim {vecs.shape[1]}; "
            f"{len(words):,} of the {len(vocab):,} corpus types found)"
        )
    store = None
    if args.features:
        from ..data.features import open_features

        store = open_features(args.features, dataset_key=args.features_key)
    try:
        columns: dict[str, dict[str, str]] = {}
        all_counts: Counter[str] = Counter()
        for s, anns in data.items():
            columns[s], counts = _stats(anns, word_set, store)
            all_counts.update(counts)
        protocol = next(iter(data.values())).protocol
        print(f"{args.dataset} annotations in {args.annotations} (protocol {protocol})")
        print(_table(columns))
        print(
            f"vocabulary over all listed splits: {len(all_counts):,} types, "
            f"{sum(all_counts.values()):,} tokens"
        )
        if wv_line:
            print(wv_line)
        if store is not None:
            print(f"features: {store.describe()} (layout {store.layout})")
    finally:
        if store is not None:
            store.close()
    if args.plot:
        _plot(Path(args.plot), data)
        print(f"wrote {args.plot}")
    return 0
