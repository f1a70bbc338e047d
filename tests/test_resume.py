"""Interrupted training: SIGKILL / SIGINT / a non-finite loss, then ``--resume``.

The contract (docs/reliability.md): ``last.pt`` is always a complete checkpoint (atomic
writes), and a run resumed from it ends with the same weights, bit for bit on CPU, as an
uninterrupted run with the same seed, whether it stopped at an epoch end or in the middle of
an epoch (``--checkpoint-every``, Ctrl-C).
"""

from __future__ import annotations

import os
import shutil
import signal

import pytest
import torch

import ms2d.train.loop as loop
from _tiny import (
    assert_same_weights,
    cli,
    make_sim,
    one_thread,
    single_thread,  # noqa: F401  (autouse fixture)
    start_cli,
    train_args,
    tree_hashes,
    wait_for,
)
from ms2d.checkpoint import load_checkpoint

EPOCHS = 3


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    # ~230 training pairs: 29 steps of 8 per epoch, long enough to be killed in the middle
    return make_sim(tmp_path_factory.mktemp("sim"), n_train=100)


@pytest.fixture(scope="module")
def reference(sim, tmp_path_factory):
    """The uninterrupted run every interrupted one must reproduce."""
    out = tmp_path_factory.mktemp("ref") / "run"
    with one_thread():
        rc, log = cli(train_args(sim, out, epochs=EPOCHS))
    assert rc == 0, log
    assert load_checkpoint(out / "last.pt")["epoch"] == EPOCHS
    return out


@pytest.fixture(scope="module")
def one_epoch(sim, tmp_path_factory):
    """A run folder after its first epoch (copied by the tests that damage it)."""
    out = tmp_path_factory.mktemp("one") / "run"
    with one_thread():
        rc, log = cli(train_args(sim, out, epochs=1))
    assert rc == 0, log
    return out


def _copy(run, tmp_path):
    dst = tmp_path / "run"
    shutil.copytree(run, dst)
    return dst


def _state(path):
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError):
        return None


def _resume(out, *extra):
    rc, log = cli(["train", "--out", out, "--resume", "--quiet", *extra])
    assert rc == 0, log
    assert "resumed from" in log
    return log


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_is_bit_identical(sim, reference, tmp_path):
    out = tmp_path / "run"
    proc = start_cli(train_args(sim, out, epochs=EPOCHS), tmp_path / "log.txt")
    try:
        wait_for(lambda: (out / "last.pt").exists(), proc)  # epoch 1 is saved: epoch 2 runs
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, (tmp_path / "log.txt").read_text()
    state = load_checkpoint(out / "last.pt")  # complete despite the kill
    assert state["epoch"] in (1, 2) and "step" not in state
    _resume(out)
    assert_same_weights(out / "last.pt", reference / "last.pt")
    assert_same_weights(out / "best.pt", reference / "best.pt")


@pytest.mark.slow
def test_sigkill_after_mid_epoch_checkpoint_replays_exactly(sim, reference, tmp_path):
    out = tmp_path / "run"
    proc = start_cli(train_args(sim, out, "--checkpoint-every", "4", epochs=EPOCHS),
                     tmp_path / "log.txt")

    def mid_epoch_2():
        st = _state(out / "last.pt") if (out / "last.pt").exists() else None
        return st is not None and st["epoch"] == 1 and st.get("step", 0) > 0

    try:
        wait_for(mid_epoch_2, proc, every=0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    state = load_checkpoint(out / "last.pt")
    assert state["epoch"] < EPOCHS
    if state.get("step"):
        assert {"rng", "sums"} <= set(state)
    log = _resume(out)
    if state.get("step"):
        assert f"{state['step']} step(s) of epoch {state['epoch'] + 1}" in log
    assert_same_weights(out / "last.pt", reference / "last.pt")
    # the resumed epoch's history (mean losses, validation) matches too, but for the timing
    ref_hist = load_checkpoint(reference / "last.pt")["history"]
    new_hist = load_checkpoint(out / "last.pt")["history"]
    assert [{k: v for k, v in e.items() if k != "seconds"} for e in new_hist] == [
        {k: v for k, v in e.items() if k != "seconds"} for e in ref_hist]


@pytest.mark.slow
def test_sigint_saves_and_exits_cleanly_then_resumes(sim, reference, tmp_path):
    out = tmp_path / "run"
    log_path = tmp_path / "log.txt"
    proc = start_cli(train_args(sim, out, epochs=EPOCHS), log_path)
    try:
        wait_for(lambda: (out / "last.pt").exists(), proc)
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    text = log_path.read_text()
    assert rc == 130, text
    assert "SIGINT: saving after this step" in text and "continue with --resume" in text
    assert "Traceback" not in text
    state = load_checkpoint(out / "last.pt")
    assert state["epoch"] < EPOCHS  # saved at the interrupt (mid-epoch: with "step" and "rng")
    _resume(out)
    assert_same_weights(out / "last.pt", reference / "last.pt")


def test_non_finite_loss_stops_with_a_clear_error_and_resume_continues(
        sim, reference, one_epoch, tmp_path, monkeypatch):
    out = _copy(one_epoch, tmp_path)
    before = tree_hashes(out)
    real = loop.compute_loss
    calls = {"n": 0}

    def nan_on_second_batch(*args, **kwargs):
        loss, parts = real(*args, **kwargs)
        calls["n"] += 1
        return (loss * float("nan") if calls["n"] == 2 else loss), parts

    monkeypatch.setattr(loop, "compute_loss", nan_on_second_batch)
    rc, log = cli(["train", "--out", out, "--resume", "--quiet", f"train.epochs={EPOCHS}"])
    assert rc == 3, log
    assert "training diverged: non-finite loss (nan) at epoch 2, batch 1" in log
    assert "queries [" in log and "Lower train.lr" in log
    assert f"{out / 'last.pt'} (epoch 1) is intact" in log and "--resume" in log
    after = tree_hashes(out)
    for name in ("last.pt", "best.pt", "history.json"):
        assert after[name] == before[name], name  # the previous epoch's checkpoint is intact
    monkeypatch.setattr(loop, "compute_loss", real)
    _resume(out)  # config.yaml now says train.epochs=3
    assert_same_weights(out / "last.pt", reference / "last.pt")


def test_sigterm_in_process_saves_mid_epoch_and_resumes_exactly(
        sim, reference, one_epoch, tmp_path, monkeypatch):
    """SIGTERM (a cluster's pre-emption notice) is handled like Ctrl-C."""
    out = _copy(one_epoch, tmp_path)
    real = loop.compute_loss
    calls = {"n": 0}

    def term_on_fifth_batch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            os.kill(os.getpid(), signal.SIGTERM)
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "compute_loss", term_on_fifth_batch)
    handler = signal.getsignal(signal.SIGTERM)
    rc, log = cli(["train", "--out", out, "--resume", "--quiet", f"train.epochs={EPOCHS}"])
    assert rc == 130, log
    assert signal.getsignal(signal.SIGTERM) is handler  # restored
    assert "SIGTERM: saving after this step" in log
    state = load_checkpoint(out / "last.pt")
    assert (state["epoch"], state["step"]) == (1, 5)
    monkeypatch.setattr(loop, "compute_loss", real)
    _resume(out)
    assert_same_weights(out / "last.pt", reference / "last.pt")


def test_mid_epoch_checkpoint_with_other_batches_restarts_the_epoch(
        one_epoch, tmp_path, monkeypatch):
    out = _copy(one_epoch, tmp_path)
    real = loop.compute_loss
    calls = {"n": 0}

    def term_on_second_batch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "compute_loss", term_on_second_batch)
    rc, log = cli(["train", "--out", out, "--resume", "--quiet", "train.epochs=2"])
    assert rc == 130, log
    monkeypatch.setattr(loop, "compute_loss", real)
    log = _resume(out, "train.batch_size=16")
    assert "warning: --resume changes train.batch_size: 8 -> 16" in log
    assert "epoch 2 restarts from its beginning" in log
    assert load_checkpoint(out / "last.pt")["epoch"] == 2


def test_truncated_last_pt_is_reported_not_loaded(one_epoch, tmp_path):
    out = _copy(one_epoch, tmp_path)
    data = (out / "last.pt").read_bytes()
    (out / "last.pt").write_bytes(data[: len(data) // 2])
    before = tree_hashes(out)
    rc, log = cli(["train", "--out", out, "--resume", "--quiet"])
    assert rc == 2
    assert f"{out / 'last.pt'} is corrupt" in log
    assert f"{out / 'best.pt'} (epoch 1) is intact and can be evaluated" in log
    assert "--overwrite" in log
    assert tree_hashes(out) == before


def test_resume_without_checkpoint_and_conflicting_flags(sim, one_epoch, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    rc, log = cli(train_args(sim, empty, "--resume"))
    assert rc == 2 and "last.pt does not exist" in log and "without --resume" in log
    out = _copy(one_epoch, tmp_path)
    before = tree_hashes(out)
    rc, log = cli(["train", "--out", out, "--resume", "--overwrite"])
    assert rc == 2 and "contradict" in log
    assert tree_hashes(out) == before


def test_resume_refuses_other_model_settings(one_epoch, tmp_path):
    out = _copy(one_epoch, tmp_path)
    before = tree_hashes(out)
    rc, log = cli(["train", "--out", out, "--resume", "--quiet", "model.hidden=32"])
    assert rc == 2
    assert "model.hidden: 16 -> 32" in log and "another --out folder" in log
    assert tree_hashes(out) == before  # config.yaml not rewritten


def test_resume_warns_when_training_settings_change(one_epoch, tmp_path):
    out = _copy(one_epoch, tmp_path)
    log = _resume(out, "train.lr=0.002", "train.epochs=2")
    assert "warning: --resume changes train.lr: 0.001 -> 0.002" in log
    assert load_checkpoint(out / "last.pt")["epoch"] == 2


def test_existing_run_is_refused_then_overwritten_explicitly(sim, one_epoch, tmp_path):
    out = _copy(one_epoch, tmp_path)
    before = tree_hashes(out)
    rc, log = cli(train_args(sim, out, epochs=1))
    assert rc == 2 and "already holds a run" in log and "--resume" in log
    assert tree_hashes(out) == before
    rc, log = cli(train_args(sim, out, "--overwrite", epochs=1))
    assert rc == 0, log
    assert "--overwrite: removed the previous run's best.pt, last.pt" in log
