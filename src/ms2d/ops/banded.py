"""Banded convolution: a 2D convolution evaluated only where the candidate mask needs it.

The masked conv stack zeroes every cell outside the candidate mask after each layer, so only the
outputs on valid cells matter. With 2D-TAN's sparse sampling those are a minority of the map
(27 % at N=64: a dense band along the diagonal plus strided cells further out), and a dense
convolution spends most of its FLOPs on cells that are thrown away.

:func:`plan_banded` splits the valid cells, once per (mask, kernel), into

- **strips**: ``h`` consecutive rows times a contiguous column interval, chosen per strip to cover
  the columns where the strip is dense (a maximum-sum interval over per-column weights
  ``valid_cells * cell_cost - h``), then widened to the widest strip so that all strips share one
  shape. They are gathered with their halo from the zero-padded map and run as one batched
  stride-1 ``conv2d`` (the fast path of the conv libraries; strided or tiny convolutions were
  measured at 10-50 % of the peak). Strip outputs off the mask go to a discarded slot;
- **cells**: every remaining valid cell, computed as one ``im2col`` matrix product.

:func:`banded_conv2d` runs a plan. Its backward recomputes the gathers instead of keeping them,
so the memory it holds between forward and backward is the input map and the weight, as for a
dense convolution. Outputs outside the mask are zero; on valid cells the result equals
``F.conv2d(x, weight, padding=kernel // 2)`` up to floating-point summation order (tested).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import torch
import torch.nn.functional as F

from .plans import cached_plan, mask_from_key

#: How many strip cells one im2col cell is worth when the plan chooses each strip's columns. The
#: im2col product runs at ~140 GFLOP/s vs ~175 for strip convolutions (512 channels, kernel 9,
#: 2 CPU threads) and pays its gathers per cell; a sweep over {1.25, 2, 4} x strip heights
#: {4, 8, 16} at N=64 was fastest at 4 and 8 (docs/performance.md).
CELL_COST = 4.0
#: Rows per strip.
STRIP_H = 8


@dataclass(frozen=True)
class BandedPlan:
    """Where to compute a banded convolution of one ``[n, n]`` mask (see the module docstring).

    All strips share one shape ``strip_h x strip_w``; strips that would cross the right or bottom
    edge of the map write into a canvas of ``rows x cols >= n x n`` that is cropped afterwards,
    so that every strip runs in the same batched convolution.
    """

    n: int
    kernel: int
    strip_h: int
    strip_w: int
    rows: int  # canvas rows
    cols: int  # canvas cols
    strip_in: torch.Tensor  # [S * (h+k-1) * (w+k-1)] flat indices into the padded canvas
    strip_out: torch.Tensor  # [S * h * w] flat canvas indices; rows * cols (trash) off the mask
    cell_out: torch.Tensor  # [M] flat canvas indices of the cells computed as im2col
    cell_in: torch.Tensor  # [M * k * k] flat indices into the padded canvas

    @property
    def strips(self) -> int:
        return self.strip_out.numel() // max(1, self.strip_h * self.strip_w)

    @property
    def strip_cells(self) -> int:
        return int(self.strip_out.numel())

    @property
    def computed_cells(self) -> int:
        return self.strip_cells + int(self.cell_out.numel())

    @property
    def work(self) -> float:
        """Computed cells (strips + im2col) over the ``n * n`` cells of the dense convolution."""
        return self.computed_cells / (self.n * self.n)

    def to(self, device: torch.device | str) -> BandedPlan:
        return replace(self, **{f: getattr(self, f).to(device)
                                for f in ("strip_in", "strip_out", "cell_out", "cell_in")})


def _best_interval(weights: list[float]) -> tuple[int, int] | None:
    """Maximum-sum contiguous interval ``[lo, hi]`` of ``weights``; None if all are negative."""
    best, best_lo, best_hi = 0.0, -1, -1
    run, lo = 0.0, 0
    for i, w in enumerate(weights):
        if run <= 0:
            run, lo = 0.0, i
        run += w
        if run > best:
            best, best_lo, best_hi = run, lo, i
    return None if best_hi < 0 else (best_lo, best_hi)


def _plan(mask: torch.Tensor, kernel: int, strip_h: int, cell_cost: float = CELL_COST) -> BandedPlan:
    n = mask.shape[0]
    k, p = kernel, kernel // 2
    spans = {}
    for r0 in range(0, n, strip_h):
        rows = mask[r0 : r0 + strip_h]
        span = _best_interval([c * cell_cost - strip_h for c in rows.sum(0).tolist()])
        if span is not None:
            spans[r0] = span
    w = max((c1 - c0 + 1 for c0, c1 in spans.values()), default=0)
    origins = []
    for r0, (c0, c1) in spans.items():  # widen to w where it covers the most valid cells
        counts = mask[r0 : r0 + strip_h].sum(0)
        starts = range(max(0, c1 - w + 1), c0 + 1)
        origins.append((r0, max(starts, key=lambda s: (int(counts[s : s + w].sum()), -s))))
    rows = -(-n // strip_h) * strip_h
    cols = max([n] + [c + w for _, c in origins])
    width = cols + 2 * p
    covered = torch.zeros(rows, cols, dtype=torch.bool)
    for r0, c0 in origins:
        covered[r0 : r0 + strip_h, c0 : c0 + w] = True
    o = torch.tensor(origins, dtype=torch.long).reshape(-1, 2)
    ri, ci = torch.arange(strip_h + k - 1), torch.arange(w + k - 1)
    strip_in = (o[:, 0, None, None] + ri[:, None]) * width + o[:, 1, None, None] + ci
    ro, co = torch.arange(strip_h), torch.arange(w)
    sr, sc = o[:, 0, None, None] + ro[:, None], o[:, 1, None, None] + co
    valid = torch.zeros(rows, cols, dtype=torch.bool)
    valid[:n, :n] = mask
    # strip outputs on cells outside the mask go to one extra "trash" slot of the canvas
    strip_out = torch.where(valid[sr, sc], sr * cols + sc, rows * cols)
    rest = (mask & ~covered[:n, :n]).nonzero()
    ki = torch.arange(k)
    cell_in = (rest[:, 0, None, None] + ki[:, None]) * width + rest[:, 1, None, None] + ki
    return BandedPlan(n, k, strip_h, w, rows, cols, strip_in.flatten(), strip_out.flatten(),
                      rest[:, 0] * cols + rest[:, 1], cell_in.flatten())


@lru_cache(maxsize=64)
def _plan_cpu(mask_key: bytes, n: int, kernel: int, strip_h: int) -> BandedPlan:
    return _plan(mask_from_key(mask_key, n), kernel, strip_h)


def plan_banded(mask: torch.Tensor, kernel: int, strip_h: int = STRIP_H) -> BandedPlan:
    """The cached plan for a bool ``[n, n]`` mask and an odd ``kernel`` (indices on mask's device)."""
    return cached_plan(_plan_cpu, "the banded convolution", mask, kernel, strip_h)


def _tiles(xp: torch.Tensor, plan: BandedPlan) -> torch.Tensor:
    """Gather the strips with their halo: ``[B, C, P] -> [B * S, C, h+k-1, w+k-1]``."""
    b, c = xp.shape[:2]
    hi, wi = plan.strip_h + plan.kernel - 1, plan.strip_w + plan.kernel - 1
    t = xp.index_select(2, plan.strip_in).view(b, c, plan.strips, hi, wi)
    return t.transpose(1, 2).reshape(b * plan.strips, c, hi, wi)


def _cols(xp: torch.Tensor, plan: BandedPlan) -> torch.Tensor:
    """im2col of the leftover cells: ``[B, C, P] -> [B * M, C * k * k]``."""
    b, c = xp.shape[:2]
    m = plan.cell_out.numel()
    t = xp.index_select(2, plan.cell_in).view(b, c, m, plan.kernel * plan.kernel)
    return t.transpose(1, 2).reshape(b * m, c * plan.kernel * plan.kernel)


def _pad(x: torch.Tensor, plan: BandedPlan, halo: int) -> torch.Tensor:
    """``[B, C, n, n]`` -> the zero-padded canvas ``[B, C, (rows+2*halo) * (cols+2*halo)]``."""
    n = plan.n
    return F.pad(x, (halo, halo + plan.cols - n, halo, halo + plan.rows - n)).flatten(2)


def _grad_canvas(grad: torch.Tensor, plan: BandedPlan) -> torch.Tensor:
    """The output gradient on the canvas, with the trash slot (gradient 0) appended."""
    g = _pad(grad, plan, 0)
    return torch.cat([g, g.new_zeros(*g.shape[:2], 1)], 2)


def _conv_cells(x: torch.Tensor, weight: torch.Tensor, plan: BandedPlan) -> torch.Tensor:
    """The convolution on the plan's cells (zeros elsewhere), without autograd bookkeeping."""
    b, _, n, _ = x.shape
    co = weight.shape[0]
    xp = _pad(x, plan, plan.kernel // 2)
    parts = []  # (flat canvas indices, values [B, Co, cells]); bf16 under autocast
    if plan.strips:
        y = F.conv2d(_tiles(xp, plan), weight)  # [B*S, Co, h, w]
        parts.append((plan.strip_out, y.view(b, plan.strips, co, -1).transpose(1, 2).reshape(b, co, -1)))
    if plan.cell_out.numel():
        y = _cols(xp, plan) @ weight.reshape(co, -1).t()  # [B*M, Co]
        parts.append((plan.cell_out, y.view(b, -1, co).transpose(1, 2)))
    dtype = parts[0][1].dtype if parts else x.dtype
    out = x.new_zeros(b, co, plan.rows * plan.cols + 1, dtype=dtype)  # + the trash slot
    for index, y in parts:
        out.index_copy_(2, index, y.to(dtype))
    out = out[:, :, :-1].view(b, co, plan.rows, plan.cols)
    return out[:, :, :n, :n].contiguous()


class _Banded(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, plan: BandedPlan) -> torch.Tensor:
        ctx.plan = plan
        ctx.save_for_backward(x, weight)
        return _conv_cells(x, weight, plan)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        # Recomputes the gathers instead of saving them: the memory kept for the backward is the
        # input and the weight, as for a dense convolution.
        x, weight = ctx.saved_tensors
        plan: BandedPlan = ctx.plan
        b, ci, n, _ = x.shape
        k, p = plan.kernel, plan.kernel // 2
        co = weight.shape[0]
        dtype = grad.dtype  # bf16 under autocast: recompute the gathers in the forward's dtype
        xp = _pad(x, plan, p).to(dtype)
        w = weight.to(dtype)
        gflat = _grad_canvas(grad, plan)
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        dxp = torch.zeros_like(xp) if need_x else None
        dw = torch.zeros_like(w) if need_w else None
        if plan.strips:
            s, h, wd = plan.strips, plan.strip_h, plan.strip_w
            gy = gflat.index_select(2, plan.strip_out).view(b, co, s, h, wd)
            gy = gy.transpose(1, 2).reshape(b * s, co, h, wd)
            d_in, d_w, _ = torch.ops.aten.convolution_backward(
                gy, _tiles(xp, plan), w, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1,
                [need_x, need_w, False])
            if need_x:
                dxp.index_add_(2, plan.strip_in, d_in.view(b, s, ci, -1).transpose(1, 2).reshape(b, ci, -1))
            if need_w:
                dw += d_w
        if plan.cell_out.numel():
            gy = gflat.index_select(2, plan.cell_out).transpose(1, 2).reshape(-1, co)  # [B*M, Co]
            if need_w:
                dw += (gy.t() @ _cols(xp, plan)).view_as(w)
            if need_x:
                dcols = (gy @ w.reshape(co, -1)).view(b, -1, ci, k * k).transpose(1, 2)
                dxp.index_add_(2, plan.cell_in, dcols.reshape(b, ci, -1))
        dx = None
        if need_x:
            dx = dxp.view(b, ci, plan.rows + 2 * p, plan.cols + 2 * p)[:, :, p : p + n, p : p + n]
            dx = dx.to(x.dtype)
        return dx, (dw.to(weight.dtype) if need_w else None), None


def banded_conv2d(x: torch.Tensor, weight: torch.Tensor, mask: torch.Tensor,
                  plan: BandedPlan | None = None) -> torch.Tensor:
    """``F.conv2d(x, weight, padding=k//2)`` on the cells of ``mask`` (bool ``[n, n]``), 0 elsewhere.

    ``x [B, C, n, n]``, ``weight [Co, C, k, k]`` with odd ``k``; no bias (add it outside).
    Outputs off the mask are constant zeros (no gradient flows through them).
    """
    if x.dim() != 4 or x.shape[-1] != x.shape[-2] or tuple(mask.shape) != tuple(x.shape[-2:]):
        raise ValueError(f"banded_conv2d: x {tuple(x.shape)} does not match mask {tuple(mask.shape)}")
    plan = plan or plan_banded(mask, weight.shape[-1])
    return _Banded.apply(x.contiguous(), weight, plan)


__all__ = ["BandedPlan", "CELL_COST", "banded_conv2d", "plan_banded"]
