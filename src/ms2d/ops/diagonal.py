"""Diagonal convolution: a masked 2D convolution as in-place matrix products on sheared rows.

A 2D-TAN candidate mask is a band of full diagonals (every moment of up to ``dense_until``
segments, at every start) plus sparse cells further from the diagonal. In the sheared
coordinates ``(d, i) = (end - start, start)`` the band is a rectangle, and a kernel tap
``(di, dj)`` maps cell ``(i, d)`` to ``(i + di, d + dj - di)``: a *constant* row offset once every
diagonal is stored as a row block of the same pitch ``P = n + k // 2``. So, with the map
held as rows ``[R, B, C]`` (one row per cell, channels last), the band-to-band part of the
convolution is, for each of the ``k * k`` taps, one in-place matrix product over a contiguous
slab of rows::

    Y[o : o + L] += X[o + shift_t : o + shift_t + L] @ W_t        (W_t: [C_in, C_out])

with no gather and no im2col, and only the diagonals the tap connects inside the band. Pairs of
cells that involve a sparse (off-band) cell are few (5.8k of 63k at N=64, k=9): one gather for
all of them, one product per tap, one ``index_add_``.

The computed work is the sum of the slab lengths plus those pairs: 23 % of the dense
convolution's cell-taps at N=64, k=9 (the banded strips of :mod:`ms2d.ops.banded`: 38 %). The
rows past each diagonal's end cost the rest (17 % of the band's rows at N=64): they hold zeros,
so a tap that reads past the end of a diagonal, or before its start, reads a zero.

Semantics, as for :func:`ms2d.ops.banded.banded_conv2d`: the input is read on the mask's cells
only (it is taken as zero elsewhere, and gets no gradient there), the output equals
``F.conv2d(x * mask, weight, padding=k // 2)`` on the mask's cells up to floating-point summation
order and is a constant zero elsewhere. The backward is the transpose of every product (no
saved gathers: the memory held is the input, the weight and its tap-major copy). Under autocast
the result is float32; the products run in float32 (TF32 on a GPU where it is on), or, on a GPU
whose torch multiplies bf16 operands into a float32 result in place (:func:`mixed_products`),
on bf16 operands with float32 sums, as a bf16 cuDNN convolution does.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, replace
from functools import lru_cache

import torch

from .plans import cached_plan, mask_from_key, renorm_map


@dataclass(frozen=True)
class DiagonalPlan:
    """Where the rows of one ``[n, n]`` mask live and which products a kernel needs.

    Rows: ``k//2`` margin rows, then ``band`` diagonals of ``pitch = n + k//2`` rows each (cell
    ``(i, i+d)`` at ``k//2 + d*pitch + i``; the ``d + k//2`` rows after the diagonal's ``n - d``
    cells are zero, so taps that read up to ``k//2`` cells past either end of a diagonal read
    zeros), ``k//2`` margin rows, then one row per off-band valid cell, then one always-zero row
    (where off-mask cells read).
    """

    n: int
    kernel: int
    band: int  # leading diagonals that are entirely on the mask
    pitch: int
    rows: int
    cell_of_row: torch.Tensor  # [rows] flat cell index (padding rows: 0, masked by valid_rows)
    row_of_cell: torch.Tensor  # [n * n] row index; off-mask cells: rows - 1 (always zero)
    valid_rows: torch.Tensor  # [rows] float 1/0
    slabs: tuple[tuple[int, int, int, int], ...]  # (tap, out row, in row, length)
    pair_taps: tuple[tuple[int, int, int], ...]  # (tap, start, stop) into pair_out / pair_in
    pair_out: torch.Tensor  # [M] output rows of the off-band pairs
    pair_in: torch.Tensor  # [M] input rows
    renorm_rows: torch.Tensor  # [rows] the partial-convolution rescaling (plans.renorm_map) per row

    def row_mask(self, dtype: torch.dtype) -> torch.Tensor:
        """``[R, 1, 1]``: 1 on the rows of the mask's cells, 0 on the padding rows (multiplies
        rows ``[R, B, C]``)."""
        return self.valid_rows.to(dtype)[:, None, None]

    @property
    def slab_rows(self) -> int:
        return sum(s[3] for s in self.slabs)

    @property
    def pairs(self) -> int:
        return int(self.pair_out.numel())

    @property
    def work(self) -> float:
        """Computed (row, tap) products over the ``n * n * k * k`` of the dense convolution."""
        return (self.slab_rows + self.pairs) / (self.n * self.n * self.kernel * self.kernel)

    def to(self, device: torch.device | str) -> DiagonalPlan:
        return replace(self, **{f: getattr(self, f).to(device) for f in
                                ("cell_of_row", "row_of_cell", "valid_rows", "pair_out", "pair_in",
                                 "renorm_rows")})


def _full_diagonals(mask: torch.Tensor) -> int:
    n = mask.shape[0]
    d = 0
    while d < n and bool(torch.diagonal(mask, d).all()):
        d += 1
    return d


def _plan(mask: torch.Tensor, kernel: int) -> DiagonalPlan:
    n, r = mask.shape[0], kernel // 2
    pitch = n + r
    band = _full_diagonals(mask)
    band_rows = band * pitch + 2 * r
    cells = mask.nonzero()  # [V, 2] (start, end)
    diag = cells[:, 1] - cells[:, 0]
    in_band = (diag >= 0) & (diag < band)
    off = (~in_band).nonzero().flatten()
    row = torch.empty(len(cells), dtype=torch.long)
    row[in_band] = r + diag[in_band] * pitch + cells[in_band, 0]
    row[off] = band_rows + torch.arange(len(off))
    rows = band_rows + len(off) + 1
    flat = cells[:, 0] * n + cells[:, 1]
    cell_of_row = torch.zeros(rows, dtype=torch.long)
    cell_of_row[row] = flat
    valid_rows = torch.zeros(rows)
    valid_rows[row] = 1.0
    row_of_cell = torch.full((n * n,), rows - 1, dtype=torch.long)
    row_of_cell[flat] = row
    grid = torch.full((n, n), -1, dtype=torch.long)  # row of each valid cell, -1 elsewhere
    grid[cells[:, 0], cells[:, 1]] = row

    slabs, pair_taps, outs, ins = [], [], [], []
    start = 0
    for a in range(kernel):
        for b in range(kernel):
            t, di, dj = a * kernel + b, a - r, b - r
            dd = dj - di
            d0, d1 = max(0, -dd), min(band - 1, band - 1 - dd)
            if d0 <= d1:
                o = r + d0 * pitch
                slabs.append((t, o, o + dd * pitch + di, (d1 - d0 + 1) * pitch))
            si, sj = cells[:, 0] + di, cells[:, 1] + dj
            inside = (si >= 0) & (si < n) & (sj >= 0) & (sj < n)
            src = torch.where(inside, grid[si.clamp(0, n - 1), sj.clamp(0, n - 1)], -1)
            src_band = (sj - si >= 0) & (sj - si < band)
            keep = (src >= 0) & ~(in_band & src_band)  # pairs the band slabs do not cover
            if keep.any():
                outs.append(row[keep])
                ins.append(src[keep])
                pair_taps.append((t, start, start + int(keep.sum())))
                start += int(keep.sum())
    empty = torch.zeros(0, dtype=torch.long)
    renorm_rows = renorm_map(mask, kernel).reshape(-1)[cell_of_row] * valid_rows
    return DiagonalPlan(n, kernel, band, pitch, rows, cell_of_row, row_of_cell, valid_rows,
                        tuple(slabs), tuple(pair_taps),
                        torch.cat(outs) if outs else empty, torch.cat(ins) if ins else empty,
                        renorm_rows)


@lru_cache(maxsize=64)
def _plan_cpu(mask_key: bytes, n: int, kernel: int) -> DiagonalPlan:
    return _plan(mask_from_key(mask_key, n), kernel)


def plan_diagonal(mask: torch.Tensor, kernel: int) -> DiagonalPlan:
    """The cached plan for a bool ``[n, n]`` mask and an odd ``kernel`` (tensors on mask's device)."""
    return cached_plan(_plan_cpu, "the diagonal convolution", mask, kernel)


def to_rows(x: torch.Tensor, plan: DiagonalPlan) -> torch.Tensor:
    """``[B, C, n, n]`` -> rows ``[R, B, C]`` (padding rows zero)."""
    b, c = x.shape[:2]
    cells = x.reshape(b, c, -1).permute(2, 0, 1)  # a view when x came from from_rows
    return cells.index_select(0, plan.cell_of_row) * plan.row_mask(x.dtype)


def from_rows(y: torch.Tensor, plan: DiagonalPlan) -> torch.Tensor:
    """Rows ``[R, B, C]`` (zero on padding rows) -> ``[B, C, n, n]``, zero off the mask.

    The result is a channels-innermost view, so the next layer's :func:`to_rows` needs no copy.
    """
    return y.index_select(0, plan.row_of_cell).permute(1, 2, 0).unflatten(2, (plan.n, plan.n))


#: Channels per block when the weight is transposed to and from tap-major order: a plain
#: ``permute(...).contiguous()`` of a 512x512x9x9 weight takes ~80 ms on a 2-core CPU, blocks of
#: 8 input channels (that stay in cache) ~28 ms.
_PERMUTE_BLOCK = 8


def _is_tap_major(weight: torch.Tensor) -> bool:
    return weight.permute(2, 3, 1, 0).is_contiguous()


class TapMajorConv2d(torch.nn.Module):
    """A stride-1, same-padded ``nn.Conv2d`` whose weight is stored tap-major: the parameter
    ``weight_taps [k*k, Ci, Co]`` (contiguous, so optimizers and DDP see a plain tensor), and
    ``weight`` its ``[Co, Ci, k, k]`` view. The diagonal convolution takes each tap's ``[Ci, Co]``
    matrix from that view and returns the weight gradient in its strides, so neither the weight
    nor its gradient is reordered (2 x 85 MB per layer and step at 512 channels, 9x9). A dense
    convolution still accepts the view (it copies it). ``state_dict`` holds ``weight`` in the
    standard layout, as ``nn.Conv2d``'s, so checkpoints do not depend on the storage."""

    def __init__(self, conv: torch.nn.Conv2d) -> None:
        super().__init__()
        co, ci, k, k2 = conv.weight.shape
        if k != k2 or conv.stride != (1, 1) or conv.padding != (k // 2, k // 2) or conv.groups != 1:
            raise ValueError("TapMajorConv2d: a square, stride-1, same-padded, ungrouped conv only")
        self.kernel, self.in_channels, self.out_channels = k, ci, co
        self.weight_taps = torch.nn.Parameter(_weight_taps(conv.weight.detach()).clone())
        self.bias = conv.bias
        self._register_state_dict_hook(TapMajorConv2d._standard_weight)
        self._register_load_state_dict_pre_hook(self._tap_major_weight)

    @property
    def weight(self) -> torch.Tensor:
        k = self.kernel
        return self.weight_taps.view(k, k, self.in_channels, self.out_channels).permute(3, 2, 0, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.conv2d(x, self.weight, self.bias, padding=self.kernel // 2)

    @staticmethod
    def _standard_weight(module, state_dict, prefix, local_metadata):
        taps = state_dict.pop(prefix + "weight_taps")
        k = module.kernel
        state_dict[prefix + "weight"] = _weight_from_taps(taps, k)
        return state_dict

    def _tap_major_weight(self, state_dict, prefix, *args):
        if prefix + "weight" in state_dict:
            state_dict[prefix + "weight_taps"] = _weight_taps(state_dict.pop(prefix + "weight"))


def _weight_taps(weight: torch.Tensor) -> torch.Tensor:
    """``[Co, Ci, k, k]`` -> ``[k*k, Ci, Co]``: ``W_t`` such that ``out_row += in_row @ W_t``
    (a view of a tap-major weight, else a reordered copy)."""
    co, ci, k, _ = weight.shape
    if _is_tap_major(weight):
        return weight.permute(2, 3, 1, 0).reshape(k * k, ci, co)
    return _swap_outer(weight.reshape(co, ci, k * k))


def _swap_outer(t: torch.Tensor) -> torch.Tensor:
    """``[a, b, c]`` -> a contiguous ``[c, b, a]`` (``t.permute(2, 1, 0)``), copied in blocks of
    :data:`_PERMUTE_BLOCK` along ``b`` (the middle, input-channel axis) that stay in cache."""
    out = t.new_empty(t.shape[2], t.shape[1], t.shape[0])
    for c in range(0, t.shape[1], _PERMUTE_BLOCK):
        out[:, c : c + _PERMUTE_BLOCK].copy_(t[:, c : c + _PERMUTE_BLOCK].permute(2, 1, 0))
    return out


def _weight_from_taps(wt: torch.Tensor, k: int, tap_major: bool = False) -> torch.Tensor:
    """Inverse of :func:`_weight_taps`: ``[k*k, Ci, Co]`` -> ``[Co, Ci, k, k]``; with
    ``tap_major``, a view in the strides of a tap-major weight (no copy)."""
    _, ci, co = wt.shape
    if tap_major:
        return wt.view(k, k, ci, co).permute(3, 2, 0, 1)
    return _swap_outer(wt).view(co, ci, k, k)


def _acc_mm(out: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> None:
    """``out += a @ b`` in place. Spelt ``addmm(out=...)`` rather than ``addmm_`` so that FLOP
    counters (``torch.utils.flop_counter``, which has no rule for ``addmm_``) see it. Operands
    of a lower precision than ``out`` (bf16 under autocast on a GPU) are multiplied into it at
    ``out``'s precision (``out_dtype``: cuBLAS accumulates in float32 and adds in place)."""
    if a.dtype == out.dtype:
        torch.addmm(out, a, b, out=out)
    else:
        torch.addmm(out, a, b, out_dtype=out.dtype, out=out)


def _mm(out: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> None:
    """``out = a @ b`` (operands may be of a lower precision than ``out``, as in :func:`_acc_mm`)."""
    if a.dtype == out.dtype:
        torch.mm(a, b, out=out)
    else:
        torch.mm(a, b, out_dtype=out.dtype, out=out)


def _no_dispatch_modes():
    try:
        from torch.utils._python_dispatch import _disable_current_modes
    except ImportError:  # a torch without it: probe under whatever modes are active
        return nullcontext()
    return _disable_current_modes()


@lru_cache(maxsize=8)
def mixed_products(device_type: str, dtype: torch.dtype) -> bool:
    """Whether this torch multiplies ``dtype`` matrices into a float32 result in place on this
    device (``torch.addmm(..., out_dtype=torch.float32, out=...)``: CUDA, torch >= 2.8; not on
    CPUs). Checked once per device type and dtype with a 2x2 product, outside autocast and
    outside any dispatch mode: the first check can come from a layer's forward under autocast,
    which refuses ``out=``, or under ``torch.utils.flop_counter.FlopCounterMode``, whose rule for
    ``addmm`` fails on ``out_dtype`` (torch 2.11-2.13; ``benchmarks/run.py`` counts with a rule
    that takes it)."""
    try:
        with _no_dispatch_modes(), torch.autocast(device_type, enabled=False):
            a = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=dtype, device=device_type)
            acc = torch.ones(2, 2, device=device_type)
            torch.addmm(acc, a, a, out_dtype=torch.float32, out=acc)  # 1 + a @ a
            out = torch.empty(2, 2, device=device_type)
            torch.mm(a.t(), a, out_dtype=torch.float32, out=out)  # a transposed operand
        want = torch.tensor([[8.0, 11.0, 10.0, 14.0], [16.0, 23.0, 14.0, 20.0]])
        return acc.dtype == torch.float32 and bool((torch.cat([acc, out], 1).cpu() == want).all())
    except (RuntimeError, TypeError, NotImplementedError):
        return False


def rows_conv(x: torch.Tensor, wt: torch.Tensor, plan: DiagonalPlan,
              acc_dtype: torch.dtype | None = None) -> torch.Tensor:
    """The convolution on rows: ``x [R, B, Ci]``, ``wt [k*k, Ci, Co]`` -> ``[R, B, Co]``.
    ``acc_dtype``: the result's dtype where it is above the operands' (bf16 operands, float32
    sums; see :func:`mixed_products`); default ``x.dtype``."""
    r, b, ci = x.shape
    co = wt.shape[2]
    y = x.new_zeros(r, b, co, dtype=acc_dtype or x.dtype)
    x2, y2 = x.view(r * b, ci), y.view(r * b, co)
    for t, o, i, n in plan.slabs:
        _acc_mm(y2[o * b : (o + n) * b], x2[i * b : (i + n) * b], wt[t])
    if plan.pair_taps:  # one gather and one scatter for all taps' off-band pairs
        src = x.index_select(0, plan.pair_in).view(-1, ci)
        out = y.new_empty(src.shape[0], co)
        for t, lo, hi in plan.pair_taps:
            _mm(out[lo * b : hi * b], src[lo * b : hi * b], wt[t])
        y.index_add_(0, plan.pair_out, out.view(-1, b, co))
    return y.mul_(plan.row_mask(y.dtype))


def rows_conv_backward(x: torch.Tensor, wt: torch.Tensor, g: torch.Tensor, plan: DiagonalPlan,
                       need_x: bool = True, need_w: bool = True,
                       acc_dtype: torch.dtype | None = None):
    """Gradients of :func:`rows_conv` for the output gradient ``g [R, B, Co]``: every product
    transposed. Returns ``(dx [R, B, Ci] or None, dwt [k*k, Ci, Co] or None)``, both in
    ``acc_dtype`` (default ``x.dtype``; ``g`` is cast to ``x``'s dtype for the products)."""
    r, b, ci = x.shape
    co = wt.shape[2]
    acc = acc_dtype or x.dtype
    g = (g * plan.row_mask(g.dtype)).to(x.dtype)  # the forward zeroed the padding rows
    x2, g2 = x.view(r * b, ci), g.view(r * b, co)
    dx = torch.zeros_like(x, dtype=acc) if need_x else None
    # the weight gradient is not zero-filled: each tap's first product writes it (a fill of
    # 85 MB per layer and step at 512 channels, 9x9, most of it page faults on a fresh buffer)
    dwt = torch.empty_like(wt, dtype=acc) if need_w else None
    written: set[int] = set()

    def acc_w(t: int, a: torch.Tensor, b_: torch.Tensor) -> None:
        if t in written:
            _acc_mm(dwt[t], a, b_)
        else:
            _mm(dwt[t], a, b_)
            written.add(t)

    dx2 = dx.view(r * b, ci) if need_x else None
    for t, o, i, n in plan.slabs:
        gs = g2[o * b : (o + n) * b]
        if need_x:
            _acc_mm(dx2[i * b : (i + n) * b], gs, wt[t].t())
        if need_w:
            acc_w(t, x2[i * b : (i + n) * b].t(), gs)
    if plan.pair_taps:
        gp = g.index_select(0, plan.pair_out).view(-1, co)
        xp = x.index_select(0, plan.pair_in).view(-1, ci) if need_w else None
        dxp = gp.new_empty(gp.shape[0], ci, dtype=acc) if need_x else None
        for t, lo, hi in plan.pair_taps:
            gs = gp[lo * b : hi * b]
            if need_x:
                _mm(dxp[lo * b : hi * b], gs, wt[t].t())
            if need_w:
                acc_w(t, xp[lo * b : hi * b].t(), gs)
        if need_x:
            dx.index_add_(0, plan.pair_in, dxp.view(-1, b, ci))
    if need_w:
        for t in set(range(wt.shape[0])) - written:  # taps that connect no pair of cells
            dwt[t].zero_()
    if need_x:
        dx.mul_(plan.row_mask(dx.dtype))
    return dx, dwt


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    """float64 stays float64 (gradient checks); everything else runs in float32."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def autocast_on(device_type: str) -> bool:
    """Whether autocast is on for this device type (on torch < 2.4: CUDA's)."""
    try:
        return torch.is_autocast_enabled(device_type)
    except TypeError:  # torch < 2.4: CUDA's autocast only
        return torch.is_autocast_enabled()


def _operand_dtype(x: torch.Tensor, acc: torch.dtype) -> torch.dtype:
    """The products' operand dtype: the autocast dtype (bf16) inside autocast on a GPU whose torch
    has in-place mixed-precision products (:func:`mixed_products`), else ``acc``."""
    dev = x.device.type
    if acc != torch.float32 or dev != "cuda" or not autocast_on(dev):
        return acc
    try:
        low = torch.get_autocast_dtype(dev)
    except (AttributeError, TypeError):  # torch < 2.4, which has no mixed products either
        return acc
    return low if low in (torch.bfloat16, torch.float16) and mixed_products(dev, low) else acc


def _conv_rows(ctx, xr: torch.Tensor, weight: torch.Tensor, plan: DiagonalPlan) -> torch.Tensor:
    """The forward of both autograd functions: rows ``xr [R, B, C]`` (any float dtype) -> rows
    in the compute dtype (float32 for everything but float64, also under autocast, where the
    products' operands may be bf16: :func:`_operand_dtype`); saves what the backward needs."""
    ctx.plan = plan
    acc = _compute_dtype(xr)
    op = _operand_dtype(xr, acc)
    ctx.acc = acc
    with torch.autocast(xr.device.type, enabled=False):
        xo = xr.to(op)
        wt = _weight_taps(weight.to(op))
        # the tap-major weight is kept for the backward (one reorder less per layer and step
        # where the weight is stored in the standard layout; a view where it is tap-major)
        ctx.save_for_backward(xo, weight, wt)
        return rows_conv(xo, wt, plan, acc)


def _conv_rows_backward(ctx, grad_rows: torch.Tensor):
    """``(dx rows or None, dweight or None)`` for the output gradient's rows."""
    xo, weight, wt = ctx.saved_tensors
    need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
    with torch.autocast(grad_rows.device.type, enabled=False):
        dx, dwt = rows_conv_backward(xo, wt, grad_rows, ctx.plan, need_x, need_w, ctx.acc)
    dw = None
    if need_w:
        dw = _weight_from_taps(dwt, weight.shape[-1], _is_tap_major(weight)).to(weight.dtype)
    return dx, dw


class _Diagonal(torch.autograd.Function):
    """On maps ``[B, C, n, n]``: converts to rows and back inside (no autograd graph for it)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, plan: DiagonalPlan) -> torch.Tensor:
        ctx.x_dtype = x.dtype
        return from_rows(_conv_rows(ctx, to_rows(x, plan), weight, plan), plan)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        dx, dw = _conv_rows_backward(ctx, to_rows(grad, ctx.plan))
        if dx is not None:
            dx = from_rows(dx, ctx.plan).to(ctx.x_dtype)
        return dx, dw, None


class _DiagonalRows(torch.autograd.Function):
    """On rows ``[R, B, C]``: a stack of layers converts the map to rows once."""

    @staticmethod
    def forward(ctx, xr: torch.Tensor, weight: torch.Tensor, plan: DiagonalPlan) -> torch.Tensor:
        ctx.x_dtype = xr.dtype
        return _conv_rows(ctx, xr, weight, plan)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        dx, dw = _conv_rows_backward(ctx, grad)
        return (None if dx is None else dx.to(ctx.x_dtype)), dw, None


def diagonal_conv2d(x: torch.Tensor, weight: torch.Tensor, mask: torch.Tensor,
                    plan: DiagonalPlan | None = None) -> torch.Tensor:
    """``F.conv2d(x * mask, weight, padding=k//2) * mask`` (bool ``mask [n, n]``), computed on
    the mask's cells only (see the module docstring). ``x [B, C, n, n]``, ``weight [Co, C, k, k]``
    with odd ``k``; no bias (add it outside). A float32 result (float64 for float64 input), also
    under autocast."""
    if x.dim() != 4 or x.shape[-1] != x.shape[-2] or tuple(mask.shape) != tuple(x.shape[-2:]):
        raise ValueError(f"diagonal_conv2d: x {tuple(x.shape)} does not match mask {tuple(mask.shape)}")
    plan = plan or plan_diagonal(mask, weight.shape[-1])
    return _Diagonal.apply(x, weight, plan)


def diagonal_conv_rows(xr: torch.Tensor, weight: torch.Tensor, plan: DiagonalPlan) -> torch.Tensor:
    """:func:`diagonal_conv2d` on rows: ``xr [R, B, C]`` (from :func:`to_rows`; zero on the
    padding rows) -> rows ``[R, B, Co]``, zero on the padding rows. For a stack of layers: convert
    the map once with :func:`to_rows`, run the layers (and anything per cell) on rows, and convert
    back once with :func:`from_rows`, instead of two full-map gathers per layer."""
    if xr.dim() != 3 or xr.shape[0] != plan.rows:
        raise ValueError(f"diagonal_conv_rows: rows {tuple(xr.shape)} do not match the plan's "
                         f"{plan.rows} rows")
    return _DiagonalRows.apply(xr, weight, plan)


__all__ = ["DiagonalPlan", "diagonal_conv2d", "diagonal_conv_rows", "from_rows", "mixed_products",
           "plan_diagonal", "rows_conv", "rows_conv_backward", "TapMajorConv2d", "to_rows"]
