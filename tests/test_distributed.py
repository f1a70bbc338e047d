"""Two CPU processes (torchrun, gloo) train to the same weights as one process with the same
global batch."""

import json
import os
import subprocess
import sys

import pytest
import torch

from _tiny import make_sim

# No randomness inside a step (no dropout, word masking or exploration), so that the two runs
# can be compared: the data order is the same, and DDP averages the two half-batch gradients
# into the full-batch gradient.
DETERMINISTIC = [
    "model.hidden=16", "model.word_dim=16", "model.caption_hidden=16", "model.conv_layers=1",
    "model.scales=[8,4]", "model.top_k=3", "model.text_layers=1", "model.explore=0",
    "model.dropout=0", "model.word_mask=0", "train.batch_size=8", "train.epochs=2",
    "train.progress=false", "data.train_subset=32",
]


def _train(sim, out, launcher, extra=()):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [*launcher, "-m", "ms2d.cli", "train", "--dataset", "simulated", "--annotations",
           str(sim), "--features", str(sim / "features.hdf5"), "--out", str(out), "--quiet",
           *DETERMINISTIC, *extra]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return torch.load(out / "last.pt", weights_only=True)


@pytest.mark.slow
@pytest.mark.parametrize("extra", [(), ("model.scales=[64]", "model.kernel=3")],
                         ids=["two-scales", "n64-tap-major"])
def test_two_gloo_processes_match_one_process(tmp_path, extra):
    # n64-tap-major: one N=64 map, where the diagonal convolution runs and the conv weights are
    # stored tap-major (ms2d.ops.diagonal.TapMajorConv2d)
    sim = make_sim(tmp_path / "sim", n_train=20, n_val=4, n_test=4)
    single = _train(sim, tmp_path / "one", [sys.executable], extra)
    ddp = _train(sim, tmp_path / "two", [sys.executable, "-m", "torch.distributed.run",
                                         "--nproc_per_node", "2", "--master_port", "29517"], extra)
    assert json.loads((tmp_path / "two" / "summary.json").read_text())["world_size"] == 2
    assert json.loads((tmp_path / "one" / "summary.json").read_text())["world_size"] == 1
    assert ddp["epoch"] == single["epoch"] == 2
    for k, v in single["model"].items():
        assert torch.allclose(v, ddp["model"][k], atol=1e-5, rtol=1e-4), k
    # and the runs did train: the teacher's loss falls (the total may not in 8 steps: the
    # student's RG-BCE is against labels that sharpen as the zero-initialised teacher learns)
    assert ddp["history"][-1]["rec"] < ddp["history"][0]["rec"]
