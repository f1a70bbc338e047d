"""Plans of the sparse convolutions (:mod:`~ms2d.models.banded`, :mod:`~ms2d.models.diagonal`),
built once per (mask, kernel, options) on the CPU and copied once per device."""

from __future__ import annotations

from collections.abc import Callable
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


__all__ = ["cached_plan", "mask_from_key", "mask_key"]
