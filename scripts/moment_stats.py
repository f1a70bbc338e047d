"""Write ``src/ms2d/data/simulate/moments.json``: the moment statistics of the real datasets.

The simulated worlds ``i3d`` and ``c3d`` draw video durations, the number of sentences per video
and each moment's (start, length) from the statistics of the real Charades-STA and ActivityNet
Captions training annotations. Only summary statistics are stored (duration quantiles, a
histogram of sentences per video, a 10 x 10 histogram of start and length as fractions of the
duration), never the annotations themselves.

    python scripts/moment_stats.py --data ../shared/data            # rewrites moments.json
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import Counter
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "src/ms2d/data/simulate/moments.json"
BINS = 10


def _charades(data: Path) -> tuple[list[float], list[int], list[tuple[float, float]]]:
    root = data / "charades-sta"
    duration = {}
    for name in ("Charades_v1_train.csv", "Charades_v1_test.csv"):
        with open(root / name, newline="") as f:
            for row in csv.DictReader(f):
                duration[row["id"]] = float(row["length"])
    per_video: Counter[str] = Counter()
    windows = []
    for line in open(root / "charades_sta_train.txt", encoding="utf-8"):
        head, _, _ = line.partition("##")
        vid, start, end = head.split()
        d = duration[vid]
        s, e = max(float(start), 0.0), min(float(end), d)
        if s < e:
            per_video[vid] += 1
            windows.append((s / d, (e - s) / d))
    return [duration[v] for v in per_video], list(per_video.values()), windows


def _activitynet(data: Path) -> tuple[list[float], list[int], list[tuple[float, float]]]:
    ann = json.loads((data / "activitynet-captions" / "train.json").read_text())
    durations, counts, windows = [], [], []
    for rec in ann.values():
        d = float(rec["duration"])
        n = 0
        for start, end in rec["timestamps"]:
            s, e = max(float(start), 0.0), min(float(end), d)
            if s < e:
                n += 1
                windows.append((s / d, (e - s) / d))
        if n:
            durations.append(d)
            counts.append(n)
    return durations, counts, windows


def summarise(durations, counts, windows) -> dict:
    w = np.asarray(windows)
    hist, _, _ = np.histogram2d(w[:, 0], w[:, 1], bins=BINS, range=[[0, 1], [0, 1]])
    c = Counter(min(n, 8) for n in counts)
    return {
        "videos": len(durations),
        "moments": len(windows),
        "duration_quantiles": [round(float(q), 2)
                               for q in np.quantile(durations, np.linspace(0, 1, 21))],
        "sentences_per_video": {str(k): c[k] for k in sorted(c)},
        "start_length_histogram": hist.astype(int).tolist(),
        "start_at_zero": round(float((w[:, 0] < 0.005).mean()), 4),
        "end_at_one": round(float((w.sum(1) > 0.995).mean()), 4),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args()
    stats = {
        "source": "summary statistics of the training annotations of Charades-STA "
                  "(charades_sta_train.txt, durations from Charades_v1_*.csv) and ActivityNet "
                  "Captions (train.json); written by scripts/moment_stats.py",
        "bins": BINS,
        "charades": summarise(*_charades(args.data)),
        "activitynet": summarise(*_activitynet(args.data)),
    }
    args.out.write_text(json.dumps(stats, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
