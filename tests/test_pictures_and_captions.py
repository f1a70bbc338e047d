"""Pictures people read (score labels that differ, results.png over seeds) and the captions
CSV of your own videos."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from _tiny import cli


def test_score_labels_tell_saturated_scores_apart() -> None:
    from ms2d.commands.predict import score_labels

    assert score_labels([0.5, 0.25]) == ["0.500", "0.250"]
    assert score_labels([0.99999, 0.99997, 0.99991]) == ["0.99999", "0.99997", "0.99991"]
    assert len(set(score_labels([1 - 1e-7, 1 - 2e-7]))) == 2
    assert score_labels([0.7, 0.7]) == ["0.700", "0.700"]  # a true tie stays a tie


def test_results_png_with_seed_spread(tmp_path: Path) -> None:
    from ms2d.eval.metrics import METRIC_KEYS

    reports = []
    for seed in range(3):
        row = {k: 10.0 + seed for k in METRIC_KEYS}
        reports.append({"prior": row, "weak": {k: v + 5 for k, v in row.items()},
                        "_meta": {"seed": seed}})
        (tmp_path / f"s{seed}.json").write_text(json.dumps(reports[-1]))
    rc, out = cli(["quickstart", "--combine", *sorted(tmp_path.glob("s*.json")),
                   "--out", tmp_path / "out"])
    assert rc == 0, out
    md = (tmp_path / "out" / "results.md").read_text()
    assert "16.00 ± 0.82" in md and "over 3 seeds" in md
    assert (tmp_path / "out" / "results.png").stat().st_size > 10_000


def _features(path: Path) -> Path:
    with h5py.File(path, "w") as f:
        for vid, (t, dur) in {"bikes": (10, 10.0), "bunny": (6, 5.28)}.items():
            f.create_dataset(vid, data=np.zeros((t, 4), np.float32)).attrs["duration"] = dur
    return path


def test_captions_csv_to_jsonl(tmp_path: Path) -> None:
    feats = _features(tmp_path / "f.hdf5")
    (tmp_path / "c.csv").write_text(
        "video,caption,start,end\nbikes.mp4,a taxi waits,,\nbikes,\"a man, in a suit\",1,2.5\n"
        "videos/bunny.mp4,a rabbit,0,9\n\n")
    rc, out = cli(["captions", tmp_path / "c.csv", "--features", feats, "--out",
                   tmp_path / "ann" / "train.jsonl"])
    assert rc == 0, out
    assert "3 caption(s) of 2 video(s), 2 with a window" in out
    rows = [json.loads(x) for x in (tmp_path / "ann/train.jsonl").read_text().splitlines()]
    assert [r["qid"] for r in rows] == ["bikes#0", "bikes#1", "bunny#0"]
    assert rows[1]["query"] == "a man, in a suit" and rows[1]["windows"] == [[1.0, 2.5]]
    assert rows[2]["duration"] == 5.28 and rows[2]["windows"] == [[0.0, 5.28]]  # clamped


@pytest.mark.parametrize("text, message", [
    ("clip,text\nbikes,a taxi\n", "'video' and 'caption'"),
    ("video,caption\nmissing.mp4,a taxi\n", "not in"),
    ("video,caption,start,end\nbikes,a taxi,3,\n", "both start and end"),
    ("video,caption,start,end\nbikes,a taxi,3,1\n", "before end"),
    ("video,caption\n", "no captions"),
])
def test_captions_errors(tmp_path: Path, text: str, message: str) -> None:
    feats = _features(tmp_path / "f.hdf5")
    (tmp_path / "c.csv").write_text(text)
    rc, out = cli(["captions", tmp_path / "c.csv", "--features", feats, "--out",
                   tmp_path / "x.jsonl"])
    assert rc == 2 and message in out, out
