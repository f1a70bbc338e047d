"""Cross-modal fusion and temporal context (METHOD.md section 3)."""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

from .banded import BandedPlan, banded_conv2d, plan_banded
from .config import ModelConfig
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
from .maps import candidate_mask, renorm_map
from .plan_cache import mask_from_key, mask_key

#: ``conv_impl="auto"`` runs a sparse convolution where it computes at most this share of the
#: dense convolution's cell-taps.
AUTO_MAX_WORK = 0.5
#: Under bf16 autocast on a GPU, ``auto`` keeps kernels smaller than this dense: cuDNN's bf16
#: convolution runs 5x5 layers at ~600-690 TFLOP/s on an H100, and the diagonal convolution
#: (fp32 or bf16 products alike) was 0.57-1.28x of it; at 9x9 cuDNN's bf16 backward is slow and
#: the diagonal one is 8.5-9.8x faster (docs/performance.md).
AUTO_BF16_MIN_KERNEL = 9


class HadamardFusion(nn.Module):
    """``F_cro = l2norm((W_T f_T) * (W_M F^j))`` per cell over channels; masked cells stay 0."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.text = nn.Linear(cfg.hidden, cfg.hidden)
        self.video = nn.Conv2d(cfg.hidden, cfg.hidden, 1)
        self.norm = cfg.fusion_norm

    def forward(self, text: torch.Tensor, vmap: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``text [B, d]``, ``vmap [B, d, N, N]``, ``mask [N, N]`` -> ``[B, d, N, N]``. Where the
        conv stack runs the diagonal convolution, :meth:`fuse_rows` does the same on its rows."""
        fused = self.text(text)[:, :, None, None] * self.video(vmap)
        if self.norm:
            fused = F.normalize(fused, dim=1)
        return fused * mask

    def fuse_rows(self, text: torch.Tensor, vmap: torch.Tensor, plan: DiagonalPlan) -> torch.Tensor:
        """:meth:`forward` on the rows of ``plan``: ``[R, B, d]``, zero on the padding rows, for
        a conv stack that runs on the same rows (:meth:`MaskedConvStack.forward_rows`). The 1x1
        convolution, the product and the norm run on the mask's cells and a few zero rows (32 %
        of a 64x64 map) instead of on every cell of the map."""
        vr = to_rows(vmap, plan)  # [R, B, d]
        fused = self.text(text)[None] * F.linear(vr, self.video.weight.flatten(1), self.video.bias)
        if self.norm:
            fused = F.normalize(fused, dim=2)
        return fused * plan.row_mask(fused.dtype)


@lru_cache(maxsize=64)
def _renorm_cpu(key: bytes, n: int, kernel: int) -> torch.Tensor:
    return renorm_map(mask_from_key(key, n), kernel)


def renorm_factor(mask: torch.Tensor, kernel: int) -> torch.Tensor:
    """``[1, 1, N, N]``: ``k*k / (valid cells under the kernel)`` on valid cells, 0 elsewhere.

    Rescales a convolution at the edge of the valid triangle to the scale it has inside it (the
    partial-convolution rule; 2D-TAN divides by the count instead, which shrinks activations by
    ``k*k`` per layer). Cached per mask.
    """
    n = mask.shape[-1]
    return _renorm_cpu(mask_key(mask), n, kernel).to(mask.device)


CONV_IMPLS = ("auto", "dense", "banded", "diagonal")

#: A conv plan: where a masked convolution computes (None: everywhere, the dense convolution).
ConvPlan = BandedPlan | DiagonalPlan | None


def _check_conv_impl(impl: str) -> None:
    if impl not in CONV_IMPLS:
        raise ValueError(f"unknown conv_impl {impl!r}: 'auto', 'dense', 'banded' or 'diagonal'")


def conv_plan_for(impl: str, mask: torch.Tensor, kernel: int, bf16: bool = False) -> ConvPlan:
    """The plan ``conv_impl`` (``"dense"``, ``"banded"``, ``"diagonal"`` or ``"auto"``) convolves
    with on this mask: a :class:`~ms2d.models.diagonal.DiagonalPlan`, a
    :class:`~ms2d.models.banded.BandedPlan`, or None for the dense convolution.

    ``"auto"`` picks the diagonal convolution (on a CPU or a CUDA GPU) where it computes at
    most :data:`AUTO_MAX_WORK` of the dense convolution's cell-taps (large sparse maps such as
    N=64: 23-25 %); small maps (N <= 24: 66 % or more) stay dense. ``bf16``: the layer runs
    under bf16 autocast on a GPU, where kernels under :data:`AUTO_BF16_MIN_KERNEL` stay dense.
    Measured on a 2-core CPU and an H100 (docs/performance.md).
    """
    _check_conv_impl(impl)
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


#: ``MaskedConvStack.forward``'s default: plan the convolution from the mask.
_PLAN = object()


class MaskedConvStack(nn.Module):
    """``conv_layers`` 2D convolutions (kernel ``kernel``, ReLU), masked after every layer.

    Only the outputs on the mask's cells survive a layer, so with ``conv_impl`` diagonal (auto on
    large sparse maps; :mod:`ms2d.models.diagonal`) or banded (:mod:`ms2d.models.banded`) each
    layer computes just those cells; the result equals the dense convolution up to floating-point
    summation order.

    ``scales``: the map sizes this stack convolves. Where the diagonal convolution runs on all
    of them (planned on a CPU), the layers store their weights tap-major
    (:class:`~ms2d.models.diagonal.TapMajorConv2d`; checkpoints unchanged), so the diagonal
    convolution reads them and writes their gradients without reordering 2 x 85 MB per layer
    and step (512 channels, 9x9).
    """

    def __init__(self, cfg: ModelConfig, scales: list[int] | tuple[int, ...] = ()) -> None:
        super().__init__()
        _check_conv_impl(cfg.conv_impl)
        self.kernel = cfg.kernel
        self.impl = cfg.conv_impl
        self.layers = nn.ModuleList(
            nn.Conv2d(cfg.hidden, cfg.hidden, cfg.kernel, padding=cfg.kernel // 2)
            for _ in range(cfg.conv_layers)
        )
        self.drop = nn.Dropout(cfg.dropout)
        if scales and all(isinstance(conv_plan_for(self.impl, candidate_mask(n, cfg.dense_until),
                                                   self.kernel), DiagonalPlan) for n in scales):
            self.layers = nn.ModuleList(TapMajorConv2d(conv) for conv in self.layers)

    def plan(self, mask: torch.Tensor) -> ConvPlan:
        """The conv plan this stack runs on ``mask`` (on the mask's device, under the current
        autocast state)."""
        return conv_plan_for(self.impl, mask, self.kernel, bf16=_bf16_autocast(mask.device))

    def forward(self, x: torch.Tensor, mask: torch.Tensor, plan: ConvPlan | object = _PLAN) -> torch.Tensor:
        """``x [B, d, N, N]`` (zero off ``mask``) -> ``[B, d, N, N]``. ``plan``: this stack's
        :meth:`plan` for ``mask`` where the caller has it (on a GPU each planning copies the
        mask's key to the host)."""
        if not self.layers:
            return x
        if plan is _PLAN:
            plan = self.plan(mask)
        if isinstance(plan, DiagonalPlan):  # the whole stack on rows: one conversion each way
            return self.forward_rows(to_rows(x, plan), mask, plan)
        scale = renorm_factor(mask, self.kernel)
        valid = mask.to(x.dtype)
        for conv in self.layers:
            y = masked_conv(x, conv.weight, mask, plan) * scale
            x = F.relu(y + conv.bias[None, :, None, None] * valid)
        return self.drop(x)

    def forward_rows(self, xr: torch.Tensor, mask: torch.Tensor, plan: DiagonalPlan) -> torch.Tensor:
        """:meth:`forward` for input already on the rows of ``plan`` (``[R, B, d]``, zero on the
        padding rows; :meth:`HadamardFusion.fuse_rows`), which this stack runs with the diagonal
        convolution: ``[B, d, N, N]``, converted back once."""
        if not self.layers:
            return from_rows(xr, plan)
        scale_r = plan.renorm_rows[:, None, None]  # renorm_factor on rows, kept by the plan
        # (no mask key per call: on a GPU that is a device-to-host copy)
        valid_r = plan.row_mask(xr.dtype)  # the mask on rows
        for conv in self.layers:
            yr = diagonal_conv_rows(xr, conv.weight, plan) * scale_r
            xr = F.relu(yr + conv.bias * valid_r)
        return self.drop(from_rows(xr, plan))


class ScoreHead(nn.Module):
    """``P^j = sigmoid(W_F . F_cro^j)`` (a 1x1 convolution); returns masked logits ``[B, N, N]``."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.proj = nn.Conv2d(cfg.hidden, 1, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.proj(x)[:, 0].masked_fill(~mask, -1e4)
