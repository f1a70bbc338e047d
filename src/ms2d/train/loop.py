"""One plain training loop: weak or full supervision, checkpoints chosen on validation.

:func:`train` reads the data, builds the model (:func:`_build`), then runs epochs
(:meth:`_Run.epoch`: the steps, mid-epoch checkpoints, Ctrl-C) and ends each with validation
and the checkpoints (:meth:`_Run.end_epoch`). The objective is ``ms2d.objective``; nothing here
branches on model names: the model comes from the registry, the loss from
``train.supervision``.
"""

from __future__ import annotations

import json
import math
import os
import signal
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ..checkpoint import load_weights, save_checkpoint
from ..config import Config, save_config
from ..data.dataset import MomentDataset, collate
from ..data.records import DataError
from ..data.splits import Splits, build_vocab, load_splits
from ..data.vocab import Vocab
from ..embeddings import freeze_word_embeddings, init_word_embeddings
from ..files import atomic_write_text
from ..inference import evaluate_queries, to_device
from ..models import MS2D, model_config
from ..objective import compute_loss
from ..utils import pick_device
from .rundir import check_resume_config, feature_spec, load_resume_state, prepare_out, run_manifest
from .runtime import (
    any_rank,
    autocast,
    compile_hot_modules,
    deterministic_mode,
    distributed,
    main_thread,
    make_optimizer,
    tf32_mode,
)


class NonFiniteLoss(RuntimeError):
    pass


def train(cfg: Config, out_dir: str | os.PathLike, *, resume: bool = False, overwrite: bool = False,
          splits=None, log=print) -> dict:
    """Train, validate each epoch, keep ``best.pt`` (by ``train.select_metric`` on validation)
    and ``last.pt`` (for ``resume``). Returns a summary dict (also written to ``summary.json``)."""
    tc = cfg.train
    out = Path(out_dir)
    cfg.validate()  # every setting and the device, before any file or data is touched
    rank, world, device = distributed(pick_device(tc.device, "train.device"))
    main = rank == 0  # only rank 0 writes the run folder and logs
    if not main:
        log = _silent
    if main:
        prepare_out(out, resume, overwrite, log)
        for note in cfg.notes:  # settings given that this config never reads
            log(f"warning: {note}")
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
    state = load_resume_state(out) if resume else None  # before reading data: fail fast
    data, val = _read_data(cfg, splits, log)
    vocab = Vocab.from_list(state["vocab"]) if state is not None else build_vocab(data.train)
    # full supervision trains no teacher: its ranking is the student's alone
    teacher_share = cfg.model.inference_teacher if tc.supervision == "weak" else 0.0
    cfg.model = model_config(tc.model, cfg.model, feature_dim=data.store.dim,
                             vocab_size=len(vocab), inference_teacher=teacher_share)
    if state is not None:
        check_resume_config(cfg, state, out, log)  # before config.yaml is rewritten
    if main:
        save_config(cfg, out / "config.yaml")
        atomic_write_text(out / "manifest.json", json.dumps(run_manifest(cfg), indent=2))

    model, opt, net = _build(cfg, data, vocab, state, device, world, log)
    run = _Run(cfg=cfg, out=out, model=model, net=net, opt=opt, vocab=vocab, data=data, val=val,
               device=device, rank=rank, world=world, log=log,
               feature_spec=feature_spec(cfg, data.store))
    start_epoch = run.restore(state) if state is not None else 0
    if (tc.amp or tc.tf32) and device.type != "cuda":
        log(f"train.amp / train.tf32 apply to GPUs only: training on {device.type} in fp32")

    handled = (signal.SIGINT, signal.SIGTERM)
    old_handlers = {s: signal.signal(s, run.interrupt) for s in handled} if main_thread() else {}
    modes = ExitStack()  # the run's numeric modes, left on exit
    try:
        modes.enter_context(tf32_mode(device, tc.tf32))
        if tc.deterministic:
            modes.enter_context(deterministic_mode())
        for epoch in range(start_epoch, tc.epochs):
            if world > 1 and any_rank(run.stop, world, device):  # rank 0 stopped in validation
                break
            sums, n, t0 = run.epoch(epoch, state if epoch == start_epoch else None)
            if run.stop:
                log(f"interrupted: {out / 'last.pt'} holds {run.last_saved}; continue with --resume")
                break
            if not main:  # the other ranks wait for rank 0 at the next step's gradient sync
                continue
            run.end_epoch(epoch, sums, n, t0)
            if run.stop and world == 1:  # interrupted in validation: the epoch is saved
                log(f"interrupted: {out / 'last.pt'} holds {run.last_saved}; continue with --resume")
                break
    finally:
        modes.close()
        for sig, handler in old_handlers.items():
            signal.signal(sig, handler)
    summary = {"best": run.best, "epochs_done": len(run.history), "out": str(out),
               "device": str(device), "interrupted": run.stop, "world_size": world}
    if main:
        atomic_write_text(out / "summary.json", json.dumps(summary, indent=2))
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
    return summary


def _read_data(cfg: Config, splits, log):
    """The training split and the validation pairs that carry a window (the only ones scored)."""
    data = splits or load_splits(cfg.data, ("train", "val"), optional=("val",))
    if not data.train:
        raise DataError("the training split is empty")
    for split, report in (getattr(data, "reports", None) or {}).items():
        fixed = {k: v for k, v in report.items()
                 if v and (k.startswith("clamped") or k.startswith("dropped"))}
        if fixed:
            log(f"annotations ({split}): " + ", ".join(f"{k}={v}" for k, v in fixed.items()))
    val = [q for q in data.val if q.window is not None]
    if not val:
        log("no validation windows (no val split, or none of its pairs has a window): "
            "checkpoints are not selected; best.pt is the model after the last epoch")
    elif len(val) < len(data.val):
        log(f"validation: {len(data.val) - len(val)} of {len(data.val)} pairs have no window "
            "and are not scored")
    return data, val


def _build(cfg: Config, data, vocab: Vocab, state: dict | None, device: torch.device, world: int,
           log):
    """``(model, optimizer, net)``: the model with its word vectors and feature statistics on
    ``device``, Adam, and what a step calls (the model, or its DDP wrapper)."""
    tc = cfg.train
    torch.manual_seed(tc.seed)
    model = MS2D(cfg.model)
    pretrained = init_word_embeddings(model, vocab, cfg, copy=state is None, log=log)
    if pretrained is None and state is None:
        log("word vectors: none given, embeddings are learnt from scratch")
    if state is None and cfg.model.feature_norm == "standard":
        from ..data.features import feature_statistics

        mean, std = feature_statistics(data.store, sorted({q.vid for q in data.train}),
                                       progress=tc.progress)
        model.video.set_statistics(torch.from_numpy(mean), torch.from_numpy(std))
        log(f"feature_norm=standard: clip mean {mean.mean():.3f}, deviation {std.mean():.3f} "
            "(training split, per dimension; kept in the checkpoint)")
    model.to(device)
    if tc.compile:
        compile_hot_modules(model)
    opt = make_optimizer(model, tc.lr, tc.weight_decay)
    freeze_word_embeddings(model, opt, cfg.model.word_embeddings, pretrained)
    net = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(
            model, device_ids=[device] if device.type == "cuda" else None,
            find_unused_parameters=tc.supervision != "weak",  # full: the caption module idles
        )
        log(f"distributed: {world} processes, global batch {tc.batch_size} "
            f"({tc.batch_size // world} per process)")
    return model, opt, net


@dataclass
class _Run:
    """What the epochs of one run share: the model, the optimizer, the data, the history and
    best epoch so far, the last checkpoint written, and the stop flag set by Ctrl-C."""

    cfg: Config
    out: Path
    model: MS2D
    net: torch.nn.Module
    opt: torch.optim.Optimizer
    vocab: Vocab
    data: Splits
    val: list
    device: torch.device
    rank: int
    world: int
    log: Callable[..., None]
    feature_spec: dict
    best: dict | None = None
    history: list = field(default_factory=list)
    last_saved: str | None = None
    stop: bool = False

    def __post_init__(self):
        self.train_ds = MomentDataset(self.data.train, self.data.store, self.vocab,
                                      self.cfg.train.max_words)
        self.every = int(getattr(self.cfg.train, "checkpoint_every", 0) or 0)

    def restore(self, state: dict) -> int:
        """Weights, optimizer, history and best epoch from ``last.pt``; the epoch to start."""
        load_weights(self.model, state, self.out / "last.pt")
        self.opt.load_state_dict(state["optimizer"])
        epoch, self.best, self.history = state["epoch"], state.get("best"), state.get("history", [])
        step = int(state.get("step", 0))  # > 0: a mid-epoch checkpoint
        self.last_saved = f"epoch {epoch}" + (f", step {step} of epoch {epoch + 1}" if step else "")
        self.log(f"resumed from {self.out / 'last.pt'} after epoch {epoch}"
                 + (f" and {step} step(s) of epoch {epoch + 1}" if step else ""))
        return epoch

    def interrupt(self, signum, frame):  # first Ctrl-C / SIGTERM: finish the step, save, exit
        if self.stop:
            raise KeyboardInterrupt
        self.stop = True
        self.log(f"{signal.Signals(signum).name}: saving after this step (Ctrl-C again to abort)")

    def checkpoint(self, epoch: int, extra: dict | None = None) -> dict:
        return {"config": self.cfg.to_dict(), "model": self.model.state_dict(),
                "vocab": self.vocab.to_list(), "feature_spec": self.feature_spec, "epoch": epoch,
                "best": self.best, "history": self.history, "optimizer": self.opt.state_dict(),
                **(extra or {})}

    def epoch(self, epoch: int, state: dict | None):
        """The training steps of one epoch: ``(sums of the loss parts, batches, start time)``;
        when Ctrl-C stops it, ``self.stop`` is set and ``last.pt`` holds the steps done.

        ``state``: the checkpoint resumed from, when this is its epoch; a mid-epoch one makes
        the epoch skip the batches already done and replay the rest exactly."""
        tc, out, device = self.cfg.train, self.out, self.device
        epoch_seed = tc.seed * 1000 + epoch
        torch.manual_seed(epoch_seed)  # epoch-local RNG: resume at an epoch end is exact
        batches = _epoch_batches(len(self.train_ds), tc.batch_size, epoch_seed)
        sums: dict[str, float] = {}
        t0, skip = time.time(), 0
        resume_step = int(state.get("step", 0)) if state is not None else 0
        if resume_step:
            if state.get("batches") == len(batches):
                skip, sums = resume_step, dict(state.get("sums", {}))
                t0 -= float(state.get("seconds", 0.0))
                _set_rng_state(state["rng"])
            else:
                self.log(f"warning: the training pairs or train.batch_size changed since the "
                         f"mid-epoch checkpoint; epoch {epoch + 1} restarts from its beginning")
        local = [b[self.rank::self.world] for b in batches[skip:] if len(b) >= self.world]
        loader = DataLoader(self.train_ds, batch_sampler=local, collate_fn=collate,
                            generator=torch.Generator().manual_seed(epoch_seed),
                            num_workers=tc.num_workers, pin_memory=device.type == "cuda")
        self.model.train()
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{tc.epochs}", disable=not tc.progress,
                   leave=False, initial=skip, total=len(batches))
        for step, batch in enumerate(bar, start=skip):
            parts = self.step(to_device(batch, device), epoch, step)
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v
            bar.set_postfix({k: f"{v / (step + 1):.3f}" for k, v in sums.items()})
            done = step + 1
            self.stop = any_rank(self.stop, self.world, device)
            if self.rank == 0 and (self.stop or (self.every and done % self.every == 0
                                                 and done < len(batches))):
                # a mid-epoch checkpoint: the RNG state and the step let --resume replay the
                # rest of the epoch exactly
                save_checkpoint(out / "last.pt", self.checkpoint(epoch, {
                    "step": done, "batches": len(batches), "rng": _rng_state(),
                    "sums": dict(sums), "seconds": round(time.time() - t0, 2)}))
                self.last_saved = f"epoch {epoch}, step {done} of epoch {epoch + 1}"
            if self.stop:
                break
        return sums, max(len(batches), 1), t0

    def step(self, batch: dict, epoch: int, step: int) -> dict:
        """One optimizer step; the loss and its parts as floats."""
        tc = self.cfg.train
        with autocast(self.device, tc.amp):
            loss, parts = compute_loss(self.net, batch, self.cfg)
        value = loss.item()
        if not math.isfinite(value):
            qids = [self.data.train[i].qid for i in batch["index"][:5].tolist()]
            raise NonFiniteLoss(
                f"non-finite loss ({value}) at epoch {epoch + 1}, batch {step} "
                f"(queries {qids} ...); parts {parts}. Lower train.lr or check the features for "
                "extreme values; "
                + (f"{self.out / 'last.pt'} ({self.last_saved}) is intact: continue from it with "
                   "--resume (e.g. with a lower train.lr=...)" if self.last_saved else
                   "no checkpoint was written yet: start again with --overwrite"))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if tc.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), tc.grad_clip)
        self.opt.step()
        return {"loss": value, **parts}

    def end_epoch(self, epoch: int, sums: dict, n: int, t0: float) -> None:
        """Validate, write ``best.pt`` when validation improved, ``last.pt`` and the history."""
        tc, out = self.cfg.train, self.out
        metrics = (evaluate_queries(self.model, self.val, self.data.store, self.vocab, self.cfg,
                                    self.device)[0] if self.val else None)
        entry = {"epoch": epoch + 1, **{k: v / n for k, v in sums.items()}, "val": metrics,
                 "seconds": round(time.time() - t0, 2)}
        self.history.append(entry)
        score = metrics[tc.select_metric] if metrics else None
        # without validation windows every epoch replaces best.pt: the last one is kept
        best = self.best
        improved = score is None or best is None or best["score"] is None or score > best["score"]
        if improved:
            self.best = {"epoch": epoch + 1, "score": score,
                         "metric": tc.select_metric if metrics else None, "val": metrics}
        ckpt = self.checkpoint(epoch + 1)
        if improved:
            save_checkpoint(out / "best.pt", {k: v for k, v in ckpt.items() if k != "optimizer"})
        save_checkpoint(out / "last.pt", ckpt)
        self.last_saved = f"epoch {epoch + 1}"
        atomic_write_text(out / "history.json", json.dumps(self.history, indent=2))
        parts_txt = " ".join(f"{k}={v / n:.4f}" for k, v in sums.items())
        val_txt = (f"val {tc.select_metric}={score:.2f} mIoU={metrics['mIoU']:.2f}"
                   f"{' *' if improved else ''}" if metrics else "no validation")
        self.log(f"epoch {epoch + 1}/{tc.epochs} {parts_txt} {val_txt} ({entry['seconds']:.0f}s)")


def _epoch_batches(n: int, batch_size: int, seed: int) -> list[list[int]]:
    """The shuffled batches of one epoch, from a permutation drawn with its own generator.

    The order depends only on ``(n, batch_size, seed)``, so a run resumed mid-epoch skips the
    batches already done without loading them.
    """
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    return [perm[i:i + batch_size] for i in range(0, n, batch_size)]


def _rng_state() -> dict:
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["cpu"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _silent(*args, **kwargs) -> None:
    return None


__all__ = ["train", "NonFiniteLoss"]
