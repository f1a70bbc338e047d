"""What a run records so that it can be reproduced: versions, git commit, input file hashes."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import sys
from pathlib import Path

import torch

from . import __version__

# Inputs above this size are hashed from a documented sample, so that recording the manifest
# of a run on a 30 GB feature file takes a second, not minutes.
FULL_HASH_LIMIT = 1 << 30  # 1 GiB
SAMPLE_BYTES = 64 << 20  # a big file: its size + its first and last 64 MiB
DIR_SAMPLE_BUDGET = 128 << 20  # a big folder: about 128 MiB read in all, spread over its files
MIN_DIR_SAMPLE = 4 << 10  # ... but at least the first and last 4 KiB of every file


def _update_range(h, fh, start: int, size: int) -> None:
    fh.seek(start)
    left = size
    while left > 0:
        chunk = fh.read(min(1 << 20, left))
        if not chunk:
            break
        h.update(chunk)
        left -= len(chunk)


def _hash_file(h, f: Path, size: int, sample: int | None) -> None:
    """The whole file, or (``sample`` bytes given) its first and last ``sample`` bytes."""
    with open(f, "rb") as fh:
        if sample is None or size <= 2 * sample:
            _update_range(h, fh, 0, size)
        else:
            _update_range(h, fh, 0, sample)
            _update_range(h, fh, size - sample, sample)


def hash_input(path: str | os.PathLike, full_limit: int = FULL_HASH_LIMIT) -> dict:
    """SHA-256 of an input file or folder, as recorded in ``manifest.json``.

    Returns ``{"sha256", "bytes", "files", "hash"}``. ``hash`` says what was hashed:

    * ``"full"``: every byte (a folder: every file below it, in relative-path order, each
      preceded by its relative path and size), for inputs up to ``full_limit`` bytes (1 GiB);
    * ``"sample: size + first/last 64 MiB"``: a bigger file: its size, then its first and last
      64 MiB;
    * ``"sample: names + sizes + first/last N KiB of each file"``: a bigger folder: every
      file's relative path and size, then its first and last N KiB, N chosen so that about
      128 MiB are read in all (at least 4 KiB).

    A sample detects a replaced, truncated or re-extracted file in practice, not a single
    flipped byte in the middle of a big one.
    """
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    sizes = [f.stat().st_size for f in files]
    total = sum(sizes)
    h = hashlib.sha256()
    if total <= full_limit:
        sample, label = None, "full"
    elif not path.is_dir():
        sample, label = SAMPLE_BYTES, f"sample: size + first/last {SAMPLE_BYTES >> 20} MiB"
    else:
        sample = max(MIN_DIR_SAMPLE, DIR_SAMPLE_BUDGET // (2 * max(len(files), 1)))
        label = f"sample: names + sizes + first/last {sample >> 10} KiB of each file"
    for f, size in zip(files, sizes):
        name = f.relative_to(path).as_posix() if path.is_dir() else f.name
        h.update(f"{name}\0{size}\0".encode())
        _hash_file(h, f, size, sample)
    return {"sha256": h.hexdigest(), "bytes": total, "files": len(files), "hash": label}


def file_digest(path: str | os.PathLike, limit: int | None = None) -> str:
    """SHA-256 of a file or folder as :func:`hash_input` computes it (``limit``: the size up to
    which every byte is hashed; default 1 GiB)."""
    return hash_input(path, FULL_HASH_LIMIT if limit is None else limit)["sha256"]


def git_commit() -> str | None:
    try:
        here = Path(__file__).resolve().parent
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def git_dirty() -> bool | None:
    """Whether the checkout of the package has uncommitted changes to tracked files."""
    try:
        here = Path(__file__).resolve().parent
        out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "."],
                             cwd=here, capture_output=True, text=True, timeout=5)
        return bool(out.stdout.strip()) if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def _version(module: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:  # not installed / no metadata
        return None


def describe_environment(cfg) -> dict:
    """The ``manifest.json`` of a run: versions, commit, seed, command and input hashes."""
    d = {
        "ms2d_version": __version__,
        "torch_version": torch.__version__,
        "numpy_version": _version("numpy"),
        "h5py_version": _version("h5py"),
        "cuda_version": torch.version.cuda,
        "cudnn_version": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": git_commit(),
        "git_dirty": git_dirty(),
        "seed": cfg.train.seed,
        "command": list(sys.argv),
        "inputs": {},
    }
    for key in ("annotations", "features", "word_vectors"):
        p = getattr(cfg.data, key)
        if p and Path(p).exists():
            d["inputs"][key] = {"path": str(p), **hash_input(p)}
    return d
