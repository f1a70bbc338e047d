"""One plain training loop: weak (the paper) or full supervision, validation-based selection.

Nothing here branches on model names: the model comes from the registry, the loss from
``train.supervision``.
"""

from __future__ import annotations

import json
import math
import os
import signal
import time
from contextlib import ExitStack, contextmanager, nullcontext
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ..config import Config, save_config
from ..data.dataset import MomentDataset, collate
from ..data.records import DataError, Query
from ..data.vocab import Vocab
from ..eval.metrics import compute_metrics
from ..files import atomic_write_text, check_output_dir
from ..inference import candidate_table, flat_scores, rank_moments
from ..losses import full_supervision_loss, pseudo_labels, reconstruction_loss, rg_bce
from ..models import MS2D, model_config
from ..models.maps import cell_times
from ..utils import pick_device
from .checkpoint import load_checkpoint, load_weights, save_checkpoint
from .data import build_vocab, load_splits
from .embeddings import freeze_word_embeddings, init_word_embeddings


class NonFiniteLoss(RuntimeError):
    pass


def _eval_loader(ds, batch_size, workers, pin):
    """In-order batches for validation and prediction (training batches: ``_epoch_batches``)."""
    return DataLoader(ds, batch_size=batch_size, shuffle=False, collate_fn=collate,
                      num_workers=workers, pin_memory=pin)


def _to(batch: dict, device: torch.device) -> dict:
    nb = device.type == "cuda"
    return {k: v.to(device, non_blocking=nb) for k, v in batch.items()}


def cell_iou(n: int, duration: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """IoU of every cell of an ``n x n`` map with each query's window: ``[B, n, n]``."""
    t = cell_times(n, duration)
    s, e = window[:, 0, None, None], window[:, 1, None, None]
    inter = (torch.minimum(t[..., 1], e) - torch.maximum(t[..., 0], s)).clamp(min=0)
    union = torch.maximum(t[..., 1], e) - torch.minimum(t[..., 0], s)
    return inter / union.clamp(min=1e-6)


def compute_loss(model: MS2D, batch: dict, cfg: Config) -> tuple[torch.Tensor, dict]:
    """The training objective of one batch: ``(loss, parts)``.

    Full supervision: 2D-TAN's scaled-IoU BCE on every cell of every scale. Weak supervision:
    ``L = L_rgbce + lambda * L_rec``, where RG-BCE fits the student's scores of the teacher's
    candidates to the pseudo-labels of ``train.label_rule`` and ``L_rec`` is the teacher's own
    loss (the caption module's mean word NLL over its candidates, METHOD.md section 4; or the
    appearance teacher's error on the whole video). ``parts`` also holds ``rgbce_const``, the
    RG-BCE of the best constant prediction: a student that stays there has learnt nothing.
    """
    tc = cfg.train
    weak = tc.supervision == "weak"
    out = model(batch["feats"], batch["lengths"], batch["words"], batch["word_lengths"],
                captions=weak, video=batch.get("video"))
    if not weak:
        if torch.isnan(batch["window"]).any():
            raise DataError("full supervision needs a ground-truth window for every training pair")
        loss = sum(
            full_supervision_loss(lg, cell_iou(n, batch["duration"], batch["window"]), m)
            for n, lg, m in zip(_unwrap(model).cfg.scales, out["logits"], out["masks"])
        ) / len(out["logits"])
        return loss, {"iou_bce": loss.item()}
    evidence = out["evidence"]
    if tc.label_rule == "evidence":  # one soft ranking over every candidate of every scale
        labels = pseudo_labels(torch.cat(evidence, 1), "evidence", temperature=tc.sharpness)
    else:  # the caption teacher's rules: within each scale's candidates
        labels = torch.cat([pseudo_labels(e, tc.label_rule, tc.l_min, tc.l_max)
                            for e in evidence], 1)
    l_bce = rg_bce(torch.cat(out["cand_logits"], 1), labels)
    q = labels.mean().clamp(1e-6, 1 - 1e-6)
    parts = {"rgbce": l_bce.item(),
             "rgbce_const": float(-(q * q.log() + (1 - q) * (1 - q).log()))}
    if "appearance_loss" in out:
        l_rec = out["appearance_loss"]
    else:
        l_rec = reconstruction_loss(torch.cat(evidence, 1), batch["word_lengths"])
    return l_bce + tc.rec_weight * l_rec, {**parts, "rec": l_rec.item()}


@torch.no_grad()
def predict(model: MS2D, loader, device, top_n: int = 5, nms: float = 0.5, progress=False):
    """Ranked moments (seconds) for every item of the loader, in loader order."""
    model.eval()
    frac, _ = candidate_table(model.cfg.scales, model.masks("cpu"))
    preds = []
    for batch in tqdm(loader, desc="predict", disable=not progress, leave=False):
        batch = _to(batch, device)
        out = model(batch["feats"], batch["lengths"], batch["words"], batch["word_lengths"])
        scores = flat_scores(out["logits"], out["masks"]).float().cpu().numpy()
        for s, d in zip(scores, batch["duration"].cpu().numpy()):
            preds.append(rank_moments(s, frac, d, top_n=top_n, nms_threshold=nms))
    return preds


def evaluate_queries(model, queries: list[Query], store, vocab, cfg: Config, device, progress=False):
    ds = MomentDataset(queries, store, vocab, cfg.train.max_words)
    loader = _eval_loader(ds, cfg.train.batch_size, cfg.train.num_workers, device.type == "cuda")
    preds = predict(model, loader, device, top_n=5, nms=cfg.train.nms, progress=progress)
    gts = [np.array(q.windows, dtype=np.float64) for q in queries]  # several: best match
    windows = [np.array([[m.start, m.end] for m in p]).reshape(-1, 2) for p in preds]
    return compute_metrics(windows, gts), preds


def run_manifest(cfg: Config) -> dict:
    """What is needed to reproduce a run besides the config: versions, commit, input hashes."""
    from ..reproducibility import describe_environment

    return describe_environment(cfg)


# Files of a run that --overwrite replaces (config.yaml and manifest.json are rewritten anyway).
_RUN_FILES = ("best.pt", "last.pt", "history.json", "summary.json")


def _prepare_out(out: Path, resume: bool, overwrite: bool, log=print) -> None:
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


def _load_resume_state(out: Path) -> dict:
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


def _check_resume_config(cfg: Config, state: dict, out: Path, log) -> None:
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


def compile_hot_modules(model: MS2D) -> MS2D:
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


def train(cfg: Config, out_dir: str | os.PathLike, *, resume: bool = False, overwrite: bool = False,
          splits=None, log=print) -> dict:
    """Train, validate each epoch, keep ``best.pt`` (by ``train.select_metric`` on validation)
    and ``last.pt`` (for ``resume``). Returns a summary dict (also written to ``summary.json``)."""
    tc = cfg.train
    out = Path(out_dir)
    cfg.validate()  # every setting and the device, before any file or data is touched
    rank, world, device = _distributed(pick_device(tc.device, "train.device"))
    main = rank == 0  # only rank 0 writes the run folder and logs
    if not main:
        log = _silent
    if main:
        _prepare_out(out, resume, overwrite, log)
        for note in cfg.notes:  # settings given that this config never reads
            log(f"warning: {note}")
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
    state = _load_resume_state(out) if resume else None  # before reading data: fail fast
    data = splits or load_splits(cfg.data, ("train", "val"), optional=("val",))
    if not data.train:
        raise DataError("the training split is empty")
    for split, report in (getattr(data, "reports", None) or {}).items():
        fixed = {k: v for k, v in report.items()
                 if v and (k.startswith("clamped") or k.startswith("dropped"))}
        if fixed:
            log(f"annotations ({split}): " + ", ".join(f"{k}={v}" for k, v in fixed.items()))
    val = [q for q in data.val if q.window is not None]  # only pairs with a window score
    if not val:
        log("no validation windows (no val split, or none of its pairs has a window): "
            "checkpoints are not selected; best.pt is the model after the last epoch")
    elif len(val) < len(data.val):
        log(f"validation: {len(data.val) - len(val)} of {len(data.val)} pairs have no window "
            "and are not scored")
    if state is not None:
        vocab = Vocab.from_list(state["vocab"])
    else:
        vocab = build_vocab(data.train)
    cfg.model = model_config(tc.model, cfg.model, feature_dim=data.store.dim, vocab_size=len(vocab))
    if state is not None:
        _check_resume_config(cfg, state, out, log)  # before config.yaml is rewritten
    if main:
        save_config(cfg, out / "config.yaml")
        atomic_write_text(out / "manifest.json", json.dumps(run_manifest(cfg), indent=2))

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
    net = model  # what the training step calls: the model, or its DDP wrapper
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(
            model, device_ids=[device] if device.type == "cuda" else None,
            find_unused_parameters=tc.supervision != "weak",  # full: the caption module idles
        )
        log(f"distributed: {world} processes, global batch {tc.batch_size} "
            f"({tc.batch_size // world} per process)")
    start_epoch, best, history, resume_step = 0, None, [], 0
    if state is not None:
        load_weights(model, state, out / "last.pt")
        opt.load_state_dict(state["optimizer"])
        start_epoch, best, history = state["epoch"], state.get("best"), state.get("history", [])
        resume_step = int(state.get("step", 0))  # > 0: a mid-epoch checkpoint
        log(f"resumed from {out / 'last.pt'} after epoch {start_epoch}"
            + (f" and {resume_step} step(s) of epoch {start_epoch + 1}" if resume_step else ""))
    train_ds = MomentDataset(data.train, data.store, vocab, tc.max_words)
    feature_spec = _feature_spec(cfg, data.store)
    if (tc.amp or tc.tf32) and device.type != "cuda":
        log(f"train.amp / train.tf32 apply to GPUs only: training on {device.type} in fp32")

    stop = {"flag": False}
    every = int(getattr(tc, "checkpoint_every", 0) or 0)  # mid-epoch checkpoints every N steps
    last_saved = None if state is None else f"epoch {start_epoch}" + (
        f", step {resume_step} of epoch {start_epoch + 1}" if resume_step else "")

    def _interrupt(signum, frame):  # first Ctrl-C / SIGTERM: finish the step, save, exit
        if stop["flag"]:
            raise KeyboardInterrupt
        stop["flag"] = True
        log(f"{signal.Signals(signum).name}: saving after this step (Ctrl-C again to abort)")

    def _checkpoint(epoch: int, extra: dict | None = None) -> dict:
        return {"config": cfg.to_dict(), "model": model.state_dict(), "vocab": vocab.to_list(),
                "feature_spec": feature_spec, "epoch": epoch, "best": best, "history": history,
                "optimizer": opt.state_dict(), **(extra or {})}

    handled = (signal.SIGINT, signal.SIGTERM)
    old_handlers = {s: signal.signal(s, _interrupt) for s in handled} if _main_thread() else {}
    modes = ExitStack()  # the run's numeric modes, left on exit
    try:
        modes.enter_context(tf32_mode(device, tc.tf32))
        if tc.deterministic:
            modes.enter_context(deterministic_mode())
        for epoch in range(start_epoch, tc.epochs):
            if world > 1 and _any_rank(stop["flag"], world, device):  # rank 0 stopped in validation
                break
            epoch_seed = tc.seed * 1000 + epoch
            torch.manual_seed(epoch_seed)  # epoch-local RNG: resume at an epoch end is exact
            batches = _epoch_batches(len(train_ds), tc.batch_size, epoch_seed)
            sums: dict[str, float] = {}
            t0, skip = time.time(), 0
            if resume_step and epoch == start_epoch:  # mid-epoch checkpoint: replay exactly
                if state.get("batches") == len(batches):
                    skip, sums = resume_step, dict(state.get("sums", {}))
                    t0 -= float(state.get("seconds", 0.0))
                    _set_rng_state(state["rng"])
                else:
                    log(f"warning: the training pairs or train.batch_size changed since the "
                        f"mid-epoch checkpoint; epoch {epoch + 1} restarts from its beginning")
            local = [b[rank::world] for b in batches[skip:] if len(b) >= world]
            loader = DataLoader(train_ds, batch_sampler=local, collate_fn=collate,
                                generator=torch.Generator().manual_seed(epoch_seed),
                                num_workers=tc.num_workers, pin_memory=device.type == "cuda")
            model.train()
            bar = tqdm(loader, desc=f"epoch {epoch + 1}/{tc.epochs}", disable=not tc.progress,
                       leave=False, initial=skip, total=len(batches))
            for step, batch in enumerate(bar, start=skip):
                batch = _to(batch, device)
                with autocast(device, tc.amp):
                    loss, parts = compute_loss(net, batch, cfg)
                loss_value = loss.item()
                if not math.isfinite(loss_value):
                    raise NonFiniteLoss(
                        f"non-finite loss ({loss_value}) at epoch {epoch + 1}, batch {step} "
                        f"(queries {[data.train[i].qid for i in batch['index'][:5].tolist()]} ...); "
                        f"parts {parts}. Lower train.lr or check the features for extreme values; "
                        + (f"{out / 'last.pt'} ({last_saved}) is intact: continue from it with "
                           "--resume (e.g. with a lower train.lr=...)" if last_saved else
                           "no checkpoint was written yet: start again with --overwrite")
                    )
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if tc.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
                opt.step()
                for k, v in {"loss": loss_value, **parts}.items():
                    sums[k] = sums.get(k, 0.0) + v
                bar.set_postfix({k: f"{v / (step + 1):.3f}" for k, v in sums.items()})
                done = step + 1
                stop["flag"] = _any_rank(stop["flag"], world, device)
                if main and (stop["flag"] or (every and done % every == 0 and done < len(batches))):
                    # a mid-epoch checkpoint: the RNG state and the step let --resume replay
                    # the rest of the epoch exactly
                    save_checkpoint(out / "last.pt", _checkpoint(epoch, {
                        "step": done, "batches": len(batches), "rng": _rng_state(),
                        "sums": dict(sums), "seconds": round(time.time() - t0, 2)}))
                    last_saved = f"epoch {epoch}, step {done} of epoch {epoch + 1}"
                if stop["flag"]:
                    break
            if stop["flag"]:
                log(f"interrupted: {out / 'last.pt'} holds {last_saved}; continue with --resume")
                break
            n = max(len(batches), 1)
            if not main:  # the other ranks wait for rank 0 at the next step's gradient sync
                continue
            metrics = (evaluate_queries(model, val, data.store, vocab, cfg, device)[0]
                       if val else None)
            entry = {"epoch": epoch + 1, **{k: v / n for k, v in sums.items()}, "val": metrics,
                     "seconds": round(time.time() - t0, 2)}
            history.append(entry)
            score = metrics[tc.select_metric] if metrics else None
            # without validation windows every epoch replaces best.pt: the last one is kept
            improved = (score is None or best is None or best["score"] is None
                        or score > best["score"])
            if improved:
                best = {"epoch": epoch + 1, "score": score,
                        "metric": tc.select_metric if metrics else None, "val": metrics}
            ckpt = _checkpoint(epoch + 1)
            if improved:
                save_checkpoint(out / "best.pt", {k: v for k, v in ckpt.items() if k != "optimizer"})
            save_checkpoint(out / "last.pt", ckpt)
            last_saved = f"epoch {epoch + 1}"
            atomic_write_text(out / "history.json", json.dumps(history, indent=2))
            parts_txt = " ".join(f"{k}={v / n:.4f}" for k, v in sums.items())
            val_txt = (f"val {tc.select_metric}={score:.2f} mIoU={metrics['mIoU']:.2f}"
                       f"{' *' if improved else ''}" if metrics else "no validation")
            log(f"epoch {epoch + 1}/{tc.epochs} {parts_txt} {val_txt} ({entry['seconds']:.0f}s)")
            if stop["flag"] and world == 1:  # interrupted in validation: the epoch is saved
                log(f"interrupted: {out / 'last.pt'} holds {last_saved}; continue with --resume")
                break
    finally:
        modes.close()
        for sig, handler in old_handlers.items():
            signal.signal(sig, handler)
    summary = {"best": best, "epochs_done": len(history), "out": str(out), "device": str(device),
               "interrupted": stop["flag"], "world_size": world}
    if main:
        atomic_write_text(out / "summary.json", json.dumps(summary, indent=2))
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
    return summary


def _silent(*args, **kwargs) -> None:
    return None


def _feature_spec(cfg: Config, store) -> dict:
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


def _unwrap(model):
    """The model inside a DistributedDataParallel wrapper (or the model itself)."""
    return getattr(model, "module", model)


def _distributed(device: torch.device) -> tuple[int, int, torch.device]:
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


def _any_rank(flag: bool, world: int, device: torch.device) -> bool:
    """True on every rank when it is true on one (so that all ranks stop at the same step).
    The flag travels on the training device: NCCL reduces GPU tensors only."""
    if world <= 1:
        return flag
    import torch.distributed as dist

    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def load_model(path, device: str | torch.device = "cpu") -> tuple[MS2D, Vocab, dict]:
    """Rebuild a model from a checkpoint (file or run folder)."""
    ckpt = load_checkpoint(path, map_location=device)
    cfg = Config.from_dict(ckpt["config"])
    model = MS2D(cfg.model)
    load_weights(model, ckpt, path)
    model.to(device).eval()
    return model, Vocab.from_list(ckpt["vocab"]), ckpt


__all__ = ["train", "predict", "evaluate_queries", "load_model", "NonFiniteLoss"]
