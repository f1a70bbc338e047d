"""``ms2d evaluate``: metrics of a trained run on a split, or of a predictions file."""

from __future__ import annotations

import argparse
import json

from ._common import add_data_arguments, apply_data_arguments, check_input

NAME = "evaluate"
HELP = ("Evaluate a run on a split, or a predictions JSONL (ms2d's or Moment-DETR's format): "
        "R@{1,5} at IoU {0.3,0.5,0.7}, mIoU, and mAP at IoU 0.5, 0.75 and 0.5:0.05:0.95.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", nargs="?", help="run folder or checkpoint file")
    add_data_arguments(parser)
    parser.add_argument("--split", default="test", help="split to evaluate (default test)")
    parser.add_argument("--protocol", default=None, help="dataset protocol (e.g. 2d-tan, cpl)")
    parser.add_argument("--json", default=None, metavar="FILE", help="write the metrics as JSON")
    parser.add_argument("--save-predictions", default=None, metavar="FILE",
                        help="write the ranked predictions as JSONL")
    parser.add_argument("--predictions", default=None, metavar="FILE",
                        help="evaluate this predictions JSONL instead of a run (with --ground-truth)")
    parser.add_argument("--ground-truth", default=None, metavar="FILE",
                        help="ground-truth JSONL for --predictions (ms2d's, or Moment-DETR / "
                             "QVHighlights / Lighthouse files with relevant_windows)")
    parser.add_argument("--gt-rule", choices=("best", "first"), default="best",
                        help="queries with several ground-truth windows: score each prediction "
                             "against the window it matches best (default, Moment-DETR's R@1 "
                             "rule) or against the first window only")
    parser.add_argument("--device", default="auto")


def run(args: argparse.Namespace) -> int:
    from ..eval.metrics import format_console_table
    from ..files import atomic_write_text, check_output_file
    from ..utils import check_device

    # every output path and the device before any work: the metrics are never computed, or
    # printed, only to fail on writing them
    for option, path in (("--json", args.json), ("--save-predictions", args.save_predictions)):
        if path is not None:
            check_output_file(path, option, suffix=".json" if option == "--json" else ".jsonl")
    if args.json is not None and args.json == args.save_predictions:
        raise ValueError("--json and --save-predictions name the same file; give two files")
    check_device(args.device, "--device")
    if args.ground_truth is not None and not args.predictions:
        raise ValueError("--ground-truth goes with --predictions FILE (a run is evaluated on "
                         "its --annotations); drop it or add --predictions")
    if args.predictions and args.run:
        raise ValueError("give a run or --predictions with --ground-truth, not both")
    if args.predictions:
        from ..eval.evaluator import evaluate_files

        if not args.ground_truth:
            raise FileNotFoundError("--predictions needs --ground-truth FILE.jsonl")
        check_input(args.predictions, "--predictions", folder_ok=False)
        check_input(args.ground_truth, "--ground-truth", folder_ok=False)
        metrics = evaluate_files(args.predictions, args.ground_truth, gt_rule=args.gt_rule)
        protocol = f"predictions file, IoU >= threshold, {args.gt_rule} ground-truth window"
    else:
        if not args.run:
            raise FileNotFoundError("give a run folder (or --predictions with --ground-truth)")
        check_input(args.run, "run")
        metrics, protocol = evaluate_run(args)
    from ..eval.metrics import MAP_KEYS, METRIC_KEYS

    print(f"protocol: {protocol}")
    keys = [*METRIC_KEYS, *(k for k in MAP_KEYS if k in metrics)]
    print(format_console_table({args.split if not args.predictions else "predictions": metrics},
                               keys))
    if args.json:
        atomic_write_text(args.json, json.dumps({**metrics, "protocol": protocol}, indent=2))
    return 0


def evaluate_run(args: argparse.Namespace) -> tuple[dict, str]:
    from ..checkpoint import load_model
    from ..config import Config
    from ..data.features import check_clip_counts, check_coverage, check_feature_dim, open_features
    from ..data.splits import clip_seconds, load_split
    from ..eval.evaluator import save_predictions
    from ..inference import evaluate_queries
    from ..utils import pick_device

    device = pick_device(args.device, "--device")
    model, vocab, ckpt = load_model(args.run, device)
    cfg = Config.from_dict(ckpt["config"])
    if args.protocol is not None:
        cfg.data.protocol = args.protocol
    apply_data_arguments(cfg, args)  # checked again: --dataset / --protocol may not fit
    queries, protocol, report = load_split(cfg.data, args.split, need_windows=True, warn=True)
    store = open_features(cfg.data.features)
    spec = ckpt.get("feature_spec", {})
    check_feature_dim(store, spec, cfg.data.features, args.run)
    check_coverage(store, sorted({q.vid for q in queries}))
    check_clip_counts(store, queries, float(spec.get("clip_seconds") or 0.0)
                      or clip_seconds(cfg.data), args.split)
    import numpy as np

    from ..eval.metrics import compute_metrics, mean_average_precision

    # every query has a window (load_split, need_windows); several: each prediction is scored
    # against the one it matches best (--gt-rule best) or the first (--gt-rule first)
    _, preds = evaluate_queries(model, queries, store, vocab, cfg, device, progress=True)
    gts = [np.asarray(q.windows, dtype=np.float64) for q in queries]
    ranked = [np.array([[m.start, m.end, m.score] for m in p]).reshape(-1, 3) for p in preds]
    metrics = compute_metrics([r[:, :2] for r in ranked], gts, gt_rule=args.gt_rule)
    metrics.update(mean_average_precision(ranked, gts))
    metrics["num_queries"] = len(queries)
    full_protocol = (f"{cfg.data.dataset}/{args.split}, protocol {protocol}, IoU >= threshold, "
                     f"NMS {cfg.train.nms}, {args.gt_rule} ground-truth window")
    if args.save_predictions:
        save_predictions(args.save_predictions, [
            {"qid": q.qid, "pred_windows": [[m.start, m.end, m.score] for m in p]}
            for q, p in zip(queries, preds)
        ])
    return metrics, full_protocol


