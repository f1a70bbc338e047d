"""Cross-modal fusion and temporal context (METHOD.md section 3)."""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

from .banded import AUTO_MAX_WORK, BandedPlan, banded_conv2d, plan_banded
from .config import ModelConfig


class HadamardFusion(nn.Module):
    """``F_cro = l2norm((W_T f_T) * (W_M F^j))`` per cell over channels; masked cells stay 0."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.text = nn.Linear(cfg.hidden, cfg.hidden)
        self.video = nn.Conv2d(cfg.hidden, cfg.hidden, 1)
        self.norm = cfg.fusion_norm

    def forward(self, text: torch.Tensor, vmap: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``text [B, d]``, ``vmap [B, d, N, N]``, ``mask [N, N]`` -> ``[B, d, N, N]``."""
        fused = self.text(text)[:, :, None, None] * self.video(vmap)
        if self.norm:
            fused = F.normalize(fused, dim=1)
        return fused * mask


@lru_cache(maxsize=64)
def _renorm_cpu(mask_key: bytes, n: int, kernel: int) -> torch.Tensor:
    mask = torch.frombuffer(bytearray(mask_key), dtype=torch.bool).reshape(1, 1, n, n).float()
    count = F.conv2d(mask, torch.ones(1, 1, kernel, kernel), padding=kernel // 2)
    scale = torch.where(count > 0, kernel * kernel / count.clamp(min=1), torch.zeros_like(count))
    return scale * mask


def renorm_factor(mask: torch.Tensor, kernel: int) -> torch.Tensor:
    """``[1, 1, N, N]``: ``k*k / (valid cells under the kernel)`` on valid cells, 0 elsewhere.

    Rescales a convolution at the edge of the valid triangle to the scale it has inside it (the
    partial-convolution rule; 2D-TAN divides by the count instead, which shrinks activations by
    ``k*k`` per layer). Cached per mask.
    """
    n = mask.shape[-1]
    key = mask.detach().to("cpu", torch.bool).contiguous().numpy().tobytes()
    return _renorm_cpu(key, n, kernel).to(mask.device)


CONV_IMPLS = ("auto", "dense", "banded")


def _check_conv_impl(impl: str) -> None:
    if impl not in CONV_IMPLS:
        raise ValueError(f"unknown conv_impl {impl!r}: 'auto', 'dense' or 'banded'")


def banded_plan_for(impl: str, mask: torch.Tensor, kernel: int) -> BandedPlan | None:
    """The banded plan ``conv_impl`` (``"dense"``, ``"banded"`` or ``"auto"``) convolves with on
    this mask, or None for the dense convolution.

    ``"auto"`` picks the banded convolution on CPU where its plan computes at most
    :data:`~ms2d.models.banded.AUTO_MAX_WORK` of the dense cells (large sparse maps such as N=64);
    on GPUs it stays dense until the banded path has been measured there.
    """
    _check_conv_impl(impl)
    if impl == "dense":
        return None
    if impl == "banded":
        return plan_banded(mask, kernel)
    if mask.device.type != "cpu" or kernel % 2 == 0:
        return None
    plan = plan_banded(mask, kernel)
    return plan if plan.work <= AUTO_MAX_WORK else None


class MaskedConvStack(nn.Module):
    """``conv_layers`` 2D convolutions (kernel ``kernel``, ReLU), masked after every layer.

    Only the outputs on the mask's cells survive a layer, so with ``conv_impl`` banded (or auto, on
    large sparse maps) each layer computes just those cells (:mod:`ms2d.models.banded`); the
    result equals the dense convolution up to floating-point summation order.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        _check_conv_impl(cfg.conv_impl)
        self.kernel = cfg.kernel
        self.impl = cfg.conv_impl
        self.layers = nn.ModuleList(
            nn.Conv2d(cfg.hidden, cfg.hidden, cfg.kernel, padding=cfg.kernel // 2)
            for _ in range(cfg.conv_layers)
        )
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if not self.layers:
            return x
        scale = renorm_factor(mask, self.kernel)
        valid = mask.to(x.dtype)
        pad = self.kernel // 2
        plan = banded_plan_for(self.impl, mask, self.kernel)
        for conv in self.layers:
            if plan is not None:
                y = banded_conv2d(x, conv.weight, mask, plan) * scale
            else:
                y = F.conv2d(x, conv.weight, None, padding=pad) * scale
            x = F.relu(y + conv.bias[None, :, None, None] * valid)
        return self.drop(x)


class ScoreHead(nn.Module):
    """``P^j = sigmoid(W_F . F_cro^j)`` (a 1x1 convolution); returns masked logits ``[B, N, N]``."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.proj = nn.Conv2d(cfg.hidden, 1, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.proj(x)[:, 0].masked_fill(~mask, -1e4)
