"""Checkpoints: plain dicts of tensors and primitives, written atomically, loaded weights-only."""

from __future__ import annotations

import io
import os
from pathlib import Path

import torch

from .. import __version__
from ..data.records import DataError
from ..utils import atomic_write_bytes

FORMAT = "ms2d-checkpoint-v1"
REQUIRED_KEYS = ("config", "model", "vocab", "epoch")


def save_checkpoint(path: str | os.PathLike, state: dict) -> None:
    """Serialise in memory, then write to a temporary file and rename: never a partial file."""
    buf = io.BytesIO()
    torch.save({"format": FORMAT, "ms2d_version": __version__, **state}, buf)
    atomic_write_bytes(path, buf.getvalue())


def find_runs(folder: Path, depth: int = 3) -> list[Path]:
    """Run folders (holding ``best.pt`` or ``last.pt``) below ``folder``, up to ``depth`` levels
    down, sorted: e.g. ``runs/weak``, ``runs/full`` in a quickstart folder."""
    found: set[Path] = set()
    for level in range(1, depth + 1):
        for name in ("best.pt", "last.pt"):
            found.update(p.parent for p in folder.glob("/".join(["*"] * level + [name])))
    return sorted(found)


def _no_run_message(path: Path) -> str:
    runs = find_runs(path)
    if not runs:
        return (f"{path} holds no best.pt or last.pt, nor does any folder below it: it is not an "
                "ms2d run folder. Fix: pass the --out folder of ms2d train (or a .pt file)")
    listed = "\n".join(f"  {r}" for r in runs[:12]) + ("\n  ..." if len(runs) > 12 else "")
    return (f"{path} is not a run folder itself (no best.pt or last.pt) but holds "
            f"{len(runs)} run(s); pass one of them:\n{listed}")


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Load with ``weights_only=True``; a truncated or foreign file raises ``DataError``."""
    path = Path(path)
    if path.is_dir():
        for name in ("best.pt", "last.pt"):
            if (path / name).is_file():
                path = path / name
                break
        else:
            raise FileNotFoundError(_no_run_message(path))
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # truncated zip, wrong magic, pickled objects ...
        raise DataError(
            f"checkpoint {path} is corrupt or not an ms2d checkpoint ({type(exc).__name__}: {exc}); "
            "resume from an earlier checkpoint or retrain"
        ) from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        if not isinstance(ckpt, dict):
            found = f"a {type(ckpt).__name__}, not a dict"
        elif "format" not in ckpt:
            found = f"no format tag; keys {sorted(map(str, ckpt))[:6]}: not written by ms2d train"
        else:
            found = f"format {ckpt['format']!r}, written by ms2d {ckpt.get('ms2d_version', '?')}"
        raise DataError(
            f"checkpoint {path} is not in the {FORMAT} format that this ms2d ({__version__}) "
            f"reads (found {found}). Fix: use it with the ms2d version that wrote it, or retrain"
        )
    missing = [k for k in REQUIRED_KEYS if k not in ckpt]
    if missing:
        raise DataError(
            f"checkpoint {path} lacks {', '.join(missing)}; it is incomplete or was not written "
            "by ms2d train. Fix: use the run's best.pt/last.pt, or retrain"
        )
    return ckpt
