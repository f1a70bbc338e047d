"""A run's folder: checked before the work starts, resumed from its ``last.pt``, described by
its manifest and feature spec."""

from __future__ import annotations

from pathlib import Path

from ..checkpoint import load_checkpoint
from ..config import Config
from ..data.records import DataError
from ..files import check_output_dir


def run_manifest(cfg: Config) -> dict:
    """What is needed to reproduce a run besides the config: versions, commit, input hashes."""
    from ..reproducibility import describe_environment

    return describe_environment(cfg)


# Files of a run that --overwrite replaces (config.yaml and manifest.json are rewritten anyway).
_RUN_FILES = ("best.pt", "last.pt", "history.json", "summary.json")


def prepare_out(out: Path, resume: bool, overwrite: bool, log=print) -> None:
    check_output_dir(out, "--out")  # a file, a read-only place: refused before any work
    if resume and overwrite:
        raise FileExistsError("--resume and --overwrite contradict each other: pass one of them")
    existing = [p.name for p in (out.glob("*.pt") if out.exists() else [])]
    if existing and not (resume or overwrite):
        raise FileExistsError(
            f"{out} already holds a run ({', '.join(sorted(existing))}); pass --resume to continue "
            "it or --overwrite to start again (its checkpoints will be replaced)"
        )
    if resume and not (out / "last.pt").exists():
        raise FileNotFoundError(
            f"--resume: {out / 'last.pt'} does not exist (the run stopped before finishing its "
            "first epoch or checkpoint); start again without --resume (add --overwrite if the "
            "folder holds other checkpoints)"
        )
    if overwrite and existing:
        # Explicitly asked for: remove the old run's files now, so that a new run killed before
        # its first checkpoint cannot leave the old checkpoints next to the new config.
        gone = [n for n in _RUN_FILES if (out / n).exists()]
        for n in gone:
            (out / n).unlink()
        log(f"--overwrite: removed the previous run's {', '.join(gone)} from {out}")
    # the folder itself is made by the run's first write (config.yaml, once the data is read),
    # so a run that fails on its inputs leaves no empty folder behind


def load_resume_state(out: Path) -> dict:
    """``last.pt`` of ``out``; a corrupt one is reported with what can still be done."""
    try:
        state = load_checkpoint(out / "last.pt")
        if "optimizer" not in state:
            raise DataError(f"checkpoint {out / 'last.pt'} holds no optimizer state (a copy of "
                            "best.pt?)")
        return state
    except DataError as exc:
        hint = "no best.pt either"
        if (out / "best.pt").is_file():
            try:
                b = load_checkpoint(out / "best.pt")
                hint = (f"{out / 'best.pt'} (epoch {b.get('epoch')}) is intact and can be evaluated, "
                        "but it holds no optimizer state, so training cannot continue from it")
            except DataError:
                hint = f"{out / 'best.pt'} is unreadable too"
        raise DataError(
            f"--resume: cannot resume: {exc}. {hint}. Fix: start the run again with --overwrite "
            "(or in a new --out folder)"
        ) from None


# Train settings that may change on --resume without changing the result.
_RESUME_FREE = {"epochs", "progress", "device", "num_workers", "checkpoint_every"}


def check_resume_config(cfg: Config, state: dict, out: Path, log) -> None:
    old = state.get("config") or {}
    new_model, old_model = cfg.model.to_dict(), old.get("model", {})
    diff = [f"model.{k}: {old_model[k]!r} -> {v!r}" for k, v in new_model.items()
            if k in old_model and old_model[k] != v]
    if diff:
        raise DataError(
            f"--resume: the run in {out} was trained with other model settings ({'; '.join(diff)}); "
            "resume with the run's own settings (ms2d train --out RUN --resume reads them from "
            "its config.yaml) or start a new run in another --out folder"
        )
    new_train, old_train = cfg.to_dict()["train"], old.get("train", {})
    changed = [f"train.{k}: {old_train.get(k)!r} -> {v!r}" for k, v in new_train.items()
               if k not in _RESUME_FREE and k in old_train and old_train[k] != v]
    if changed:
        log(f"warning: --resume changes {'; '.join(changed)}; the result will differ from an "
            "uninterrupted run")


def feature_spec(cfg: Config, store) -> dict:
    """What the checkpoint records about its features. A file written by ``ms2d extract`` carries
    its own spec (extractor, clip length, fps), which is the truth about that file and wins over
    the preset's ``data.feature_name`` / ``data.clip_seconds``; other files use the config."""
    from ..video.extract import read_feature_spec  # imports no video package at module level

    spec = {"dim": int(store.dim), "name": cfg.data.feature_name or "unknown",
            "clip_seconds": float(cfg.data.clip_seconds)}
    found = read_feature_spec(cfg.data.features) if cfg.data.features else None
    if found:
        spec["name"] = str(found.get("name", spec["name"]))
        spec["clip_seconds"] = float(found.get("clip_seconds", spec["clip_seconds"]))
        if "fps" in found:
            spec["fps"] = float(found["fps"])
    return spec
