"""Checkpoints: plain dicts of tensors and primitives, written atomically, loaded weights-only,
and the model rebuilt from one (:func:`load_model`).

Loading checks a checkpoint against itself before any weight is used: its config must be valid
for this ms2d, its vocabulary must have ``model.vocab_size`` words, its model config must be the
one its weights were saved with (``weights_config``, recorded by :func:`save_checkpoint`), and
every weight must have the name and shape that config gives (:func:`load_weights`). A mismatch
is a :class:`DataError` naming the file and the keys, never torch's ``load_state_dict`` text.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import torch

from . import __version__
from .data.records import DataError
from .files import atomic_write_bytes

FORMAT = "ms2d-checkpoint-v1"
REQUIRED_KEYS = ("config", "model", "vocab", "epoch")
_FIX = "Fix: use the run's own best.pt / last.pt as written by ms2d train, or retrain"


def save_checkpoint(path: str | os.PathLike, state: dict) -> None:
    """Serialise in memory, then write to a temporary file and rename: never a partial file.

    Records ``weights_config``, the model config the weights are saved with (kept when
    ``state`` already has one, as when a loaded checkpoint is saved again), so that a later
    change to the checkpoint's ``config`` is found on loading."""
    extra = {}
    model_cfg = (state.get("config") or {}).get("model")
    if "weights_config" not in state and isinstance(model_cfg, dict):
        extra["weights_config"] = dict(model_cfg)
    buf = io.BytesIO()
    torch.save({"format": FORMAT, "ms2d_version": __version__, **state, **extra}, buf)
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


def _resolve(path: Path) -> Path:
    if path.is_dir():
        for name in ("best.pt", "last.pt"):
            if (path / name).is_file():
                return path / name
        raise FileNotFoundError(_no_run_message(path))
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Load with ``weights_only=True`` and check the checkpoint against itself (see the module
    docstring); a truncated, foreign or inconsistent file raises ``DataError``, a device this
    machine lacks a ``ValueError``."""
    from .utils import check_device

    if isinstance(map_location, (str, torch.device)):
        check_device(str(map_location), "device")  # not "corrupt checkpoint" for a missing GPU
    path = _resolve(Path(path))
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
    check_consistency(ckpt, path)
    return ckpt


def check_consistency(ckpt: dict, path: str | os.PathLike) -> None:
    """Raise ``DataError`` unless the checkpoint's config is valid, its vocabulary has the
    config's ``model.vocab_size`` words and its model config is the one of its weights."""
    from .config import Config

    try:
        cfg = Config.from_dict(ckpt["config"])
    except ValueError as exc:
        raise DataError(f"checkpoint {path}: its config is not valid for this ms2d "
                        f"({__version__}): {exc}. {_FIX}") from None
    vocab = ckpt["vocab"]
    if not isinstance(vocab, list) or not all(isinstance(w, str) for w in vocab):
        raise DataError(f"checkpoint {path}: 'vocab' must be a list of words. {_FIX}")
    if len(vocab) != cfg.model.vocab_size:
        raise DataError(
            f"checkpoint {path}: its vocabulary has {len(vocab)} entries but its config says "
            f"model.vocab_size={cfg.model.vocab_size}: the vocabulary or the config was changed "
            f"after training, and words would map to the wrong embeddings. {_FIX}")
    saved = ckpt.get("weights_config")
    if isinstance(saved, dict):
        now = cfg.model.to_dict()
        # a setting newer than the checkpoint was at its default when the weights were saved
        saved = {**type(cfg.model)().to_dict(), **saved}
        changed = [f"model.{k}: {saved.get(k)!r} when the weights were saved, {now.get(k)!r} in "
                   "its config" for k in sorted(set(saved) | set(now)) if saved.get(k) != now.get(k)]
        if changed:
            raise DataError(f"checkpoint {path}: its config was changed after training "
                            f"({'; '.join(changed[:5])}); the weights belong to the saved "
                            f"settings. {_FIX}")
    if not isinstance(ckpt["model"], dict):
        raise DataError(f"checkpoint {path}: 'model' must be a dict of weights. {_FIX}")


def load_weights(model: torch.nn.Module, state: dict, path: str | os.PathLike) -> None:
    """Load ``state["model"]`` into ``model`` after checking every name and shape against what
    the model (built from the checkpoint's config) expects; a mismatch is a ``DataError``
    listing the keys."""
    weights = state["model"]
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in weights.items() if isinstance(v, torch.Tensor)}
    problems = [f"{k} is {found[k]} in the file, {expected[k]} for the config"
                for k in expected if k in found and found[k] != expected[k]]
    absent = [k for k in expected if k not in found]
    extra = [k for k in weights if k not in expected]
    if absent:
        problems.append(f"missing {', '.join(absent[:5])}" + (" ..." if len(absent) > 5 else ""))
    if extra:
        problems.append(f"unexpected {', '.join(map(str, extra[:5]))}"
                        + (" ..." if len(extra) > 5 else ""))
    if problems:
        raise DataError(
            f"checkpoint {path}: the weights do not match the checkpoint's own config "
            f"({'; '.join(problems[:6])}). The file mixes two runs or was edited. {_FIX}")
    try:
        model.load_state_dict(weights)
    except (RuntimeError, ValueError, TypeError) as exc:  # e.g. a dtype torch cannot copy
        text = " ".join(str(exc).split())
        raise DataError(f"checkpoint {path}: cannot load its weights ({text[:300]}). {_FIX}"
                        ) from None


def load_model(path, device: str | torch.device = "cpu"):
    """Rebuild a model from a checkpoint (file or run folder): ``(model, vocab, checkpoint)``,
    the model on ``device`` in eval mode. Imports nothing of the training loop."""
    from .config import Config
    from .data.vocab import Vocab
    from .models import MS2D

    ckpt = load_checkpoint(path, map_location=device)
    cfg = Config.from_dict(ckpt["config"])
    model = MS2D(cfg.model)
    load_weights(model, ckpt, path)
    model.to(device).eval()
    return model, Vocab.from_list(ckpt["vocab"]), ckpt
