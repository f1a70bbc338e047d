"""Tiny configurations and helpers shared by the reliability tests (resume, bad inputs, ...).

Everything here is sized for a 2-core CI machine: a few dozen simulated videos, 16-wide
models, one torch thread (``OMP_NUM_THREADS=1`` in subprocesses, ``torch.set_num_threads(1)``
in-process: weights compared bit for bit must come from runs with the same thread count, and a
second thread only slows tiny models down on a busy machine).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ms2d.cli import main
from ms2d.data.simulate import SimConfig, simulate

# Every source of training randomness is on: dropout, random word masking (word_mask defaults
# to 0.3), random exploration candidates; the DataLoader shuffles.
TINY = [
    "model.hidden=16", "model.word_dim=16", "model.caption_hidden=16", "model.conv_layers=1",
    "model.scales=[8,4]", "model.top_k=3", "model.text_layers=1", "model.explore=2",
    "model.dropout=0.2", "train.batch_size=8", "train.progress=false",
    # bit-identical resume on a GPU too (a CPU is deterministic anyway; CI has no GPU, the
    # lent GPU machine runs these tests through scripts/gpu_check.sh)
    "train.deterministic=true",
]


def make_sim(path: Path, n_train: int = 24, n_val: int = 6, n_test: int = 6, dim: int = 16) -> Path:
    simulate(path, SimConfig(num_videos_train=n_train, num_videos_val=n_val,
                             num_videos_test=n_test, feature_dim=dim), progress=False)
    return path


def data_args(sim: Path, features: Path | None = None) -> list[str]:
    return ["--dataset", "simulated", "--annotations", str(sim),
            "--features", str(features or sim / "features.hdf5")]


def train_args(sim: Path, out: Path, *extra: str, epochs: int = 2) -> list[str]:
    return ["train", *data_args(sim), "--out", str(out), "--quiet", *TINY,
            f"train.epochs={epochs}", *extra]


@contextlib.contextmanager
def one_thread():
    """Run in-process training with one torch thread (like the subprocesses)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def cli(argv: list[str]) -> tuple[int, str]:
    """``ms2d.cli.main(argv)`` in-process: ``(exit status, stdout + stderr)``."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        rc = main([str(a) for a in argv])
    return rc, buf.getvalue()


def subprocess_env() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    return env


def start_cli(argv: list[str], log: Path) -> subprocess.Popen:
    """``python -m ms2d.cli ARGV`` in the background, output to ``log``."""
    fh = open(log, "wb")  # noqa: SIM115 - closed by the child's exit, the test reads the file
    return subprocess.Popen([sys.executable, "-m", "ms2d.cli", *map(str, argv)], stdout=fh,
                            stderr=subprocess.STDOUT, env=subprocess_env())


def wait_for(predicate, proc: subprocess.Popen | None = None, timeout: float = 60.0,
             every: float = 0.005) -> None:
    """Poll until ``predicate()``; fail if ``proc`` exits first or the time runs out."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the process exited ({proc.returncode}) before the condition")
        time.sleep(every)
    raise AssertionError("timed out waiting")


def tree_hashes(root: Path) -> dict[str, str]:
    """``relative path -> sha256`` of every file below ``root`` (to prove nothing changed)."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def state_tensors(path: Path) -> dict[str, torch.Tensor]:
    """The model tensors and the optimizer's tensors of a checkpoint, flattened by name."""
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    out = {f"model.{k}": v for k, v in ckpt["model"].items()}
    for pid, st in ckpt.get("optimizer", {}).get("state", {}).items():
        for k, v in st.items():
            if isinstance(v, torch.Tensor):
                out[f"optimizer.{pid}.{k}"] = v
    return out


def assert_same_weights(a: Path, b: Path) -> None:
    ta, tb = state_tensors(a), state_tensors(b)
    assert ta.keys() == tb.keys()
    differ = [k for k in ta if not torch.equal(ta[k], tb[k])]
    assert not differ, f"{len(differ)} tensors differ, e.g. {differ[:3]}"


@pytest.fixture(autouse=True)
def single_thread():
    """Autouse in every module that imports it: in-process training on one torch thread."""
    with one_thread():
        yield
