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


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Load with ``weights_only=True``; a truncated or foreign file raises ``DataError``."""
    path = Path(path)
    if path.is_dir():
        for name in ("best.pt", "last.pt"):
            if (path / name).is_file():
                path = path / name
                break
        else:
            raise FileNotFoundError(f"{path} holds no best.pt or last.pt: is it an ms2d run folder?")
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
