"""The numeric and process setup of a training run: GPU number formats, determinism, compiled
modules, the optimizer, and the processes of a distributed run."""

from __future__ import annotations

import os
from contextlib import contextmanager, nullcontext

import torch


@contextmanager
def tf32_mode(device: torch.device, enabled: bool):
    """On a GPU, let matrix products and cuDNN convolutions use TF32 (``enabled``) or keep both
    in full fp32 (torch's own default runs cuDNN convolutions in TF32 but matrix products in
    fp32); torch's flags are restored on exit. It covers forward and backward alike (the flags
    are read when a kernel runs). A no-op on other devices (a CPU has no TF32)."""
    if device.type != "cuda":
        yield
        return
    flags = torch.backends.cuda.matmul, torch.backends.cudnn
    old = [f.allow_tf32 for f in flags]
    for f in flags:
        f.allow_tf32 = enabled
    try:
        yield
    finally:
        for f, v in zip(flags, old):
            f.allow_tf32 = v


@contextmanager
def deterministic_mode():
    """Deterministic kernels for the block (``torch.use_deterministic_algorithms``, warn-only:
    an op without a deterministic kernel warns instead of stopping a training). On a CPU
    ms2d's training is already deterministic; on a GPU, atomic additions (embedding and
    ``index_add_`` backward, scatter) make two runs differ in the last bits, so a resumed run
    is bit-identical to an uninterrupted one only in this mode. cuBLAS needs
    ``CUBLAS_WORKSPACE_CONFIG`` for it, set here when unset and left set (it takes effect if no
    cuBLAS handle exists yet, as at the start of ``ms2d train``). Torch's settings are restored."""
    old = (torch.are_deterministic_algorithms_enabled(),
           torch.is_deterministic_algorithms_warn_only_enabled(), torch.backends.cudnn.benchmark)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(old[0], warn_only=old[1])
        torch.backends.cudnn.benchmark = old[2]


def autocast(device: torch.device, amp: bool):
    """bf16 autocast for a forward pass on a GPU when ``amp``; otherwise nothing: a CPU trains in
    fp32 (bf16 on CPUs has not been measured for this model)."""
    return torch.autocast("cuda", dtype=torch.bfloat16) if amp and device.type == "cuda" else nullcontext()


def compile_hot_modules(model: torch.nn.Module) -> torch.nn.Module:
    """``torch.compile`` the two parts that hold most of a step's time, the conv stacks and the
    caption module, in place (``nn.Module.compile``); the rest stays eager. Returns ``model``."""
    for stack in model.convs:
        stack.compile()
    (model.caption if hasattr(model, "caption") else model.appearance).compile()
    return model


def make_optimizer(model: torch.nn.Module, lr: float, weight_decay: float = 0.0) -> torch.optim.Adam:
    """Adam with the fused kernel where torch has it for every parameter (CPU and CUDA floats).

    The fused step is one kernel per parameter instead of a dozen elementwise passes: 46 ms
    instead of 343 ms for the 85 M conv weights of the N=64 reference model on 2 CPU threads
    (docs/performance.md). It computes the same update up to floating-point rounding.
    """
    params = list(model.parameters())
    fused = bool(params) and all(p.is_floating_point() and p.device.type in ("cpu", "cuda")
                                 for p in params)
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=True if fused else None)


def distributed(device: torch.device) -> tuple[int, int, torch.device]:
    """``(rank, world_size, device)``; joins the process group when started by ``torchrun``.

    One process per device: NCCL on GPUs (``cuda:LOCAL_RANK``), gloo on CPUs. The environment
    variable ``MS2D_DIST_BACKEND`` overrides the backend: ``gloo`` lets several processes share
    one GPU (a test of the distributed path on a one-GPU machine; NCCL refuses that).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, device
    import torch.distributed as dist

    backend = os.environ.get("MS2D_DIST_BACKEND") or ("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        local, gpus = int(os.environ.get("LOCAL_RANK", "0")), torch.cuda.device_count()
        if gpus == 0:
            raise RuntimeError("train.device is a GPU but torch sees none: check "
                               "CUDA_VISIBLE_DEVICES, or train on CPUs with train.device=cpu")
        if local >= gpus and backend == "nccl":
            raise RuntimeError(
                f"torchrun started process {local} of this node but it has {gpus} GPU(s): start "
                f"one process per GPU (--nproc_per_node {gpus}), or set MS2D_DIST_BACKEND=gloo "
                "to let processes share a GPU (slow; for tests)")
        device = torch.device("cuda", local % gpus)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend)
    return dist.get_rank(), dist.get_world_size(), device


def any_rank(flag: bool, world: int, device: torch.device) -> bool:
    """True on every rank when it is true on one (so that all ranks stop at the same step).
    The flag travels on the training device: NCCL reduces GPU tensors only."""
    if world <= 1:
        return flag
    import torch.distributed as dist

    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
