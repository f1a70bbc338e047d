"""``ms2d predict``: rank the moments of one video for one or more sentence queries."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._common import check_input, check_plot_path, count, number

if TYPE_CHECKING:
    from ..api import CandidateScores
    from ..inference import Moment

NAME = "predict"
HELP = ("Find the moments of a video that match sentence queries, with a trained checkpoint: "
        "from a video file (needs ms2d[video]) or from a feature file.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, metavar="RUN",
                        help="run folder (its best.pt) or checkpoint .pt file")
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--video", metavar="FILE", help="a video file (mp4, mkv, avi ...)")
    src.add_argument("--features", metavar="FILE",
                     help="feature file (HDF5 or folder of .npy) holding --video-id")
    parser.add_argument("--video-id", metavar="VID", help="the video's id in --features")
    parser.add_argument("--query", "-q", action="append", required=True, metavar="TEXT",
                        help="a sentence to search for; repeat for several queries")
    parser.add_argument("--top-k", type=count(1, 10_000), default=5,
                        help="moments per query (default 5)")
    parser.add_argument("--json", metavar="OUT.json", help="write the moments as JSON")
    parser.add_argument("--plot", metavar="OUT.png",
                        help="write a timeline of the best score per time position per query")
    parser.add_argument("--gt", nargs=2, type=number(min=0), action="append",
                        metavar=("START", "END"),
                        help="the ground-truth moment (seconds) of a query: printed IoU, and "
                             "drawn in its --plot panel. Repeat it: the k-th --gt belongs to the "
                             "k-th --query (queries after the last --gt have none)")
    parser.add_argument("--duration", type=number(gt=0), metavar="S",
                        help="video length in seconds, for --features without a stored duration "
                             "(default: clips x the checkpoint's clip length)")
    parser.add_argument("--fps", type=number(gt=0, max=1000), default=None,
                        help="with --video: frames sampled per second (default 2)")
    parser.add_argument("--weights", metavar="PATH",
                        help="with --video: local backbone weights, if the checkpoint's extractor "
                             "needs them")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 ... (default auto)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from ..api import load, load_features
    from ..eval.metrics import iou
    from ..video.decode import VideoDependencyError

    if args.features and not args.video_id:
        print("ms2d predict: error: --features needs --video-id VID", file=sys.stderr)
        return 2
    gts: list[tuple[float, float] | None] = [tuple(g) for g in args.gt or []]
    bad = [g for g in gts if not g[0] < g[1]]
    if bad:
        print(f"ms2d predict: error: --gt START END needs START < END, got {list(bad[0])}",
              file=sys.stderr)
        return 2
    if len(gts) > len(args.query):
        print(f"ms2d predict: error: {len(gts)} --gt for {len(args.query)} --query; give one "
              "--gt per query, in the same order", file=sys.stderr)
        return 2
    gts += [None] * (len(args.query) - len(gts))
    empty = [q for q in args.query if not q.strip()]
    if empty:
        raise ValueError("--query: an empty query; write the sentence to search for")
    # the outputs, the inputs and the device before the checkpoint is loaded
    from ..files import check_output_file
    from ..utils import check_device

    if args.json is not None:
        check_output_file(args.json, "--json")
    if args.plot is not None:
        check_plot_path(args.plot, "--plot")
    if args.json is not None and args.json == args.plot:
        raise ValueError("--json and --plot name the same file; give two files")
    check_device(args.device, "--device")
    check_input(args.checkpoint, "--checkpoint")
    check_input(args.features, "--features")
    if args.weights is not None:
        check_input(args.weights, "--weights", folder_ok=False)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            retriever = load(args.checkpoint, device=args.device)
            if args.video:
                video = retriever.encode_video(args.video, fps=args.fps, weights=args.weights,
                                               progress=not args.quiet)
                where = args.video
            else:
                video = load_features(args.features, args.video_id, duration=args.duration)
                where = f"{args.video_id} in {args.features}"
            scores = retriever.score(video, args.query, duration=args.duration)
            moments = scores.moments(args.top_k, retriever.nms)
    except (ValueError, TypeError, VideoDependencyError) as exc:
        print(f"ms2d predict: error: {exc}", file=sys.stderr)
        return 2
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)

    spec = retriever.feature_spec
    print(f"checkpoint: {retriever.source} ({spec['name']}, {spec['dim']}-d, "
          f"{spec['clip_seconds']:g} s clips)")
    print(f"video: {where} ({scores.duration:.2f} s, {video.num_clips} clips)")
    result: dict[str, Any] = {"checkpoint": str(args.checkpoint), "video": where,
                              "duration": scores.duration, "num_clips": video.num_clips,
                              "feature_spec": spec, "queries": []}
    step = scores.duration / max(retriever.model.cfg.scales)
    print(f"moments lie on a grid of duration / {max(retriever.model.cfg.scales)} = {step:.2f} s "
          "(the finest map)")
    for query, ms, gt in zip(args.query, moments, gts):
        print(f"\n{query!r}")
        sources = retriever.word_sources(query)
        opened = [w for w, src in sources.items() if src not in ("vocabulary", "unknown")]
        unknown = [w for w, src in sources.items() if src == "unknown"]
        if opened:
            print(f"  words not in the training sentences, read through "
                  f"{retriever.word_vectors}: {', '.join(opened)}")
        if unknown:
            print(f"  unknown words (read as <unk>): {', '.join(unknown)}")
        labels = score_labels([m.score for m in ms])
        width = max([6, *(len(t) for t in labels)])
        print(f"  {'rank':>4}  {'start':>8}  {'end':>8}  {'score':>{width}}")
        for rank, (m, text) in enumerate(zip(ms, labels), 1):
            print(f"  {rank:>4}  {m.start:>8.2f}  {m.end:>8.2f}  {text:>{width}}")
        entry: dict[str, Any] = {"query": query, "moments": [
            {"rank": r, "start": m.start, "end": m.end, "score": m.score}
            for r, m in enumerate(ms, 1)]}
        if gt is not None:
            entry["gt"] = list(gt)
        if gt is not None and ms:
            top1 = float(iou([ms[0].start, ms[0].end], gt))
            best = max(float(iou([m.start, m.end], gt)) for m in ms)
            print(f"  ground truth {gt[0]:.2f}-{gt[1]:.2f}: IoU of #1 {top1:.2f}, "
                  f"best IoU in top {len(ms)} {best:.2f}")
            entry.update({"iou_top1": top1, f"iou_best_top{len(ms)}": best})
        result["queries"].append(entry)
    if args.json:
        from ..files import atomic_write_text

        atomic_write_text(args.json, json.dumps(result, indent=2))
        print(f"\nwrote {args.json}")
    if args.plot:
        plot_timeline(scores, moments, Path(args.plot), gts=gts, title=where,
                      grid=max(retriever.model.cfg.scales))
        print(f"wrote {args.plot}")
    return 0


def score_labels(values: list[float] | np.ndarray, digits: int = 3, most: int = 8) -> list[str]:
    """Scores as text with just enough decimals (``digits`` to ``most``) that values which
    differ print differently: saturated scores (0.99999 vs 0.99997) do not all read "1.000".
    Values equal to ``most`` decimals print the same (they are tied)."""
    vals = [float(v) for v in values]
    distinct = len(set(vals))
    d = digits
    while d < most and len({f"{v:.{d}f}" for v in vals}) < distinct:
        d += 1
    return [f"{v:.{d}f}" for v in vals]


def plot_timeline(scores: CandidateScores, moments: list[list[Moment]], path: Path, *,
                  gts: list[tuple[float, float] | None] | None = None, title: str = "",
                  grid: int | None = None, gt: tuple[float, float] | None = None) -> None:
    """One panel per query: the best score of any candidate covering each time position, the
    ranked predictions as bars with their rank and score (#1 darkest), and that query's ground
    truth when given (``gts``: one window or ``None`` per query; ``gt``: one window for every
    query). ``grid``: the finest map size N, noted under the time axis (moments lie on
    ``duration / N`` steps)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator

    times, best = scores.timeline(points=400)
    n = len(scores.queries)
    if gts is None:
        gts = [gt] * n
    fig, axes = plt.subplots(n, 1, figsize=(10, 2.3 * n + 0.8), sharex=True, squeeze=False)
    dur = scores.duration
    for ax, query, row, ms, g in zip(axes[:, 0], scores.queries, best, moments, gts):
        # upper ~55% of the panel: the score curve; lower part: one lane per ranked moment
        lo, hi = float(row.min()), float(row.max())
        span = max(hi - lo, 1e-9)
        ax.set_ylim(lo - span * 1.0, hi + span * 0.15)
        ax.plot(times, row, color="tab:blue", lw=1.5, label="best score covering t")
        if g is not None:
            ax.axvspan(g[0], g[1], facecolor="tab:green", alpha=0.12, edgecolor="tab:green",
                       hatch="//", lw=1.0, label="ground truth")
        lanes = ax.get_xaxis_transform()  # x in seconds, y in axes fraction
        step = 0.4 / max(len(ms), 1)
        labels = score_labels([m.score for m in ms])
        for rank, (m, text) in enumerate(zip(ms, labels), 1):
            y = 0.42 - step * (rank - 0.5)
            ax.hlines(y, m.start, m.end, colors="tab:orange", lw=max(2.0, 9 - rank),
                      alpha=1.0 if rank == 1 else 0.6, transform=lanes,
                      label="ranked predictions" if rank == 1 else None)
            label = f"#{rank} {text}"
            if m.end <= 0.8 * dur:  # right of the bar
                ax.text(m.end, y, f" {label}", transform=lanes, va="center", fontsize=6.5)
            elif m.start >= 0.2 * dur:  # near the right edge: left of the bar
                ax.text(m.start, y, f"{label} ", transform=lanes, va="center", ha="right",
                        fontsize=6.5)
            else:  # (nearly) the whole video: on the bar, inside the plot
                ax.text(m.start + 0.01 * dur, y, label, transform=lanes, va="center",
                        fontsize=6.5, bbox={"boxstyle": "square,pad=0.1", "fc": "white",
                                            "ec": "none", "alpha": 0.8})
        ax.set_title(query if len(query) < 90 else query[:87] + "...", fontsize=9, loc="left")
        ticks = [lo, hi] if hi - lo > 1e-9 else [hi]
        ax.yaxis.set_major_locator(FixedLocator(ticks))
        ax.set_yticklabels(score_labels(ticks))
        ax.set_ylabel("score", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=7, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=3,
                      frameon=False, borderaxespad=0.2)
    note = f"; moments lie on steps of duration / {grid} = {dur / grid:.2f} s" if grid else ""
    axes[-1, 0].set_xlabel(f"time (s){note}", fontsize=8)
    axes[-1, 0].set_xlim(0, dur)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    from ..files import atomic_path

    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=100, format=path.suffix[1:].lower() or "png")
    finally:
        plt.close(fig)
