"""Inference speed: feature extraction frames/s and predict latency per query.

Models are built from the presets with random weights (speed does not depend on training):
``paper`` (hidden 512, maps 64/24/4, 8 conv layers) and ``synthetic-cpu`` (hidden 64, maps
16/8/4, 4 conv layers). For each, the latency of ``Retriever.predict`` on one video is timed
for 1 query and for a batch of queries (50 by default; the video's maps are built once and
shared by the batch), and reported per query. Extraction (decode + EfficientNet-Lite0 + clip
pooling) is timed on a generated 10 s video when the ``[video]`` extra is installed.

On a CPU the paper preset costs seconds per query, so its batch defaults to 4 queries there
(per-query cost is flat in the batch size on a CPU; pass ``--paper-queries 1,50`` to measure
it): the default run stays under 2 minutes on 2 cores.

    python benchmarks/predict_latency.py [--json results.json] [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ms2d.api import Retriever
from ms2d.config import resolve
from ms2d.data.vocab import Vocab
from ms2d.models import MS2D, model_config
from ms2d.utils import pick_device

WORDS = [f"word{i}" for i in range(1000)]


def build_retriever(preset: str, device: torch.device, seed: int = 0) -> Retriever:
    """A randomly initialised model of ``preset`` with a 1,000-word vocabulary."""
    cfg = resolve(preset)
    vocab = Vocab(WORDS)
    torch.manual_seed(seed)
    model = MS2D(model_config(cfg.train.model, cfg.model, vocab_size=len(vocab)))
    spec = {"name": "random", "dim": cfg.model.feature_dim, "clip_seconds": 1.0}
    return Retriever(model, vocab, feature_spec=spec, device=device, nms=cfg.train.nms,
                     max_words=cfg.train.max_words, source=f"{preset} (random init)")


def queries(n: int, words: int = 10, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=words)) for _ in range(n)]


def time_predict(r: Retriever, video: np.ndarray, qs: list[str], repeats: int) -> list[float]:
    """Seconds per call of ``predict(video, qs)`` (numbers come back to the host, so each call
    is complete when timed)."""
    out = []
    for _ in range(repeats):
        if r.device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        r.predict(video, qs, top_k=5)
        out.append(time.perf_counter() - t0)
    return out


def bench_preset(preset: str, counts: list[int], clips: int, repeats: int,
                 device: torch.device) -> list[dict[str, Any]]:
    r = build_retriever(preset, device)
    params = sum(p.numel() for p in r.model.parameters())
    video = np.random.default_rng(1).normal(size=(clips, r.feature_spec["dim"])).astype(np.float32)
    time_predict(r, video, queries(1), 1)  # warm-up (allocations, kernels, caches)
    rows = []
    for n in counts:
        times = time_predict(r, video, queries(n, seed=n), repeats)
        med = statistics.median(times)
        rows.append({"preset": preset, "device": str(device), "params": params, "clips": clips,
                     "scales": list(r.model.cfg.scales), "hidden": r.model.cfg.hidden,
                     "queries": n, "repeats": repeats, "total_ms": med * 1000,
                     "ms_per_query": med * 1000 / n, "min_total_ms": min(times) * 1000})
        print(f"  {preset:<14} {n:>3} quer{'y' if n == 1 else 'ies'}: {med * 1000:9.1f} ms "
              f"({med * 1000 / n:.1f} ms/query)", file=sys.stderr)
    return rows


def bench_extraction(device: torch.device, seconds: float = 10.0, fps: float = 2.0
                     ) -> dict[str, Any] | None:
    """Frames/s of decode + EfficientNet-Lite0 + pooling on a generated 320x240 video."""
    try:
        import av

        from ms2d.video.backbones import create_backbone
        from ms2d.video.decode import open_video
        from ms2d.video.extract import extract_video

        backbone = create_backbone("efficientnet-lite0", device=device)
    except ImportError as exc:
        print(f"  extraction skipped: {exc}", file=sys.stderr)
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.mp4"
        rng = np.random.default_rng(0)
        with av.open(str(path), "w") as c:
            s = c.add_stream("libx264", rate=25)
            s.width, s.height, s.pix_fmt = 320, 240, "yuv420p"
            base = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
            for i in range(int(seconds * 25)):
                img = np.roll(base, 4 * i, axis=1)
                for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                    c.mux(p)
            for p in s.encode():
                c.mux(p)
        extract_video(path, backbone, fps=fps, clip_seconds=1.0, batch_size=32)  # warm-up
        t0 = time.perf_counter()
        with open_video(path) as v:
            n_dec = sum(1 for _ in v.sample(fps=fps, size=(224, 224)))
        t_decode = time.perf_counter() - t0
        t0 = time.perf_counter()
        feats, _, frames = extract_video(path, backbone, fps=fps, clip_seconds=1.0, batch_size=32)
        total = time.perf_counter() - t0
    row = {"backbone": backbone.name, "device": str(device), "video": "320x240, 25 fps",
           "seconds": seconds, "fps": fps, "frames": frames, "clips": int(feats.shape[0]),
           "total_s": total, "frames_per_s": frames / total,
           "decode_frames_per_s": n_dec / t_decode,
           "video_seconds_per_s": seconds / total}
    print(f"  extraction: {frames} frames in {total:.2f}s = {row['frames_per_s']:.1f} frames/s "
          f"(decode alone {row['decode_frames_per_s']:.0f} frames/s)", file=sys.stderr)
    return row


def table(rows: list[dict[str, Any]], extraction: dict[str, Any] | None) -> str:
    lines = [f"{'preset':<14} {'device':<7} {'params':>9} {'clips':>5} {'queries':>7} "
             f"{'total ms':>10} {'ms/query':>9}"]
    for r in rows:
        lines.append(f"{r['preset']:<14} {r['device']:<7} {r['params'] / 1e6:>8.2f}M "
                     f"{r['clips']:>5} {r['queries']:>7} {r['total_ms']:>10.1f} "
                     f"{r['ms_per_query']:>9.1f}")
    if extraction:
        e = extraction
        lines.append(f"extraction ({e['backbone']}, {e['device']}, {e['fps']:g} fps sampling): "
                     f"{e['frames_per_s']:.1f} frames/s = {e['video_seconds_per_s']:.1f} s of "
                     f"video per second (decode alone {e['decode_frames_per_s']:.0f} frames/s)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--presets", default="paper,synthetic-cpu")
    p.add_argument("--queries", default="1,50", help="query counts (default 1,50)")
    p.add_argument("--paper-queries", default=None,
                   help="query counts for the paper preset (default: --queries on a GPU, 1,4 "
                        "on a CPU)")
    p.add_argument("--clips", type=int, default=128, help="clips of the video (default 128)")
    p.add_argument("--repeats", type=int, default=None,
                   help="timed calls per point, median reported (default 5 on GPU, 1 on CPU)")
    p.add_argument("--device", default="auto")
    p.add_argument("--no-extraction", action="store_true")
    p.add_argument("--json", default=None, metavar="FILE")
    args = p.parse_args(argv)
    device = pick_device(args.device)
    cpu = device.type == "cpu"
    repeats = args.repeats or (1 if cpu else 5)
    counts = [int(x) for x in args.queries.split(",")]
    t0 = time.perf_counter()
    rows: list[dict[str, Any]] = []
    for preset in args.presets.split(","):
        these = counts
        if preset == "paper":
            these = [int(x) for x in (args.paper_queries or ("1,4" if cpu else args.queries))
                     .split(",")]
        rows += bench_preset(preset, these, args.clips, repeats, device)
    extraction = None if args.no_extraction else bench_extraction(device)
    env = {"device": str(device), "torch": torch.__version__, "threads": torch.get_num_threads(),
           "python": platform.python_version(), "machine": platform.machine(),
           "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
           "wall_s": round(time.perf_counter() - t0, 1)}
    print(table(rows, extraction))
    print(f"({env['gpu'] or 'cpu'}, torch {env['torch']}, {env['threads']} threads, "
          f"{env['wall_s']}s)")
    if args.json:
        Path(args.json).write_text(json.dumps({"env": env, "predict": rows,
                                               "extraction": extraction}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
