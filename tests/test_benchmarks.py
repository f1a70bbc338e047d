"""The fast paths equal the plain references, and the benchmark runs and reports what it should.

References (``benchmarks/reference.py``): the max-pooled map one cell at a time, 2D-TAN's
candidate mask built pooling by pooling, the caption module one candidate at a time.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ms2d.models.caption import CaptionModule
from ms2d.models.config import ModelConfig
from ms2d.models.maps import build_map, candidate_mask

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "benchmarks" / "run.py"
sys.path.insert(0, str(ROOT / "benchmarks"))  # benchmarks/ is no package
from reference import (  # noqa: E402  (benchmarks/reference.py)
    Dense2DTAN,
    build_map_reference,
    candidate_mask_reference,
    caption_nll_reference,
    count_renorm,
)


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _bench():
    name = "_ms2d_bench_run"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, RUN)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod  # dataclasses look their module up there
        spec.loader.exec_module(mod)
    return sys.modules[name]


# --- maps -----------------------------------------------------------------------------------


@pytest.mark.parametrize("b,n,d", [(1, 1, 3), (2, 2, 4), (3, 7, 5), (2, 16, 8), (1, 33, 4)])
def test_build_map_matches_reference(b, n, d):
    seq = torch.randn(b, n, d, generator=torch.Generator().manual_seed(n))
    fast, ref = build_map(seq), build_map_reference(seq)
    assert fast.shape == (b, d, n, n)
    assert torch.allclose(fast, ref)
    assert torch.all(fast.tril(-1) == 0)


def test_build_map_gradient_matches_reference():
    seq = torch.randn(2, 9, 4, generator=torch.Generator().manual_seed(0))
    w = torch.randn(2, 4, 9, 9, generator=torch.Generator().manual_seed(1))
    grads = []
    for fn in (build_map, build_map_reference):
        x = seq.clone().requires_grad_(True)
        (fn(x) * w).sum().backward()
        grads.append(x.grad)
    assert torch.allclose(grads[0], grads[1])


@pytest.mark.parametrize("dense_until", [16, 8, 4, 2])
def test_candidate_mask_matches_reference(dense_until):
    for n in range(1, 140):
        ref = candidate_mask_reference(n, dense_until)
        assert torch.equal(candidate_mask(n, dense_until), ref), (n, dense_until)


def test_candidate_mask_reference_is_2dtan_sparse_sampling():
    # N=64, dense up to 16 segments: offsets 0-15 at every start, 17, 19 .. 31 at even starts,
    # 35, 39 .. 63 at multiples of 4 (the 2D-TAN paper's ActivityNet setting)
    m = candidate_mask_reference(64, 16)
    for x in range(64):
        for y in range(64):
            k = y - x
            want = (0 <= k < 16 or (16 <= k < 32 and x % 2 == 0 and k % 2 == 1)
                    or (32 <= k < 64 and x % 4 == 0 and k % 4 == 3))
            assert bool(m[x, y]) == want, (x, y)
    assert torch.equal(candidate_mask_reference(12, 16), torch.ones(12, 12, dtype=torch.bool).triu())


# --- caption module ---------------------------------------------------------------------------


@pytest.mark.parametrize("fusion", ["concat", "product"])
def test_batched_caption_matches_per_candidate(fusion):
    torch.manual_seed(0)
    cfg = ModelConfig(hidden=12, word_dim=10, caption_hidden=14, vocab_size=40,
                      caption_fusion=fusion)
    emb = torch.nn.Embedding(cfg.vocab_size, cfg.word_dim, padding_idx=0)
    cap = CaptionModule(cfg, emb).eval()
    b, c, length = 3, 7, 6
    inputs = torch.randint(5, 40, (b, length))
    targets = torch.randint(5, 40, (b, length))
    targets[0, 4:] = 0  # padding costs nothing
    inputs[0, 5:] = 0
    cand = torch.randn(b, c, cfg.hidden)
    with torch.no_grad():
        fast = cap(inputs, targets, cand)
        ref = caption_nll_reference(cap, inputs, targets, cand)
    assert fast.shape == (b, c)
    assert torch.allclose(fast, ref, rtol=1e-5, atol=1e-5)


def test_model_candidate_features_reach_caption_per_candidate():
    """MS2D's batched moments evaluation equals calling the caption module per candidate."""
    from ms2d.models import MS2D

    torch.manual_seed(0)
    cfg = ModelConfig(feature_dim=8, hidden=8, word_dim=8, caption_hidden=8, vocab_size=30,
                      text_layers=1, scales=(8, 4), conv_layers=1, top_k=3, explore=0,
                      word_mask=0.0, caption_input="visual_mean")
    model = MS2D(cfg).eval()
    feats, lengths = torch.randn(2, 8, 8), torch.tensor([8, 6])
    words, wl = torch.randint(5, 30, (2, 5)), torch.tensor([5, 4])
    words[1, 4:] = 0
    with torch.no_grad():
        out = model(feats, lengths, words, wl, captions=True)
        seqs = model.segments(feats, lengths)
        from ms2d.models.ms2d import span_mean

        cand = torch.cat([span_mean(s, i) for s, i in zip(seqs, out["cand_index"])], 1)
        inputs, targets = model.caption_io(words, wl)
        ref = caption_nll_reference(model.caption, inputs, targets, cand)
    assert torch.allclose(torch.cat(out["evidence"], 1), ref, rtol=1e-5, atol=1e-5)


# --- the dense baseline -----------------------------------------------------------------------


def test_count_renorm_is_mask_by_count():
    mask = candidate_mask(8, 16)[None, None].float()
    weight, grown = count_renorm(mask, 3)
    # cell (0, 0): valid neighbours under a 3x3 kernel are (0,0), (0,1), (1,1)
    assert weight[0, 0, 0, 0] == pytest.approx(1 / 3)
    # cell (2, 3): 3x3 - 1 valid neighbours ((3, 2) lies below the diagonal); (2, 5): all 9
    assert weight[0, 0, 2, 3] == pytest.approx(1 / 8)
    assert weight[0, 0, 2, 5] == pytest.approx(1 / 9)
    # the mask grows by the kernel's reach: (2, 0) touches (1, 1), (3, 0) touches nothing
    assert grown[0, 0, 2, 0] == 1 and grown[0, 0, 3, 0] == 0


def test_dense_baseline_trains():
    bench = _bench()
    cfg = ModelConfig(feature_dim=8, hidden=8, word_dim=8, vocab_size=30, text_layers=1,
                      scales=(20, 8), conv_layers=2, kernel=3)
    model = Dense2DTAN(cfg).train()
    batch = bench.random_batch(2, 20, 8, torch.device("cpu"))
    batch["words"] = batch["words"] % 25 + 5
    loss = model.loss(batch)
    loss.backward()
    assert torch.isfinite(loss)
    assert model.convs[0].weight.grad.abs().sum() > 0


# --- the benchmark script ---------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::UserWarning")  # oneDNN TF32 notice from mkldnn.flags
def test_lstm_flops_match_flop_counter_without_mkldnn():
    """The analytic LSTM FLOPs equal what FlopCounterMode counts when the LSTM runs as mm ops."""
    bench = _bench()
    lstm = torch.nn.LSTM(6, 5, num_layers=2, bidirectional=True, batch_first=True)
    x = torch.randn(3, 4, 6)
    from torch.utils.flop_counter import FlopCounterMode

    with torch.backends.mkldnn.flags(enabled=False), FlopCounterMode(display=False) as fc:
        lstm(x)
    counted = fc.get_total_flops()
    if counted == 0:
        pytest.skip("this torch build runs the LSTM in one kernel even without mkldnn")
    assert bench.lstm_forward_flops(lstm, 12) == pytest.approx(counted, rel=0.01)


def test_flop_rules_count_bf16_products_with_float32_sums():
    """The diagonal convolution under bf16 autocast on a GPU multiplies with
    ``addmm(out_dtype=float32, out=...)``, on which torch's own FLOP rule fails; the benchmark's
    rule counts it (shapes only: meta tensors, so no GPU is needed)."""
    bench = _bench()
    from torch.utils.flop_counter import FlopCounterMode

    a = torch.empty(64, 32, dtype=torch.bfloat16, device="meta")
    b = torch.empty(32, 16, dtype=torch.bfloat16, device="meta")
    acc = torch.empty(64, 16, device="meta")
    with FlopCounterMode(display=False, custom_mapping=bench.FLOP_RULES) as fc:
        torch.addmm(acc, a, b, out_dtype=torch.float32, out=acc)
        torch.addmm(acc, a.float(), b.float(), out=acc)
        torch.mm(a, b, out_dtype=torch.float32, out=acc)
    assert fc.get_total_flops() == 3 * 2 * 64 * 32 * 16


def test_mixed_products_probe_runs_outside_dispatch_modes():
    """The once-per-device probe runs outside dispatch modes (and autocast): its cached answer
    must not depend on where the first layer happened to run (the GPU's first bf16 runs probed
    under autocast and FlopCounterMode, failed there, and cached False)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    from ms2d.ops.diagonal import mixed_products

    seen = []

    class Recorder(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            seen.append(func)
            return func(*args, **(kwargs or {}))

    mixed_products.cache_clear()
    try:
        with Recorder(), torch.autocast("cpu", dtype=torch.bfloat16):
            torch.ones(1) + 1  # the mode is live
            assert seen
            seen.clear()
            assert mixed_products("cpu", torch.bfloat16) is False  # no CPU kernel
        assert seen == []  # the probe's ops ran outside the mode
    finally:
        mixed_products.cache_clear()


def test_profile_stages_cover_the_step():
    bench = _bench()
    case = bench.Case("tiny", "synthetic-cpu", {"hidden": 16, "word_dim": 16, "caption_hidden": 16,
                                                "conv_layers": 1, "text_layers": 1}, 12, 2, 2)
    prof = bench.profile_case(case, torch.device("cpu"), {})
    names = {s["stage"] for s in prof["stages"]}
    for want in ("conv stack", "map building", "text encoder (BiLSTM)",
                 "appearance teacher (BiLSTM + MLP)", "optimizer (clip + Adam)"):
        assert want in names
    paper = bench.Case("tiny-paper", "synthetic-cpu-paper", dict(case.overrides), 12, 2, 2)
    names = {s["stage"] for s in bench.profile_case(paper, torch.device("cpu"), {})["stages"]}
    assert "caption module (LSTMs + vocab softmax)" in names
    assert sum(s["share"] for s in prof["stages"]) == pytest.approx(1.0)
    conv = next(s for s in prof["stages"] if s["stage"] == "conv stack")
    assert conv["flops_est"] > 0 and conv["bwd_ms"] > 0
    cats = {c["category"] for c in prof["op_categories"]}
    assert {"convolutions", "LSTMs"} <= cats


@pytest.mark.slow
def test_quick_benchmark_writes_expected_keys(tmp_path):
    out = tmp_path / "bench.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(RUN), "--quick", "--json", str(out), "--silent"],
                          capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "pairs/s" in proc.stdout
    res = json.loads(out.read_text())
    assert res["quick"] is True
    for key in ("env", "peaks", "training", "ratios", "latency", "maps", "data", "wall_s"):
        assert key in res, key
    env_ = res["env"]
    for key in ("nproc", "cpu_model", "torch", "threads", "loadavg_start", "loadavg_end"):
        assert key in env_, key
    assert res["peaks"]["matmul"]["gflops_per_s"] > 0
    assert res["peaks"]["threads"] >= 1
    configs = {"synthetic-cpu", "ref-n64-k9", "ref-n16-k5"}
    assert set(res["peaks"]["conv"]) == configs
    assert all(c["fwd_bwd_gflops_per_s"] > 0 for c in res["peaks"]["conv"].values())
    rows = res["training"]
    assert {(r["config"], r["model"]) for r in rows} == {
        (c, m) for c in configs for m in ("ms2d", "dense-2d-tan")}
    for r in rows:
        assert r["pairs_per_s"] > 0 and r["flops_per_step"] > 0 and r["peak_mem_mb"] is not None
        assert 0 < r["frac_conv_peak"] < 10
    assert {r["N"] for r in rows if r["config"] == "ref-n64-k9"} == {64}
    assert set(res["ratios"]) == configs and all(v["ratio"] > 0 for v in res["ratios"].values())
    assert {r["queries"] for r in res["latency"]} == {1, 50}
    assert [r["N"] for r in res["maps"]] == [8, 16, 32, 64, 128]
    assert all(r["build_map_ms"] > 0 and r["reference_ms"] > 0 and r["contrast_fwd_bwd_ms"] > 0
               for r in res["maps"])
    assert res["data"]["pairs_per_s"] > 0 and res["data"]["pairs"] > 0


def test_conv_impls_benchmark_writes_rows(tmp_path):
    out = tmp_path / "conv.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "conv_impls.py"),
                           "--cases", "20:3:4:1", "--threads", "1", "--json", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    row = json.loads(out.read_text())["rows"][0]
    assert set(row["impls"]) == {"dense", "banded", "diagonal", "diagonal-tapmajor"}
    assert row["impls"]["dense"]["work"] == 1.0 and row["impls"]["dense"]["speedup"] == 1.0
    assert all(r["ms"] > 0 and r["gflops_per_s"] > 0 for r in row["impls"].values())


def test_diagonal_parts_times_every_part(tmp_path):
    out = tmp_path / "parts.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "diagonal_parts.py"),
                           "--case", "40:5:8:2", "--reps", "1", "--peak-seconds", "0.1", "--threads", "1",
                           "--json", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(out.read_text())
    assert res["slab_rows"] > 0 and res["pairs"] > 0  # N=40 has cells off the band
    names = [r["part"] for r in res["parts"]]
    for part in ("slabs", "pairs"):
        for which in ("forward", "input gradient", "weight gradient"):
            assert f"{part} {which}" in names
    assert any(n.startswith("rows_conv_backward") for n in names)
    assert all(r["ms"] > 0 and r["gflops_per_s"] > 0 and r["frac_conv_peak"] > 0 for r in res["parts"])


def test_step_times_prints_every_step_and_rejects_unknown_configs():
    script = str(ROOT / "benchmarks" / "step_times.py")
    proc = subprocess.run([sys.executable, script, "--config", "synthetic-cpu", "--steps", "3",
                           "--threads", "1"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert [ln.split(":")[0] for ln in lines[1:4]] == ["step 1", "step 2", "step 3"]
    assert lines[-1].startswith("steps 3-3: median")
    bad = subprocess.run([sys.executable, script, "--config", "nope"], capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode != 0 and "known: paper" in bad.stderr


def test_benchmark_precision_and_conv_impl_switches(tmp_path):
    out = tmp_path / "bench.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    base = [sys.executable, str(RUN), "--quick", "--silent", "--sections", "training",
            "--configs", "ref-n64-k9"]
    proc = subprocess.run([*base, "--precision", "tf32"], capture_output=True, text=True,
                          timeout=120, env=env, cwd=ROOT)
    assert proc.returncode != 0 and "a CPU has no TF32" in proc.stderr
    proc = subprocess.run([*base, "--conv-impl", "dense", "--json", str(out)], capture_output=True,
                          text=True, timeout=120, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["precision"] == "fp32" and res["conv_impl"] == "dense" and not res["compiled"]
    ms2d = next(r for r in res["training"] if r["model"] == "ms2d")
    assert ms2d["conv_cells"]["64"]["impl"] == "dense"  # auto would run the diagonal conv here
    assert ms2d["amp_bf16"] is False and ms2d["compile_s"] is None
