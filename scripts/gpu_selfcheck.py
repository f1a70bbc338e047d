"""Correctness on a GPU before anything is timed there (``scripts/gpu_check.sh`` runs it).

1. The sparse masked convolutions (banded, diagonal) equal the dense one on CUDA, values and
   both gradients (the input's on the mask), in float64, for 2D-TAN masks N = 16, 24, 64 and kernels 3, 5, 9.
2. One ms2d training step (weak supervision; dropout, word masking and exploration off) gives
   the same loss and gradients on CUDA (fp32, TF32 off) as on the CPU, for each conv_impl.
3. ``conv_impl=auto`` picks what docs/performance.md measured on this device.
4. The same step under bf16 autocast is finite and its loss within 5 % of the fp32 one.
5. Under bf16 autocast the diagonal convolution multiplies bf16 operands into float32 sums where
   this torch can (``mixed_products``): values and gradients within bf16's error of fp32's.

Prints one line per check and exits 1 if any fails. Usage: ``python scripts/gpu_selfcheck.py [cuda|cpu]``.
"""

from __future__ import annotations

import sys

import torch

from ms2d.config import resolve
from ms2d.models import MS2D, model_config
from ms2d.models.maps import candidate_mask
from ms2d.objective import compute_loss
from ms2d.ops import conv_plan_for, masked_conv
from ms2d.train.runtime import autocast, tf32_mode

failures: list[str] = []


def check(name: str, ok: bool, detail: str) -> None:
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}", flush=True)
    if not ok:
        failures.append(name)


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).norm() / b.double().norm().clamp(min=1e-30))


def conv_checks(dev: torch.device) -> None:
    for n, k in [(16, 5), (24, 3), (64, 5), (64, 9)]:
        mask = candidate_mask(n).to(dev)
        g = torch.Generator(device="cpu").manual_seed(n * 10 + k)
        x0 = torch.randn(2, 8, n, n, generator=g, dtype=torch.float64).to(dev) * mask
        w0 = torch.randn(8, 8, k, k, generator=g, dtype=torch.float64).to(dev)
        gy = torch.randn(2, 8, n, n, generator=g, dtype=torch.float64).to(dev) * mask
        outs = {}
        for impl in ("dense", "banded", "diagonal"):
            x, w = x0.clone().requires_grad_(), w0.clone().requires_grad_()
            y = masked_conv(x, w, mask, conv_plan_for(impl, mask, k)) * mask
            y.backward(gy)
            outs[impl] = (y.detach(), x.grad * mask, w.grad)  # x is zero off the mask: its
            # gradient there is never used (the layer before is masked too)
        for impl in ("banded", "diagonal"):
            err = max(rel(a, b) for a, b in zip(outs[impl], outs["dense"]))
            check(f"conv {impl} N={n} k={k} (cuda fp64)", err < 1e-10, f"max rel err {err:.1e}")


def bf16_conv_checks(dev: torch.device) -> None:
    from ms2d.ops.diagonal import mixed_products

    mixed = dev.type == "cuda" and mixed_products("cuda", torch.bfloat16)
    print(f"     bf16 operands with float32 sums (addmm out_dtype) on {dev.type}: {mixed}")
    for n, k in [(64, 5), (64, 9)]:
        mask = candidate_mask(n).to(dev)
        g = torch.Generator(device="cpu").manual_seed(n + k)
        x0 = (torch.randn(4, 64, n, n, generator=g).to(dev) * mask)
        w0 = torch.randn(64, 64, k, k, generator=g).to(dev) / (8 * k)
        gy = torch.randn(4, 64, n, n, generator=g).to(dev) * mask
        outs = {}
        for amp in (False, True):
            x, w = x0.clone().requires_grad_(), w0.clone().requires_grad_()
            with tf32_mode(dev, False), autocast(dev, amp):
                y = masked_conv(x, w, mask, conv_plan_for("diagonal", mask, k)) * mask
            y.backward(gy)
            outs[amp] = (y.detach().float(), x.grad * mask, w.grad)
        errs = [rel(a, b) for a, b in zip(outs[True], outs[False])]
        ok = max(errs) < 2e-2 and (not mixed or min(errs) > 1e-5) and outs[True][0].dtype == torch.float32
        check(f"conv diagonal N={n} k={k} bf16 autocast vs fp32", ok,
              "rel err out/dx/dw " + " / ".join(f"{e:.1e}" for e in errs))


def auto_checks(dev: torch.device) -> None:
    """``conv_impl=auto`` on this device: diagonal at N=64 (fp32/TF32); dense for 5x5 kernels
    under bf16 autocast on a GPU, diagonal for 9x9 (the measured rule)."""
    from ms2d.ops.diagonal import DiagonalPlan

    mask = candidate_mask(64).to(dev)
    got = {(k, bf16): isinstance(conv_plan_for("auto", mask, k, bf16=bf16), DiagonalPlan)
           for k in (5, 9) for bf16 in (False, True)}
    want = {(5, False): True, (9, False): True, (5, True): dev.type != "cuda", (9, True): True}
    check("conv_impl=auto rule", got == want, f"diagonal at (kernel, bf16): {got}")


def step_grads(model: MS2D, cfg, batch: dict, amp: bool = False):
    model.zero_grad(set_to_none=True)
    torch.manual_seed(0)
    with autocast(batch["feats"].device, amp):
        loss, _ = compute_loss(model, batch, cfg)
    loss.backward()
    return loss.detach().float().cpu(), {k: p.grad.float().cpu() for k, p in model.named_parameters()
                                         if p.grad is not None}


def step_checks(dev: torch.device) -> None:
    g = torch.Generator().manual_seed(0)
    b, t = 4, 64
    batch = {"feats": torch.randn(b, t, 32, generator=g), "lengths": torch.full((b,), t),
             "words": torch.randint(5, 100, (b, 8), generator=g),
             "word_lengths": torch.tensor([8, 7, 5, 8]), "duration": torch.full((b,), 30.0),
             "window": torch.tensor([[1.0, 5.0]] * b), "index": torch.arange(b)}
    # [64]: one N=64 map, whose conv stack stores its weights tap-major (TapMajorConv2d) where
    # the diagonal convolution runs
    for impl, scales in [("dense", [64, 16, 4]), ("diagonal", [64, 16, 4]), ("banded", [64, 16, 4]),
                         ("auto", [64])]:
        over = {"model.hidden": 32, "model.word_dim": 16, "model.caption_hidden": 32,
                "model.scales": scales, "model.conv_layers": 2, "model.kernel": 5,
                "model.dropout": 0.0, "model.word_mask": 0.0, "model.explore": 0,
                "model.conv_impl": impl}
        cfg = resolve("paper", over)
        cfg.model = model_config(cfg.train.model, cfg.model, feature_dim=32, vocab_size=100)
        torch.manual_seed(0)
        cpu_model = MS2D(cfg.model)
        gpu_model = MS2D(cfg.model)
        gpu_model.load_state_dict(cpu_model.state_dict())
        gpu_model.to(dev)
        l_cpu, g_cpu = step_grads(cpu_model, cfg, batch)
        gb = {k: v.to(dev) for k, v in batch.items()}
        with tf32_mode(dev, False):
            l_gpu, g_gpu = step_grads(gpu_model, cfg, gb)
        err = max(rel(g_gpu[k], g_cpu[k]) for k in g_cpu)
        name = f"{impl} {scales}"
        check(f"train step {name} cuda fp32 vs cpu", abs(float(l_gpu - l_cpu)) < 1e-4 * abs(float(l_cpu)) + 1e-5
              and err < 1e-3 and set(g_gpu) == set(g_cpu),
              f"loss {float(l_cpu):.6f} / {float(l_gpu):.6f}, max rel grad err {err:.1e}")
        with tf32_mode(dev, True):
            l_bf, g_bf = step_grads(gpu_model, cfg, gb, amp=True)
        finite = bool(torch.isfinite(l_bf)) and all(bool(torch.isfinite(v).all()) for v in g_bf.values())
        check(f"train step {name} cuda bf16 autocast", finite and abs(float(l_bf - l_cpu)) < 0.05 * abs(float(l_cpu)),
              f"loss {float(l_bf):.6f} (fp32 {float(l_cpu):.6f}), finite {finite}")


def main() -> int:
    dev = torch.device(sys.argv[1] if len(sys.argv) > 1 else "cuda")  # "cpu": a dry run of the script
    if dev.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: nothing to check")
        return 1
    print(f"{torch.cuda.get_device_name(dev) if dev.type == 'cuda' else 'cpu'}, torch {torch.__version__}")
    conv_checks(dev)
    bf16_conv_checks(dev)
    auto_checks(dev)
    step_checks(dev)
    print("all checks passed" if not failures else f"{len(failures)} check(s) FAILED: {failures}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
