"""Device choice: which ``torch.device`` a name means, and whether this machine has it."""

from __future__ import annotations

import torch


def device_problem(name: object, *, check_available: bool = True) -> str | None:
    """What is wrong with the device name ``name`` (``auto``, ``cpu``, ``cuda``, ``cuda:1``,
    ``mps``), or None; with ``check_available``, also whether this machine has it."""
    hint = "use auto, cpu, cuda, cuda:N or mps"
    if not isinstance(name, str) or not name.strip():
        return f"not a device name; {hint}"
    if name == "auto":
        return None
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError):
        return f"not a device name; {hint}"
    if dev.type not in ("cpu", "cuda", "mps"):
        return f"device type {dev.type!r} is not supported; {hint}"
    if not check_available:
        return None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            why = ("this torch build has no CUDA support" if torch.version.cuda is None
                   else "no GPU is visible (check CUDA_VISIBLE_DEVICES and the driver)")
            return f"CUDA is not available ({why}); use cpu or auto"
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            return (f"there is no GPU {dev.index}: torch sees {torch.cuda.device_count()} "
                    "(cuda:0 ...); use another index, cpu or auto")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        return "MPS (Apple GPU) is not available on this machine; use cpu or auto"
    return None


def check_device(name: str, what: str = "device") -> None:
    """Raise ``ValueError`` naming ``what`` (e.g. ``train.device``, ``--device``) unless the
    device ``name`` exists on this machine."""
    problem = device_problem(name)
    if problem:
        raise ValueError(f"{what} {name!r}: {problem}")


def pick_device(name: str = "auto", what: str = "device") -> torch.device:
    """The ``torch.device`` for ``name``; ``auto`` is the GPU when there is one. An unknown or
    unavailable device is a ``ValueError`` naming ``what``."""
    check_device(name, what)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("cpu")
    return torch.device(name)
