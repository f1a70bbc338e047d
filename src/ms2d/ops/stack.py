"""A stack of masked 2D convolutions: a map in, a map out, computed by the plan ``conv_impl``
chooses for its mask (dense, :mod:`~ms2d.ops.banded` or :mod:`~ms2d.ops.diagonal`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .banded import BandedPlan, banded_conv2d, plan_banded
from .diagonal import (
    DiagonalPlan,
    TapMajorConv2d,
    autocast_on,
    diagonal_conv2d,
    diagonal_conv_rows,
    from_rows,
    plan_diagonal,
    to_rows,
)
from .plans import renorm_factor

#: ``conv_impl="auto"`` runs a sparse convolution where it computes at most this share of the
#: dense convolution's cell-taps.
AUTO_MAX_WORK = 0.5
#: Under bf16 autocast on a GPU, ``auto`` keeps kernels smaller than this dense: cuDNN's bf16
#: convolution runs 5x5 layers at ~600-690 TFLOP/s on an H100, and the diagonal convolution
#: (fp32 or bf16 products alike) was 0.57-1.28x of it; at 9x9 cuDNN's bf16 backward is slow and
#: the diagonal one is 8.5-9.8x faster (docs/performance.md).
AUTO_BF16_MIN_KERNEL = 9

CONV_IMPLS = ("auto", "dense", "banded", "diagonal")

#: A conv plan: where a masked convolution computes (None: everywhere, the dense convolution).
ConvPlan = BandedPlan | DiagonalPlan | None


def check_conv_impl(impl: str) -> None:
    if impl not in CONV_IMPLS:
        raise ValueError(f"unknown conv_impl {impl!r}: 'auto', 'dense', 'banded' or 'diagonal'")


def conv_plan_for(impl: str, mask: torch.Tensor, kernel: int, bf16: bool = False) -> ConvPlan:
    """The plan ``conv_impl`` (``"dense"``, ``"banded"``, ``"diagonal"`` or ``"auto"``) convolves
    with on this mask: a :class:`~ms2d.ops.diagonal.DiagonalPlan`, a
    :class:`~ms2d.ops.banded.BandedPlan`, or None for the dense convolution.

    ``"auto"`` picks the diagonal convolution (on a CPU or a CUDA GPU) where it computes at
    most :data:`AUTO_MAX_WORK` of the dense convolution's cell-taps (large sparse maps such as
    N=64: 23-25 %); small maps (N <= 24: 66 % or more) stay dense. ``bf16``: the layer runs
    under bf16 autocast on a GPU, where kernels under :data:`AUTO_BF16_MIN_KERNEL` stay dense.
    Measured on a 2-core CPU and an H100 (docs/performance.md).
    """
    check_conv_impl(impl)
    if impl == "dense":
        return None
    if impl == "banded":
        return plan_banded(mask, kernel)
    if impl == "diagonal":
        return plan_diagonal(mask, kernel)
    if mask.device.type not in ("cpu", "cuda") or kernel % 2 == 0:
        return None
    if bf16 and mask.device.type == "cuda" and kernel < AUTO_BF16_MIN_KERNEL:
        return None
    plan = plan_diagonal(mask, kernel)
    return plan if plan.work <= AUTO_MAX_WORK else None


def masked_conv(x: torch.Tensor, weight: torch.Tensor, mask: torch.Tensor, plan: ConvPlan) -> torch.Tensor:
    """One masked layer without bias: ``conv2d(x, weight, padding=k//2)`` on the mask's cells
    (``x`` must be zero off the mask), by the plan's method."""
    if isinstance(plan, DiagonalPlan):
        return diagonal_conv2d(x, weight, mask, plan)
    if isinstance(plan, BandedPlan):
        return banded_conv2d(x, weight, mask, plan)
    return F.conv2d(x, weight, None, padding=weight.shape[-1] // 2)


def _bf16_autocast(device: torch.device) -> bool:
    """True inside bf16 autocast on a GPU."""
    if device.type != "cuda" or not autocast_on("cuda"):
        return False
    try:
        return torch.get_autocast_dtype("cuda") == torch.bfloat16
    except (AttributeError, TypeError):  # torch < 2.4: ms2d's autocast is bf16
        return True


@dataclass(frozen=True)
class PerCell:
    """A step that maps each cell's channels on their own (1x1 convolutions, products with a
    per-query vector, norms over channels), written for both layouts a stack may hold a map in,
    so that :meth:`MaskedConvStack.run_after` runs it in the stack's layout (on the mask's cells
    only where the stack computes only those). The stack zeroes its output off the mask.

    ``on_map``: ``[B, C, N, N] -> [B, C', N, N]``; ``on_cells``: ``[R, B, C] -> [R, B, C']``
    (one row per cell, channels last).
    """

    on_map: Callable[[torch.Tensor], torch.Tensor]
    on_cells: Callable[[torch.Tensor], torch.Tensor]


#: ``MaskedConvStack.forward``'s default: plan the convolution from the mask.
_PLAN = object()


class MaskedConvStack(nn.Module):
    """``layers`` 2D convolutions (``channels`` wide, kernel ``kernel``, ReLU), masked after
    every layer and rescaled at the mask's edges (:func:`~ms2d.ops.plans.renorm_factor`).

    Only the outputs on the mask's cells survive a layer, so with ``impl`` diagonal (auto on
    large sparse maps; :mod:`ms2d.ops.diagonal`) or banded (:mod:`ms2d.ops.banded`) each layer
    computes just those cells; the result equals the dense convolution up to floating-point
    summation order.

    ``masks``: the masks this stack convolves. Where the diagonal convolution runs on all of
    them (planned on a CPU), the layers store their weights tap-major
    (:class:`~ms2d.ops.diagonal.TapMajorConv2d`; checkpoints unchanged), so the diagonal
    convolution reads them and writes their gradients without reordering 2 x 85 MB per layer
    and step (512 channels, 9x9).
    """

    def __init__(self, channels: int, kernel: int, layers: int, *, dropout: float = 0.0,
                 impl: str = "auto", masks: Sequence[torch.Tensor] = ()) -> None:
        super().__init__()
        check_conv_impl(impl)
        self.kernel = kernel
        self.impl = impl
        self.layers = nn.ModuleList(
            nn.Conv2d(channels, channels, kernel, padding=kernel // 2) for _ in range(layers))
        self.drop = nn.Dropout(dropout)
        if masks and all(isinstance(conv_plan_for(impl, m, kernel), DiagonalPlan) for m in masks):
            self.layers = nn.ModuleList(TapMajorConv2d(conv) for conv in self.layers)

    def plan(self, mask: torch.Tensor) -> ConvPlan:
        """The conv plan this stack runs on ``mask`` (on the mask's device, under the current
        autocast state)."""
        return conv_plan_for(self.impl, mask, self.kernel, bf16=_bf16_autocast(mask.device))

    def run_after(self, before: PerCell, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``before`` and then the stack: ``x [B, C, N, N]`` -> ``[B, d, N, N]``, zero off
        ``mask``. ``before`` (the fusion of a map with its query, say) runs in the layout the
        stack convolves in: on the rows of the diagonal convolution (one conversion each way
        for the whole stack, and ``before`` computes only the mask's cells), else on the map.
        The dense and banded stacks run through ``forward`` (compiled where the module is)."""
        plan = self.plan(mask)
        if isinstance(plan, DiagonalPlan):
            xr = before.on_cells(to_rows(x, plan))
            return self._forward_rows(xr * plan.row_mask(xr.dtype), plan)
        return self(before.on_map(x) * mask, mask, plan)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, plan: ConvPlan | object = _PLAN) -> torch.Tensor:
        """``x [B, d, N, N]`` (zero off ``mask``) -> ``[B, d, N, N]``. ``plan``: this stack's
        :meth:`plan` for ``mask`` where the caller has it (on a GPU each planning copies the
        mask's key to the host)."""
        if not self.layers:
            return x
        if plan is _PLAN:
            plan = self.plan(mask)
        if isinstance(plan, DiagonalPlan):  # the whole stack on rows: one conversion each way
            return self._forward_rows(to_rows(x, plan), plan)
        scale = renorm_factor(mask, self.kernel)
        valid = mask.to(x.dtype)
        for conv in self.layers:
            y = masked_conv(x, conv.weight, mask, plan) * scale
            x = F.relu(y + conv.bias[None, :, None, None] * valid)
        return self.drop(x)

    def _forward_rows(self, xr: torch.Tensor, plan: DiagonalPlan) -> torch.Tensor:
        """The stack on the rows of ``plan`` (``[R, B, d]``, zero on the padding rows) with the
        diagonal convolution: ``[B, d, N, N]``, converted back once."""
        if not self.layers:
            return from_rows(xr, plan)
        scale_r = plan.renorm_rows[:, None, None]  # renorm_factor on rows, kept by the plan
        # (no mask key per call: on a GPU that is a device-to-host copy)
        valid_r = plan.row_mask(xr.dtype)  # the mask on rows
        for conv in self.layers:
            yr = diagonal_conv_rows(xr, conv.weight, plan) * scale_r
            xr = F.relu(yr + conv.bias * valid_r)
        return self.drop(from_rows(xr, plan))


__all__ = ["AUTO_BF16_MIN_KERNEL", "AUTO_MAX_WORK", "CONV_IMPLS", "ConvPlan", "MaskedConvStack",
           "PerCell", "check_conv_impl", "conv_plan_for", "masked_conv"]
