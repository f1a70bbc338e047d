"""Evaluation: temporal IoU, NMS, Recall@n at IoU thresholds, mIoU, and file-level evaluation."""

from .evaluator import evaluate_files, load_ground_truth, load_predictions, save_predictions
from .metrics import (
    METRIC_KEYS,
    compute_metrics,
    format_console_table,
    format_table,
    iou,
    iou_matrix,
    mean_iou,
    nms,
    paired_difference,
    recall_at,
    recall_hits,
)

__all__ = [
    "METRIC_KEYS",
    "compute_metrics",
    "evaluate_files",
    "format_console_table",
    "format_table",
    "iou",
    "iou_matrix",
    "load_ground_truth",
    "load_predictions",
    "mean_iou",
    "nms",
    "paired_difference",
    "recall_at",
    "recall_hits",
    "save_predictions",
]
