"""What a masked convolution needs from its mask alone, computed once per mask: the plans of
the sparse convolutions (:mod:`~ms2d.ops.banded`, :mod:`~ms2d.ops.diagonal`), built on the CPU
and copied once per device, and the partial-convolution rescaling of the masked layers."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar

import torch

P = TypeVar("P")

_DEVICE_PLANS: dict[tuple, Any] = {}


def mask_key(mask: torch.Tensor) -> bytes:
    """A hashable key for a bool mask's cells (its shape is keyed separately)."""
    return mask.detach().to("cpu", torch.bool).contiguous().numpy().tobytes()


def mask_from_key(key: bytes, n: int) -> torch.Tensor:
    """Inverse of :func:`mask_key` for an ``[n, n]`` mask."""
    return torch.frombuffer(bytearray(key), dtype=torch.bool).reshape(n, n).clone()


def cached_plan(build: Callable[..., P], what: str, mask: torch.Tensor, kernel: int, *options) -> P:
    """``build(key, n, kernel, *options)`` (an ``lru_cache``-d builder of CPU plans with a
    ``.to(device)``) for a square bool ``mask`` and an odd ``kernel``, on ``mask``'s device."""
    if mask.dim() != 2 or mask.shape[0] != mask.shape[1]:
        raise ValueError(f"{what} needs a square [n, n] mask, got {tuple(mask.shape)}")
    if kernel % 2 != 1:
        raise ValueError(f"{what} needs an odd kernel, got {kernel}")
    n, key = mask.shape[0], mask_key(mask)
    plan = build(key, n, kernel, *options)
    if mask.device.type == "cpu":
        return plan
    dkey = (build, key, n, kernel, options, str(mask.device))
    if dkey not in _DEVICE_PLANS:
        _DEVICE_PLANS[dkey] = plan.to(mask.device)
    return _DEVICE_PLANS[dkey]


def renorm_map(mask: torch.Tensor, kernel: int) -> torch.Tensor:
    """``[1, 1, N, N]`` for a bool ``[N, N]`` mask: ``k*k / (valid cells under the kernel)`` on
    valid cells, 0 elsewhere (the masked convolutions' partial-convolution rescaling)."""
    m = mask.to("cpu", torch.float32)[None, None]
    count = torch.nn.functional.conv2d(m, torch.ones(1, 1, kernel, kernel), padding=kernel // 2)
    scale = torch.where(count > 0, kernel * kernel / count.clamp(min=1), torch.zeros_like(count))
    return scale * m


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


__all__ = ["cached_plan", "mask_from_key", "mask_key", "renorm_factor", "renorm_map"]
