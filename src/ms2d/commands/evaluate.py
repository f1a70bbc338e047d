"""``ms2d evaluate``: metrics of a trained run on a split, or of a predictions file."""

from __future__ import annotations

import argparse
import json

from ._common import add_data_arguments

NAME = "evaluate"
HELP = "Evaluate a run on a split (R@{1,5} at IoU {0.3,0.5,0.7}, mIoU), or a predictions JSONL."


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
                        help="ground-truth JSONL for --predictions")
    parser.add_argument("--device", default="auto")


def run(args: argparse.Namespace) -> int:
    from ..eval.metrics import format_console_table

    if args.predictions:
        from ..eval.evaluator import evaluate_files

        if not args.ground_truth:
            raise FileNotFoundError("--predictions needs --ground-truth FILE.jsonl")
        metrics = evaluate_files(args.predictions, args.ground_truth)
        protocol = "predictions file, IoU >= threshold"
    else:
        if not args.run:
            raise FileNotFoundError("give a run folder (or --predictions with --ground-truth)")
        metrics, protocol = evaluate_run(args)
    print(f"protocol: {protocol}")
    print(format_console_table({args.split if not args.predictions else "predictions": metrics}))
    if args.json:
        from ..utils import atomic_write_text

        atomic_write_text(args.json, json.dumps({**metrics, "protocol": protocol}, indent=2))
    return 0


def evaluate_run(args: argparse.Namespace) -> tuple[dict, str]:
    from ..config import Config
    from ..data.features import check_coverage, open_features
    from ..eval.evaluator import save_predictions
    from ..train.data import load_split
    from ..train.loop import evaluate_queries, load_model
    from ..utils import pick_device

    device = pick_device(args.device)
    model, vocab, ckpt = load_model(args.run, device)
    cfg = Config.from_dict(ckpt["config"])
    for key in ("dataset", "annotations", "features"):
        if getattr(args, key) is not None:
            setattr(cfg.data, key, str(getattr(args, key)))
    if args.protocol:
        cfg.data.protocol = args.protocol
    queries, protocol, report = load_split(cfg.data, args.split)
    store = open_features(cfg.data.features)
    spec = ckpt.get("feature_spec", {})
    if spec.get("dim") and spec["dim"] != store.dim:
        from ..data.records import DataError

        raise DataError(
            f"{cfg.data.features} holds {store.dim}-d features but the checkpoint {args.run} was "
            f"trained on {spec['dim']}-d features ({spec.get('name', 'unknown')}); use the same "
            "feature files as in training or retrain"
        )
    check_coverage(store, sorted({q.vid for q in queries}))
    metrics, preds = evaluate_queries(model, queries, store, vocab, cfg, device, progress=True)
    metrics["num_queries"] = len(queries)
    full_protocol = f"{cfg.data.dataset}/{args.split}, protocol {protocol}, IoU >= threshold, NMS {cfg.train.nms}"
    if args.save_predictions:
        save_predictions(args.save_predictions, [
            {"qid": q.qid, "pred_windows": [[m.start, m.end, m.score] for m in p]}
            for q, p in zip(queries, preds)
        ])
    return metrics, full_protocol


