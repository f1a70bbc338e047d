"""The performance benchmark: machine peaks, training throughput against a dense 2D-TAN-shaped
baseline, achieved fraction of peak, inference latency, map construction and data loading.

    python benchmarks/run.py [--json out.json] [--quick] [--device cpu|cuda] [--sections ...]

Sections (``--sections``, comma-separated; default all but ``profile``):

- ``peaks``: dense fp32 matmul GFLOP/s (2048^2) and conv2d GFLOP/s (forward, forward+backward)
  for each training configuration's conv shape (channels = hidden, its kernel, map N), measured
  in the same run, with torch's thread count.
- ``training``: pairs/s and peak memory of a training step (weak supervision through
  ``ms2d.objective.compute_loss``, Adam, gradient clipping) on random inputs of realistic shape
  (T clips = the largest scale, 10-word sentences, vocabulary 1000), and the same for
  :class:`reference.Dense2DTAN` (``benchmarks/reference.py``) (2D-TAN's dense conv stack with mask-by-count and
  scaled-IoU BCE) at equal N, width and depth. FLOPs of forward + backward are counted with
  ``torch.utils.flop_counter.FlopCounterMode`` (LSTMs, which it does not see on a CPU, are
  added analytically) and divided by the step time: the achieved fraction of the conv peak.
  Configurations: the ``paper`` and ``synthetic-cpu`` presets and the issue's two reference
  configurations (N=64, 4 layers of kernel 9; N=16, 8 layers of kernel 5; 512 channels).
- ``latency``: ``Retriever.predict`` per query for 1 and 50 queries on one video (through
  ``benchmarks/predict_latency.py``).
- ``maps``: ``build_map`` (and the loop reference) and the contrast map
  (``span_map(seq, "contrast")``) time against N in 8 .. 128.
- ``data``: pairs/s of ``MomentDataset`` + ``collate`` over a simulated HDF5 file.
- ``profile``: ``torch.profiler`` of one training step of ``synthetic-cpu`` and ``paper`` (CPU
  only): time, FLOPs and fraction of peak per stage (convs, LSTMs, caption module, map
  building, ...), and time per op category.

On a CPU the heavy configurations use small batches (``paper``: 4 instead of 128; reference
configurations: 1 and 2) and one or two timed steps; the default run stays under 10 minutes on
2 cores, ``--quick`` (small widths, no ``paper``) under a minute. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import importlib.util
import json
import math
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ms2d.config import Config, resolve
from ms2d.models import MS2D, model_config
from ms2d.models.maps import build_map, candidate_mask, span_map
from ms2d.objective import compute_loss
from ms2d.ops import conv_plan_for
from ms2d.ops.banded import BandedPlan
from ms2d.ops.diagonal import DiagonalPlan
from ms2d.train.runtime import autocast, compile_hot_modules, make_optimizer, tf32_mode

sys.path.insert(0, str(Path(__file__).resolve().parent))  # also where the tests load this file
from reference import Dense2DTAN, build_map_reference  # noqa: E402  (benchmarks/reference.py)

VOCAB = 1000
SENTENCE_WORDS = 10
SECTIONS = ("peaks", "training", "latency", "maps", "data", "profile")
DEFAULT_SECTIONS = ("peaks", "training", "latency", "maps", "data")
LOW_SHARE = 0.8  # rows measured with a smaller CPU share are flagged as slowed by load


# -----------------------------------------------------------------------------------------------
# Environment, timing and memory helpers
# -----------------------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def environment(device: torch.device) -> dict[str, Any]:
    return {
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "nproc": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": cpu_model(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "loadavg_start": loadavg(),
    }


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def repeat_timed(fn: Callable[[], Any], device: torch.device, min_s: float, min_iters: int = 1,
                 max_iters: int = 1000) -> list[float]:
    """Seconds per call of ``fn`` (already warmed up), at least ``min_iters`` calls and until
    ``min_s`` seconds have passed (at most ``max_iters``)."""
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_iters or (time.perf_counter() - start < min_s and len(times) < max_iters):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return times


def best_of(fn: Callable[[], Any], device: torch.device, reps: int) -> float:
    """Seconds of the fastest of ``reps`` calls of ``fn``, after one warm-up call (plans,
    allocator, mkldnn primitives / cuDNN algorithms)."""
    fn()
    return min(repeat_timed(fn, device, 0.0, reps, reps))


def cpu_share(cpu0: float, wall0: float) -> float:
    """CPU time this process got since ``(cpu0, wall0)`` over wall time x torch threads: about 1
    on an idle machine (CPU runs), lower when other processes take the cores (or the process
    was stopped). Numbers measured at a low share are slowed down by the load."""
    wall = time.perf_counter() - wall0
    return (time.process_time() - cpu0) / (wall * torch.get_num_threads()) if wall > 0 else 1.0


def _status_kb(key: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _trim() -> None:
    """Give freed heap memory back to the OS so that RSS measures what is live."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class Memory:
    """Peak memory of a section. CUDA: ``torch.cuda.max_memory_allocated``. CPU: the process
    high-water mark ``VmHWM``, reset with ``/proc/self/clear_refs`` (Linux) just before the
    measured steps, minus the RSS before the model was built; without ``clear_refs``,
    ``ru_maxrss`` (a lifetime peak: only meaningful when this section sets a new peak)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
            self.base = torch.cuda.memory_allocated(device)
            self.method = "torch.cuda.max_memory_allocated"
        else:
            _trim()
            self.base = (_status_kb("VmRSS") or 0) * 1024

    def reset_peak(self) -> None:
        if self.device.type == "cuda":
            return  # the CUDA peak covers model, optimizer state and all steps since __init__
        try:
            Path("/proc/self/clear_refs").write_text("5")
            self.method = "VmHWM (reset via /proc/self/clear_refs) - RSS before the model"
        except OSError:
            self.method = "ru_maxrss (process lifetime peak) - RSS before the model"

    def peak_mb(self) -> float:
        if self.device.type == "cuda":
            return (torch.cuda.max_memory_allocated(self.device) - self.base) / 2**20
        if self.method.startswith("VmHWM"):
            peak = (_status_kb("VmHWM") or 0) * 1024
        else:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return (peak - self.base) / 2**20


# -----------------------------------------------------------------------------------------------
# FLOP counting (FlopCounterMode does not see the LSTMs on a CPU: mkldnn_rnn_layer)
# -----------------------------------------------------------------------------------------------


def lstm_forward_flops(lstm: nn.LSTM, tokens: int) -> int:
    """Multiply-adds x 2 of an LSTM's gate matmuls for ``tokens`` (batch x time) inputs."""
    dirs = 2 if lstm.bidirectional else 1
    h = lstm.hidden_size
    total = 0
    for layer in range(lstm.num_layers):
        inp = lstm.input_size if layer == 0 else h * dirs
        total += dirs * tokens * 2 * 4 * h * (inp + h)
    return total


def _lstm_tokens(x) -> int:
    if isinstance(x, nn.utils.rnn.PackedSequence):
        return int(x.data.shape[0])
    return int(x.shape[0] * x.shape[1]) if x.dim() == 3 else int(x.shape[0])


@contextmanager
def lstm_flop_hooks(model: nn.Module, sink: Callable[[int], None], counted: Callable[[], int]):
    """Reports the forward FLOPs of every LSTM call of ``model`` to ``sink``, unless the active
    FlopCounterMode (read through ``counted``) already saw them: an LSTM that runs as
    ``mm``/``addmm`` per time step (no mkldnn / cuDNN kernel) is counted by the mode itself."""
    before: dict[int, int] = {}

    def pre(mod, args):
        before[id(mod)] = counted()

    def post(mod, args, out):
        f = lstm_forward_flops(mod, _lstm_tokens(args[0]))
        if counted() - before.pop(id(mod), 0) < f // 2:
            sink(f)

    lstms = [m for m in model.modules() if isinstance(m, nn.LSTM)]
    handles = [m.register_forward_pre_hook(pre) for m in lstms]
    handles += [m.register_forward_hook(post) for m in lstms]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def _addmm_flop(self_shape, a_shape, b_shape, *args, out_shape=None, **kwargs) -> int:
    """``addmm``'s FLOPs, also for the ``out_dtype`` overload (bf16 operands, float32 sums: the
    diagonal convolution under autocast on a GPU), on which torch's own rule fails (it takes
    ``out_dtype`` for its ``out_shape`` argument)."""
    m, k = a_shape
    return 2 * m * k * b_shape[1]


#: FlopCounterMode rules that replace torch's own.
FLOP_RULES = {torch.ops.aten.addmm: _addmm_flop}


def count_flops(fn: Callable[[], Any], model: nn.Module, backward: bool = True) -> dict[str, Any]:
    """FLOPs of one call of ``fn``: FlopCounterMode plus the LSTMs it does not see, counted
    analytically (forward x 3 when ``fn`` also runs the backward pass: gradients of inputs and
    of weights)."""
    lstm = [0]
    with FlopCounterMode(display=False, custom_mapping=FLOP_RULES) as fc, \
            lstm_flop_hooks(model, lambda f: lstm.__setitem__(0, lstm[0] + f), fc.get_total_flops):
        fn()
    by_op = {str(op): int(n) for op, n in fc.get_flop_counts().get("Global", {}).items()}
    lstm_total = lstm[0] * (3 if backward else 1)
    counted = int(fc.get_total_flops())
    return {"counted": counted, "lstm_estimate": lstm_total, "total": counted + lstm_total,
            "by_op": by_op}


# -----------------------------------------------------------------------------------------------
# Machine peaks
# -----------------------------------------------------------------------------------------------


def bench_matmul(n: int, device: torch.device, min_s: float,
                 dtype: torch.dtype = torch.float32) -> dict[str, Any]:
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    torch.mm(a, b)
    times = repeat_timed(lambda: torch.mm(a, b), device, min_s, min_iters=2)
    best = min(times)
    return {"kind": "matmul", "shape": f"{n}x{n} @ {n}x{n}", "dtype": str(dtype).split(".")[-1],
            "gflops_per_s": 2 * n**3 / best / 1e9,
            "median_gflops_per_s": 2 * n**3 / statistics.median(times) / 1e9, "iters": len(times)}


def conv_flops(batch: int, channels: int, kernel: int, n: int) -> int:
    return 2 * batch * channels * channels * kernel * kernel * n * n


def bench_conv(channels: int, kernel: int, n: int, batch: int, device: torch.device,
               min_s: float, dtype: torch.dtype = torch.float32) -> dict[str, Any]:
    """Forward and forward+backward (grad of input and weight) of a same-padded conv2d."""
    x = torch.randn(batch, channels, n, n, device=device, dtype=dtype, requires_grad=True)
    w = torch.randn(channels, channels, kernel, kernel, device=device, dtype=dtype,
                    requires_grad=True)
    pad = kernel // 2

    def fwd():
        with torch.no_grad():
            torch.nn.functional.conv2d(x, w, padding=pad)

    def fwd_bwd():
        y = torch.nn.functional.conv2d(x, w, padding=pad)
        y.backward(torch.ones_like(y))

    fwd()
    fwd_bwd()
    f = conv_flops(batch, channels, kernel, n)
    t_f = repeat_timed(fwd, device, min_s / 3, min_iters=1)
    t_fb = repeat_timed(fwd_bwd, device, min_s, min_iters=1)
    return {"kind": "conv2d", "channels": channels, "kernel": kernel, "N": n, "batch": batch,
            "fwd_gflops_per_s": f / min(t_f) / 1e9,
            "fwd_bwd_gflops_per_s": 3 * f / min(t_fb) / 1e9,
            "iters": [len(t_f), len(t_fb)]}


# -----------------------------------------------------------------------------------------------
# Training configurations
# -----------------------------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    preset: str
    overrides: dict[str, Any]
    feature_dim: int
    batch: int
    count_batch: int  # FLOPs are counted on this batch (scaled to `batch`): it is the warm-up
    note: str = ""
    steps_max: int = 10
    extra: dict[str, Any] = field(default_factory=dict)

    def config(self) -> Config:
        cfg = resolve(self.preset, {f"model.{k}": v for k, v in self.overrides.items()})
        cfg.model = model_config(cfg.train.model, cfg.model, feature_dim=self.feature_dim,
                                 vocab_size=VOCAB)
        return cfg


def training_cases(device: torch.device, quick: bool, paper_batch: int | None) -> list[Case]:
    cpu = device.type == "cpu"
    ref = {"hidden": 512}
    if quick:  # same code paths at small widths: a smoke test, not a measurement
        small = {"hidden": 32, "word_dim": 32, "caption_hidden": 32}
        return [
            Case("synthetic-cpu", "synthetic-cpu", {}, 256, 8, 8, "quick: batch 8", steps_max=3),
            Case("ref-n64-k9", "paper", {**small, "scales": [64], "conv_layers": 4, "kernel": 9},
                 500, 1, 1, "quick: 32 channels instead of 512", steps_max=2),
            Case("ref-n16-k5", "paper", {**small, "scales": [16], "conv_layers": 8, "kernel": 5},
                 500, 2, 2, "quick: 32 channels instead of 512", steps_max=2),
        ]
    pb = paper_batch or (4 if cpu else 32)
    syn = resolve("synthetic-cpu").train.batch_size
    return [
        Case("paper", "paper", {}, 500, pb, 1 if cpu else pb,
             f"batch {pb} instead of the preset's 128" + (" (CPU)" if cpu else ""), steps_max=3),
        Case("synthetic-cpu", "synthetic-cpu", {}, 256, syn, syn, f"the preset's batch {syn}"),
        Case("ref-n64-k9", "paper", {**ref, "scales": [64], "conv_layers": 4, "kernel": 9}, 500,
             1 if cpu else 16, 1 if cpu else 16,
             "issue reference: N=64, 4 conv layers, kernel 9, 512 channels; ms2d single-scale",
             steps_max=5),
        Case("ref-n16-k5", "paper", {**ref, "scales": [16], "conv_layers": 8, "kernel": 5}, 500,
             2 if cpu else 32, 2 if cpu else 32,
             "issue reference: N=16, 8 conv layers, kernel 5, 512 channels; ms2d single-scale"),
    ]


def random_batch(b: int, t: int, feat_dim: int, device: torch.device, seed: int = 0) -> dict:
    """Inputs of realistic shape: ``t`` clips, ``SENTENCE_WORDS``-word sentences, a window."""
    g = torch.Generator().manual_seed(seed)
    start = torch.rand(b, generator=g) * 0.6 * t
    length = (0.1 + 0.3 * torch.rand(b, generator=g)) * t
    batch = {
        "feats": torch.randn(b, t, feat_dim, generator=g),
        "lengths": torch.full((b,), t, dtype=torch.long),
        "words": torch.randint(5, VOCAB, (b, SENTENCE_WORDS), generator=g),
        "word_lengths": torch.full((b,), SENTENCE_WORDS, dtype=torch.long),
        "duration": torch.full((b,), float(t)),
        "window": torch.stack([start, torch.minimum(start + length, torch.tensor(float(t)))], 1),
        "index": torch.arange(b),
    }
    return {k: v.to(device) for k, v in batch.items()}


def make_model(kind: str, cfg: Config, device: torch.device) -> nn.Module:
    torch.manual_seed(0)
    model = MS2D(cfg.model) if kind == "ms2d" else Dense2DTAN(cfg.model)
    return model.to(device).train()


def make_step(kind: str, model: nn.Module, cfg: Config, opt: torch.optim.Optimizer,
              batch: dict, amp: bool = False) -> Callable[[], torch.Tensor]:
    device = batch["feats"].device

    def step() -> torch.Tensor:
        with autocast(device, amp):  # bf16 forward (GPU, --precision bf16); backward follows
            if kind == "ms2d":
                loss, _ = compute_loss(model, batch, cfg)
            else:
                loss = model.loss(batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.train.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
        opt.step()
        return loss

    return step


def conv_cells(kind: str, m, device: torch.device, amp: bool = False) -> dict[str, Any]:
    """Per scale: which conv runs on ``device`` and the share of the dense convolution's
    cell-taps it computes."""
    out = {}
    for n in m.scales:
        mask = candidate_mask(n, m.dense_until).to(device)  # `auto` depends on the device
        plan = conv_plan_for(m.conv_impl, mask, m.kernel, bf16=amp) if kind == "ms2d" else None
        impl = ("diagonal" if isinstance(plan, DiagonalPlan)
                else "banded" if isinstance(plan, BandedPlan) else "dense")
        out[str(n)] = {"impl": impl,
                       "computed": 1.0 if plan is None else plan.work,
                       "candidates": float(mask.float().mean())}
    return out


def bench_training(case: Case, kind: str, device: torch.device, budget_s: float,
                   peaks: dict[str, Any], amp: bool = False, compiled: bool = False
                   ) -> dict[str, Any]:
    """One configuration, one model (``ms2d`` or ``dense-2d-tan``): pairs/s, memory, FLOPs.
    ``amp``: bf16 autocast; ``compiled``: ``torch.compile`` of the conv stacks (and the ms2d
    caption module), whose first steps (the compilation) stay out of the timing."""
    cfg = case.config()
    m = cfg.model
    t = max(m.scales)
    mem = Memory(device)
    model = make_model(kind, cfg, device)
    opt = make_optimizer(model, cfg.train.lr)
    params = sum(p.numel() for p in model.parameters())

    # FLOPs on `count_batch` (the warm-up step), scaled linearly to the batch: every op of a
    # step is per pair (the pair's maps, its candidates, its sentence).
    cb = case.count_batch
    step_c = make_step(kind, model, cfg, opt, random_batch(cb, t, case.feature_dim, device, 1), amp)
    sync(device)
    t0 = time.perf_counter()
    flops = count_flops(step_c, model)
    sync(device)
    t_count = time.perf_counter() - t0
    scale = case.batch / cb
    step_flops = flops["total"] * scale

    step = make_step(kind, model, cfg, opt, random_batch(case.batch, t, case.feature_dim, device),
                     amp)
    t_compile = None
    if compiled:  # FLOPs were counted eagerly; compile now, outside the timing
        if kind == "ms2d":
            compile_hot_modules(model)
        else:
            for stack in model.convs:
                stack.compile()
        sync(device)
        t0 = time.perf_counter()
        step()
        step()
        sync(device)
        t_compile = time.perf_counter() - t0
    else:  # one warm-up step at the full batch (the FLOP count ran on `count_batch`): the
        # first steps at a new size are slower (allocator, mkldnn primitives; 3.35, 3.10 s, then
        # 3.00-3.04 s at the N=64 reference), so the timed ones start from the second
        step()
    mem.reset_peak()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    times = repeat_timed(step, device, budget_s, min_iters=2, max_iters=case.steps_max)
    share = cpu_share(cpu0, wall0)
    mem_mb = mem.peak_mb()
    step_s = statistics.median(times)
    achieved = step_flops / step_s / 1e9
    conv_peak = peaks.get("conv", {}).get(case.name, {}).get("fwd_bwd_gflops_per_s")
    mm_peak = peaks.get("matmul", {}).get("gflops_per_s")
    row = {
        "config": case.name, "model": kind, "preset": case.preset, "device": str(device),
        "N": t, "scales": list(m.scales), "hidden": m.hidden, "conv_layers": m.conv_layers,
        "kernel": m.kernel, "caption_hidden": m.caption_hidden if kind == "ms2d" else None,
        "conv_cells": conv_cells(kind, m, device, amp),
        "batch": case.batch, "note": case.note, "params": params,
        "steps": len(times), "step_s": step_s, "min_step_s": min(times),
        "pairs_per_s": case.batch / step_s,
        "peak_mem_mb": mem_mb, "mem_method": mem.method,
        "flops_per_step": step_flops, "flops_counted_batch": cb,
        "flops_lstm_estimate_per_step": flops["lstm_estimate"] * scale,
        "flops_by_op": {k: v * scale for k, v in flops["by_op"].items()},
        "achieved_gflops_per_s": achieved,
        "frac_conv_peak": achieved / conv_peak if conv_peak else None,
        "frac_matmul_peak": achieved / mm_peak if mm_peak else None,
        "warmup_s": t_count, "cpu_share": share, "amp_bf16": amp, "compiled": compiled,
        "compile_s": t_compile,
    }
    del model, opt, step, step_c
    _trim()
    return row


# -----------------------------------------------------------------------------------------------
# Inference latency, maps, data loading
# -----------------------------------------------------------------------------------------------


def _predict_latency_module():
    path = Path(__file__).with_name("predict_latency.py")
    name = "_ms2d_predict_latency"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]


def bench_latency(device: torch.device, quick: bool, paper_queries: list[int] | None
                  ) -> list[dict[str, Any]]:
    pl = _predict_latency_module()
    cpu = device.type == "cpu"
    rows = pl.bench_preset("synthetic-cpu", [1, 50], 128, 1 if quick else 3, device)
    if not quick:
        counts = paper_queries or ([1, 4] if cpu else [1, 50])
        paper = pl.bench_preset("paper", counts, 128, 1 if cpu else 5, device)
        if 50 not in counts:
            for r in paper:
                r["note"] = f"50 queries not run on {device.type} (the cost per query is flat in "\
                            "the count beyond a few queries; pass --paper-queries 1,50)"
        rows += paper
    return rows


def bench_maps(device: torch.device, quick: bool, sizes=(8, 16, 32, 64, 128)) -> list[dict[str, Any]]:
    b, d = (2, 32) if quick else (4, 512)
    min_s = 0.05 if quick else 0.3
    rows, prev = [], None
    for n in sizes:
        seq = torch.randn(b, n, d, device=device, requires_grad=True)
        build_map(seq)
        fast = repeat_timed(lambda s=seq: build_map(s.detach()), device, min_s)

        def fwd_bwd(s=seq):
            build_map(s).sum().backward()

        fwd_bwd()
        fast_bwd = repeat_timed(fwd_bwd, device, min_s)
        ref = repeat_timed(lambda s=seq: build_map_reference(s.detach()), device, min_s / 3)

        def contrast_fwd_bwd(s=seq):
            span_map(s, "contrast").sum().backward()

        contrast_fwd_bwd()
        contrast = repeat_timed(lambda s=seq: span_map(s.detach(), "contrast"), device, min_s)
        contrast_bwd = repeat_timed(contrast_fwd_bwd, device, min_s)
        row = {"N": n, "batch": b, "channels": d, "cells": n * (n + 1) // 2,
               "output_mb": b * d * n * n * 4 / 2**20,
               "build_map_ms": min(fast) * 1e3, "build_map_fwd_bwd_ms": min(fast_bwd) * 1e3,
               "reference_ms": min(ref) * 1e3, "contrast_ms": min(contrast) * 1e3,
               "contrast_fwd_bwd_ms": min(contrast_bwd) * 1e3}
        row["speedup_vs_reference"] = row["reference_ms"] / row["build_map_ms"]
        row["growth_vs_prev"] = row["build_map_ms"] / prev if prev else None
        prev = row["build_map_ms"]
        rows.append(row)
    return rows


def bench_data(quick: bool) -> dict[str, Any]:
    from torch.utils.data import DataLoader

    from ms2d.data.annotations import read_annotations
    from ms2d.data.dataset import MomentDataset, collate
    from ms2d.data.features import open_features
    from ms2d.data.simulate import SimConfig, simulate
    from ms2d.data.vocab import Vocab

    videos = 30 if quick else 300
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        simulate(tmp, SimConfig(num_videos_train=videos, num_videos_val=0, num_videos_test=0),
                 progress=False)
        sim_s = time.perf_counter() - t0
        queries = read_annotations("activitynet-captions", tmp, "train").queries
        store = open_features(Path(tmp) / "features.hdf5")
        try:
            vocab = Vocab.build(q.sentence for q in queries)
            ds = MomentDataset(queries, store, vocab, 25)
            loader = DataLoader(ds, batch_size=32, shuffle=True, collate_fn=collate, num_workers=0,
                                generator=torch.Generator().manual_seed(0))
            epochs = []
            for _ in range(2 if quick else 3):
                t0 = time.perf_counter()
                n = sum(len(batch["index"]) for batch in loader)
                epochs.append(time.perf_counter() - t0)
        finally:
            store.close()
    best = min(epochs[1:])
    return {"videos": videos, "pairs": n, "feature_dim": SimConfig().feature_dim, "batch": 32,
            "num_workers": 0, "simulate_s": sim_s, "first_epoch_s": epochs[0],
            "epoch_s": best, "pairs_per_s": n / best, "first_epoch_pairs_per_s": n / epochs[0]}


# -----------------------------------------------------------------------------------------------
# Profile of one training step, per stage
# -----------------------------------------------------------------------------------------------

# (attribute path, stage name, peak to compare against)
STAGES = [
    ("segments", "video encoder + resampling", "matmul"),
    ("build_maps", "map building", None),
    ("text", "text encoder (BiLSTM)", "matmul"),
    ("fusion", "fusion (Hadamard, 1x1 conv)", "matmul"),
    ("convs", "conv stack", "conv"),
    ("head", "score head", "matmul"),
    ("evaluate_moments", "candidate selection + gathers", None),
    ("caption", "caption module (LSTMs + vocab softmax)", "matmul"),
    ("appearance_moments", "appearance evidence (every candidate)", None),
    ("appearance", "appearance teacher (BiLSTM + MLP)", "matmul"),
]


def _stage_targets(model: MS2D) -> list[tuple[Any, str, str, str | None]]:
    """The stages this model has (the caption teacher's or the appearance teacher's)."""
    out = []
    for attr, name, peak in STAGES:
        if not hasattr(model, attr):
            continue
        obj = getattr(model, attr)
        if isinstance(obj, nn.ModuleList):
            out += [(m, "forward", name, peak) for m in obj]
        elif isinstance(obj, nn.Module):
            out.append((obj, "forward", name, peak))
        else:
            out.append((model, attr, name, peak))
    return out


@contextmanager
def wrapped_stages(model: MS2D, around: Callable[[str], Any]):
    """Runs every stage call of ``model`` inside the context manager ``around(stage name)``."""
    patched = []
    for obj, attr, name, _ in _stage_targets(model):
        fn = getattr(obj, attr)

        def call(*args, __fn=fn, __name=name, **kwargs):
            with around(__name):
                return __fn(*args, **kwargs)

        obj.__dict__[attr] = call
        patched.append((obj, attr))
    try:
        yield
    finally:
        for obj, attr in patched:
            del obj.__dict__[attr]


def stage_forward_flops(model: MS2D, step: Callable[[], Any]) -> dict[str, int]:
    """Forward FLOPs per (innermost) stage of one call of ``step``; LSTMs analytically."""
    totals: dict[str, int] = {}
    stack: list[dict[str, Any]] = []

    @contextmanager
    def around(name):
        entry = {"name": name, "nested": 0, "lstm": 0}
        stack.append(entry)
        # nested modes: the outer one counts too
        with FlopCounterMode(display=False, custom_mapping=FLOP_RULES) as fc:
            yield
        stack.pop()
        inclusive = int(fc.get_total_flops()) + entry["lstm"]
        totals[name] = totals.get(name, 0) + inclusive - entry["nested"]
        if stack:
            stack[-1]["nested"] += inclusive

    def lstm_sink(f: int) -> None:
        for entry in stack:
            entry["lstm"] += f

    with FlopCounterMode(display=False) as probe, wrapped_stages(model, around), \
            lstm_flop_hooks(model, lstm_sink, probe.get_total_flops):
        step()
    return totals


def _categorise(name: str) -> str:
    n = name.lower()
    if n.startswith(("stage::", "autograd::", "torch::autograd")) or n.endswith("backward0"):
        return "Python / autograd overhead"  # self time of annotations and autograd nodes
    if "conv" in n:
        return "convolutions"
    if "rnn" in n or "lstm" in n:
        return "LSTMs"
    if any(k in n for k in ("aten::mm", "aten::addmm", "aten::bmm", "aten::matmul", "aten::linear")):
        return "matmuls (linear layers)"
    if "softmax" in n or "nll_loss" in n or "cross_entropy" in n:
        return "log-softmax / NLL"
    if "bernoulli" in n or "dropout" in n:
        return "dropout"
    if any(k in n for k in ("index", "gather", "scatter", "copy_", "slice", "select", "cat",
                            "stack", "masked", "where", "clone", "contiguous")):
        return "indexing / copies"
    if any(k in n for k in ("adam", "_foreach", "norm", "lerp", "sqrt", "addcdiv", "addcmul")):
        return "optimizer / norms"
    return "other elementwise"


def profile_case(case: Case, device: torch.device, peaks: dict[str, Any]) -> dict[str, Any]:
    from torch.profiler import ProfilerActivity, profile, record_function

    cfg = case.config()
    model = make_model("ms2d", cfg, device)
    opt = make_optimizer(model, cfg.train.lr)
    batch = random_batch(case.batch, max(cfg.model.scales), case.feature_dim, device)
    fwd_flops = stage_forward_flops(model, make_step("ms2d", model, cfg, opt, batch))  # + warm-up

    def step():
        with record_function("stage::forward (loss, labels, glue)"):
            loss, _ = compute_loss(model, batch, cfg)
        opt.zero_grad(set_to_none=True)
        with record_function("stage::backward (other)"):
            loss.backward()
        with record_function("stage::optimizer (clip + Adam)"):
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
            opt.step()

    @contextmanager
    def around(name):
        with record_function(f"stage::{name}"):
            yield

    with wrapped_stages(model, around):
        t0 = time.perf_counter()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            step()
        wall = time.perf_counter() - t0
    events = [e for e in prof.events() if e.thread == threading_id(prof)]
    stages = [e for e in events if e.name.startswith("stage::")]
    fwd: dict[str, float] = {}
    for s in stages:  # exclusive time: minus the stages nested directly inside
        inner = [c for c in stages if c is not s and c.time_range.start >= s.time_range.start
                 and c.time_range.end <= s.time_range.end]
        direct = [c for c in inner if not any(o is not c and o.time_range.start <= c.time_range.start
                                              and o.time_range.end >= c.time_range.end for o in inner)]
        name = s.name[len("stage::"):]
        fwd[name] = fwd.get(name, 0.0) + (s.cpu_time_total - sum(c.cpu_time_total for c in direct)) / 1e3
    # backward: autograd nodes -> the stage whose forward op created them (sequence numbers)
    seq_stage: dict[int, str] = {}
    fwd_ranges = sorted(((s.time_range.start, s.time_range.end, s.name[7:]) for s in stages
                         if not s.name.startswith(("stage::backward", "stage::optimizer"))),
                        key=lambda r: r[1] - r[0])  # innermost first
    for e in events:
        if e.sequence_nr >= 0 and not e.name.startswith("autograd::") and e.sequence_nr not in seq_stage:
            for a, b, name in fwd_ranges:
                if a <= e.time_range.start <= b:
                    seq_stage[e.sequence_nr] = name
                    break
    bwd: dict[str, float] = {}
    bwd_total = 0.0
    for e in events:
        if e.name.startswith("autograd::engine::evaluate_function"):
            name = seq_stage.get(e.sequence_nr, "backward (other)")
            bwd[name] = bwd.get(name, 0.0) + e.cpu_time_total / 1e3
            bwd_total += e.cpu_time_total / 1e3
    bwd_key = "backward (other)"
    bwd_root = fwd.pop(bwd_key, 0.0)  # all of loss.backward(): nothing is nested in it
    bwd[bwd_key] = bwd.get(bwd_key, 0.0) + bwd_root - bwd_total
    total_ms = sum(fwd.values()) + sum(bwd.values())
    peak_of = {name: peak for _, name, peak in STAGES}
    conv_peak = peaks.get("conv", {}).get(case.name, {}).get("fwd_bwd_gflops_per_s")
    mm_peak = peaks.get("matmul", {}).get("gflops_per_s")
    rows = []
    for name in sorted(set(fwd) | set(bwd), key=lambda k: -(fwd.get(k, 0) + bwd.get(k, 0))):
        f_ms, b_ms = fwd.get(name, 0.0), bwd.get(name, 0.0)
        flops = 3 * fwd_flops.get(name, 0)
        gf = flops / ((f_ms + b_ms) / 1e3) / 1e9 if flops and f_ms + b_ms > 0 else None
        peak_kind = peak_of.get(name)
        peak = conv_peak if peak_kind == "conv" else mm_peak if peak_kind == "matmul" else None
        rows.append({"stage": name, "fwd_ms": f_ms, "bwd_ms": b_ms, "total_ms": f_ms + b_ms,
                     "share": (f_ms + b_ms) / total_ms if total_ms else None,
                     "flops_est": flops, "gflops_per_s": gf, "peak": peak_kind,
                     "frac_peak": gf / peak if gf and peak else None})
    cats: dict[str, float] = {}
    ops: dict[str, float] = {}
    for e in events:
        cat = _categorise(e.name)
        cats[cat] = cats.get(cat, 0.0) + e.self_cpu_time_total / 1e3
        ops[e.name] = ops.get(e.name, 0.0) + e.self_cpu_time_total / 1e3
    self_total = sum(cats.values())
    return {
        "config": case.name, "batch": case.batch, "note": case.note, "step_wall_s": wall,
        "profiled_ms": total_ms, "stages": rows,
        "op_categories": [{"category": k, "self_ms": v, "share": v / self_total}
                          for k, v in sorted(cats.items(), key=lambda kv: -kv[1])],
        "top_ops": [{"op": k, "self_ms": v} for k, v in sorted(ops.items(), key=lambda kv: -kv[1])[:12]],
        "flops_note": "forward FLOPs counted per stage (FlopCounterMode; LSTMs analytically), "
                      "backward taken as 2x forward",
    }


def profile_case_gpu(case: Case, device: torch.device, amp: bool, steps: int = 3
                     ) -> dict[str, Any]:
    """Where a GPU step's time goes: the kernels' device time over ``steps`` training steps
    (after two warm-up steps), per op category and the top ops, against the steps' wall time
    (their gap is launch and Python overhead)."""
    from torch.profiler import ProfilerActivity, profile

    cfg = case.config()
    model = make_model("ms2d", cfg, device)
    opt = make_optimizer(model, cfg.train.lr)
    step = make_step("ms2d", model, cfg, opt,
                     random_batch(case.batch, max(cfg.model.scales), case.feature_dim, device), amp)
    step()
    step()
    sync(device)
    t0 = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(steps):
            step()
        sync(device)
    wall_ms = (time.perf_counter() - t0) * 1e3 / steps
    cats: dict[str, float] = {}
    ops: dict[str, float] = {}
    from torch.autograd import DeviceType

    for e in prof.key_averages():
        # host-side ops only: a kernel's time is the self device time of the op that launched
        # it (the kernels' own entries would count it a second time, under their CUDA names)
        if e.device_type != DeviceType.CPU:
            continue
        dev_ms = getattr(e, "self_device_time_total", 0.0) / 1e3 / steps
        if dev_ms <= 0:
            continue
        cat = _categorise(e.key)
        cats[cat] = cats.get(cat, 0.0) + dev_ms
        ops[e.key] = ops.get(e.key, 0.0) + dev_ms
    busy = sum(cats.values())
    return {
        "config": case.name, "batch": case.batch, "note": case.note, "step_wall_ms": wall_ms,
        "device_busy_ms": busy, "device_busy_share": busy / wall_ms if wall_ms else None,
        "op_categories": [{"category": k, "self_ms": v, "share": v / busy}
                          for k, v in sorted(cats.items(), key=lambda kv: -kv[1])],
        "top_ops": [{"op": k, "self_ms": v} for k, v in sorted(ops.items(), key=lambda kv: -kv[1])[:15]],
        "note_gpu": "device (kernel) time per step under torch.profiler, by op; the step's wall "
                    "time minus the busy time is launch latency and Python overhead",
    }


def threading_id(prof) -> int:
    """The thread that ran the step (the one with the stage annotations)."""
    for e in prof.events():
        if e.name.startswith("stage::"):
            return e.thread
    return 0


# -----------------------------------------------------------------------------------------------
# Report
# -----------------------------------------------------------------------------------------------


def _f(x, fmt="{:.1f}", none="-") -> str:
    return none if x is None or (isinstance(x, float) and math.isnan(x)) else fmt.format(x)


def _loaded(row: dict[str, Any]) -> bool:
    """A CPU row measured while other processes took the cores. (A GPU row's CPU share is low
    by nature: the process waits for the GPU.)"""
    return not str(row.get("device", "cpu")).startswith("cuda") and row["cpu_share"] < LOW_SHARE


def table(res: dict[str, Any]) -> str:
    env = res["env"]
    lines = [f"ms2d benchmark: {env['device']} ({env['gpu'] or env['cpu_model']}), nproc "
             f"{env['nproc']}, torch {env['torch']}, {env['threads']} threads, load average "
             f"{env['loadavg_start']} -> {env.get('loadavg_end')}" + (" [QUICK]" if res["quick"] else "")
             + f"; precision {res.get('precision', 'fp32')}, ms2d conv_impl "
             f"{res.get('conv_impl', 'preset')}" + (", torch.compile" if res.get("compiled") else "")]
    p = res.get("peaks")
    if p:
        lines.append(f"\npeaks: matmul {p['matmul']['shape']}: {p['matmul']['gflops_per_s']:.1f} GFLOP/s")
        for name, c in p["conv"].items():
            lines.append(f"  conv2d {name:<14} C={c['channels']} k={c['kernel']} N={c['N']} "
                         f"B={c['batch']}: fwd {c['fwd_gflops_per_s']:.1f}, fwd+bwd "
                         f"{c['fwd_bwd_gflops_per_s']:.1f} GFLOP/s")
    tr = res.get("training")
    if tr:
        lines.append(f"\n{'config':<14} {'model':<13} {'N':>3} {'C':>4} {'L':>2} {'k':>2} {'B':>3} "
                     f"{'steps':>5} {'step s':>8} {'pairs/s':>8} {'GFLOP/step':>10} {'GFLOP/s':>8} "
                     f"{'%conv pk':>8} {'mem MB':>8} {'cpu':>5}")
        for r in tr:
            lines.append(f"{r['config']:<14} {r['model']:<13} {r['N']:>3} {r['hidden']:>4} "
                         f"{r['conv_layers']:>2} {r['kernel']:>2} {r['batch']:>3} {r['steps']:>5} "
                         f"{r['step_s']:>8.3f} {r['pairs_per_s']:>8.2f} "
                         f"{r['flops_per_step'] / 1e9:>10.1f} {r['achieved_gflops_per_s']:>8.1f} "
                         f"{_f(r['frac_conv_peak'] and 100 * r['frac_conv_peak']):>8} "
                         f"{r['peak_mem_mb']:>8.0f} {r['cpu_share']:>5.2f}"
                         + (" LOADED" if _loaded(r) else ""))
        if any(_loaded(r) for r in tr):
            lines.append(f"  LOADED: the process got under {LOW_SHARE:.0%} of the CPU time it asked "
                         "for (other processes, or it was stopped): that row is slowed down")
        notes = {r["config"]: r["note"] for r in tr}
        lines += [f"  {name}: {note}" for name, note in notes.items() if note]
        for r in tr:
            if r["model"] == "ms2d" and any(c["impl"] != "dense" for c in r["conv_cells"].values()):
                lines.append(f"  {r['config']}: ms2d conv per scale: " + ", ".join(
                    f"N={n} {c['impl']} ({100 * c['computed']:.0f} % of the dense cell-taps, "
                    f"{100 * c['candidates']:.0f} % candidates)" for n, c in r["conv_cells"].items()))
        for name, r in res.get("ratios", {}).items():
            lines.append(f"  {name}: ms2d / dense baseline pairs/s = {r['ratio']:.2f} "
                         f"(flops ratio {r['flops_ratio']:.2f})")
    lat = res.get("latency")
    if lat:
        lines.append("\ninference latency (Retriever.predict, one 128-clip video):")
        for r in lat:
            lines.append(f"  {r['preset']:<14} {r['queries']:>3} quer{'y' if r['queries'] == 1 else 'ies'}"
                         f": {r['total_ms']:9.1f} ms total, {r['ms_per_query']:8.1f} ms/query")
    mp = res.get("maps")
    if mp:
        lines.append(f"\nbuild_map (B={mp[0]['batch']}, d={mp[0]['channels']}):  N   fwd ms  "
                     "fwd+bwd ms  reference ms  x faster  growth  contrast fwd / fwd+bwd ms")
        for r in mp:
            lines.append(f"  {r['N']:>28} {r['build_map_ms']:8.2f} {r['build_map_fwd_bwd_ms']:11.2f} "
                         f"{r['reference_ms']:13.1f} {r['speedup_vs_reference']:9.1f} "
                         f"{_f(r['growth_vs_prev'], '{:.2f}')} "
                         f"{_f(r.get('contrast_ms'), '{:.2f}')} / "
                         f"{_f(r.get('contrast_fwd_bwd_ms'), '{:.2f}')}")
    d = res.get("data")
    if d:
        lines.append(f"\ndata loading: {d['pairs']} pairs ({d['videos']} simulated videos, HDF5, "
                     f"batch {d['batch']}, {d['num_workers']} workers): {d['pairs_per_s']:.0f} pairs/s "
                     f"(first epoch {d['first_epoch_pairs_per_s']:.0f} pairs/s)")
    for prof in res.get("profile", []):
        if "device_busy_ms" in prof:  # GPU: kernel time by op category
            lines.append(f"\nprofile {prof['config']} (batch {prof['batch']}): step "
                         f"{prof['step_wall_ms']:.1f} ms wall, kernels busy {prof['device_busy_ms']:.1f} ms")
            lines.append("  op categories (device time): " + ", ".join(
                f"{c['category']} {100 * c['share']:.0f}%" for c in prof["op_categories"]))
            lines.append("  top ops: " + ", ".join(
                f"{o['op']} {o['self_ms']:.1f} ms" for o in prof["top_ops"][:8]))
            continue
        lines.append(f"\nprofile {prof['config']} (batch {prof['batch']}), one step "
                     f"{prof['step_wall_s']:.2f} s under the profiler:")
        lines.append(f"  {'stage':<42} {'fwd ms':>9} {'bwd ms':>9} {'share':>6} {'GFLOP/s':>8} "
                     f"{'% peak':>7}")
        for s in prof["stages"]:
            lines.append(f"  {s['stage']:<42} {s['fwd_ms']:9.1f} {s['bwd_ms']:9.1f} "
                         f"{100 * s['share']:5.1f}% {_f(s['gflops_per_s']):>8} "
                         f"{_f(s['frac_peak'] and 100 * s['frac_peak']):>7}")
        lines.append("  op categories (self time): " + ", ".join(
            f"{c['category']} {100 * c['share']:.0f}%" for c in prof["op_categories"]))
    st = res.get("section_stats") or {}
    if st:
        lines.append("\nsections (wall s, CPU share, load average after): " + "; ".join(
            f"{k} {v['wall_s']:.0f} s, {v['cpu_share']:.2f}, {v['loadavg'] and v['loadavg'][0]}"
            for k, v in st.items()))
    lines.append(f"\nwall {res['wall_s']:.0f} s; CPU share of the run {res['cpu_share']:.2f} "
                 "(CPU time / (wall x threads); 1 = the cores were ours)")
    return "\n".join(lines)


# -----------------------------------------------------------------------------------------------
# Main
# -----------------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available")
    if args.threads:
        torch.set_num_threads(args.threads)
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise SystemExit(f"unknown sections {sorted(unknown)}; known: {', '.join(SECTIONS)}")
    quick = args.quick
    t_start, cpu_start = time.perf_counter(), time.process_time()
    res: dict[str, Any] = {"quick": quick, "sections": sections, "env": environment(device),
                           "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])}
    cases = training_cases(device, quick, args.paper_batch)
    if args.configs:
        wanted = [c.strip() for c in args.configs.split(",") if c.strip()]
        missing = set(wanted) - {c.name for c in cases}
        if missing:
            raise SystemExit(f"unknown --configs {sorted(missing)}; known: "
                             f"{', '.join(c.name for c in cases)}")
        cases = [c for c in cases if c.name in wanted]
    if args.conv_impl:  # ms2d's masked convolution (the dense baseline is always dense)
        for c in cases:
            c.overrides = {**c.overrides, "conv_impl": args.conv_impl}
    amp = args.precision == "bf16"
    if amp and device.type != "cuda":
        raise SystemExit("--precision bf16 is measured on GPUs only (training uses bf16 autocast "
                         "on GPUs only)")
    if args.precision == "tf32" and device.type != "cuda":
        raise SystemExit("--precision tf32: a CPU has no TF32; use fp32")
    res.update(precision=args.precision, conv_impl=args.conv_impl or "preset", compiled=args.compile)
    peak_dtype = torch.bfloat16 if amp else torch.float32
    # profiled: the configs asked for with --configs, else the two presets
    profile_cases = cases if args.configs else [c for c in cases
                                                if c.name in ("paper", "synthetic-cpu")]
    say = (lambda *a: None) if args.silent else (lambda *a: print(*a, file=sys.stderr, flush=True))
    res["section_stats"] = {}

    @contextmanager
    def section(name: str):
        """Wall time, CPU share and load of a section; the JSON so far is written after it
        (``"partial": true`` until the run ends), so an interrupted run keeps what it did."""
        say(f"{name} ...")
        w0, c0 = time.perf_counter(), time.process_time()
        yield
        res["section_stats"][name] = {"wall_s": time.perf_counter() - w0,
                                      "cpu_share": cpu_share(c0, w0), "loadavg": loadavg()}
        if args.json:
            Path(args.json).write_text(json.dumps({**res, "partial": True}, indent=2, default=str))

    peaks: dict[str, Any] = {}
    if "peaks" in sections or "training" in sections or "profile" in sections:
        with section("peaks"):
            min_s = 0.2 if quick else 1.0
            mm_n = 512 if quick else 2048 if device.type == "cpu" else 8192
            peaks["matmul"] = bench_matmul(mm_n, device, min_s, peak_dtype)
            peaks["conv"] = {}
            for c in cases:
                cfg = c.config().model
                n = max(cfg.scales)
                per_pair = conv_flops(1, cfg.hidden, cfg.kernel, n)
                # big shapes on a CPU: batch 1 is at peak; a GPU needs the training batch
                big = per_pair * c.batch >= 20e9 and device.type == "cpu"
                peaks["conv"][c.name] = bench_conv(cfg.hidden, cfg.kernel, n, 1 if big else c.batch,
                                                   device, min_s, peak_dtype)
            peaks["threads"] = torch.get_num_threads()
            res["peaks"] = peaks

    if "training" in sections:
        budget = 1.0 if quick else 15.0
        rows: list[dict[str, Any]] = []
        res["training"], res["ratios"] = rows, {}
        for c in cases:
            for kind in ("ms2d", "dense-2d-tan"):
                with section(f"training {c.name} {kind} (batch {c.batch})"):
                    rows.append(bench_training(c, kind, device, budget, peaks, amp, args.compile))
            a, b = rows[-2], rows[-1]
            res["ratios"][c.name] = {
                "ratio": a["pairs_per_s"] / b["pairs_per_s"],
                "flops_ratio": a["flops_per_step"] / b["flops_per_step"],
                "mem_ratio": a["peak_mem_mb"] / b["peak_mem_mb"] if b["peak_mem_mb"] > 0 else None}

    if "latency" in sections:
        with section("latency"):
            pq = [int(x) for x in args.paper_queries.split(",")] if args.paper_queries else None
            res["latency"] = bench_latency(device, quick, pq)

    if "maps" in sections:
        with section("maps"):
            res["maps"] = bench_maps(device, quick)

    if "data" in sections:
        with section("data"):
            res["data"] = bench_data(quick)

    if "profile" in sections:
        res["profile"] = []
        for c in profile_cases:
            with section(f"profile {c.name} (batch {c.batch})"):
                if device.type == "cpu":
                    res["profile"].append(profile_case(c, device, peaks))
                else:
                    res["profile"].append(profile_case_gpu(c, device, amp))
                _trim()

    res["env"]["loadavg_end"] = loadavg()
    res["wall_s"] = time.perf_counter() - t_start
    res["cpu_share"] = cpu_share(cpu_start, t_start)
    return res


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", default=None, metavar="FILE", help="write the results here")
    p.add_argument("--quick", action="store_true",
                   help="small widths, no paper preset: a smoke test (under a minute)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--sections", default=",".join(DEFAULT_SECTIONS),
                   help=f"comma-separated subset of {','.join(SECTIONS)} (default: all but profile)")
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (default: torch's)")
    p.add_argument("--paper-batch", type=int, default=None,
                   help="training batch of the paper preset (default 4 on CPU, 32 on GPU)")
    p.add_argument("--paper-queries", default=None,
                   help="query counts for the paper preset's latency (default 1,4 on CPU, 1,50 on GPU)")
    p.add_argument("--configs", default=None,
                   help="training/profile configurations to run (default all: paper, "
                        "synthetic-cpu, ref-n64-k9, ref-n16-k5)")
    p.add_argument("--precision", default="fp32", choices=["fp32", "tf32", "bf16"],
                   help="GPU: fp32 (TF32 off for matrix products and cuDNN), tf32, or bf16 "
                        "autocast (+ TF32); peaks are measured in the same precision")
    p.add_argument("--conv-impl", default=None, choices=["auto", "dense", "banded", "diagonal"],
                   help="ms2d's model.conv_impl (default: each preset's, i.e. auto)")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the conv stacks (and ms2d's caption module) of both models")
    p.add_argument("--silent", action="store_true", help="no progress lines on stderr")
    args = p.parse_args(argv)
    # TF32 on for tf32 and bf16 (the ops that autocast leaves in fp32), off for fp32: also for
    # the peaks, so that every fraction compares like with like
    with tf32_mode(torch.device(args.device), args.precision != "fp32"):
        res = run(args)
    print(table(res))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
