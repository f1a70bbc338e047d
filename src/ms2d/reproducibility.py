"""What a run records so that it can be reproduced: versions, git commit, input file hashes."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
from pathlib import Path

import torch

from . import __version__


def file_digest(path: str | os.PathLike, limit: int | None = None) -> str:
    """SHA-256 of a file (or of every file below a folder, in name order)."""
    path = Path(path)
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        h.update(f.name.encode())
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def git_commit() -> str | None:
    try:
        here = Path(__file__).resolve().parent
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def describe_environment(cfg) -> dict:
    d = {
        "ms2d_version": __version__,
        "torch_version": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": git_commit(),
        "seed": cfg.train.seed,
        "inputs": {},
    }
    for key in ("annotations", "features", "word_vectors"):
        p = getattr(cfg.data, key)
        if p and Path(p).exists():
            d["inputs"][key] = {"path": str(p), "sha256": file_digest(p)}
    return d
