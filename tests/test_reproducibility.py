"""Reproducibility: same seed -> same weights; the run folder records what is needed to
reproduce it (manifest.json, config.yaml); big inputs are hashed from a documented sample."""

from __future__ import annotations

import json

import pytest
import yaml

import ms2d
import ms2d.reproducibility as repro
from _tiny import (
    TINY,
    assert_same_weights,
    cli,
    data_args,
    make_sim,
    single_thread,  # noqa: F401  (autouse fixture)
    state_tensors,
)
from ms2d.reproducibility import hash_input


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    return make_sim(tmp_path_factory.mktemp("sim"), n_train=12, n_val=4, n_test=4)


def _train(sim, out, *extra):
    rc, log = cli(["train", *data_args(sim), "--out", out, "--quiet", *TINY, "train.epochs=1",
                   *extra])
    assert rc == 0, log
    return out


def test_identical_trainings_give_identical_weights(sim, tmp_path):
    a = _train(sim, tmp_path / "a")
    b = _train(sim, tmp_path / "b")
    assert_same_weights(a / "last.pt", b / "last.pt")
    assert_same_weights(a / "best.pt", b / "best.pt")
    c = _train(sim, tmp_path / "c", "train.seed=1")
    ta, tc = state_tensors(a / "last.pt"), state_tensors(c / "last.pt")
    assert any(not ta[k].equal(tc[k]) for k in ta)  # the seed matters


def test_manifest_and_config_record_the_run(sim, tmp_path):
    out = _train(sim, tmp_path / "run", "train.seed=7")
    m = json.loads((out / "manifest.json").read_text())
    for key in ("ms2d_version", "torch_version", "numpy_version", "python", "platform",
                "git_commit", "git_dirty", "seed", "command", "inputs"):
        assert key in m, key
    assert m["ms2d_version"] == ms2d.__version__ and m["seed"] == 7
    assert m["git_commit"] is None or len(m["git_commit"]) == 40
    feats = m["inputs"]["features"]
    assert feats["path"] == str(sim / "features.hdf5") and feats["hash"] == "full"
    assert feats["sha256"] == hash_input(sim / "features.hdf5")["sha256"]
    assert feats["bytes"] == (sim / "features.hdf5").stat().st_size
    assert m["inputs"]["annotations"]["files"] >= 3  # the folder: every file below it
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert cfg["train"]["seed"] == 7 and cfg["model"]["hidden"] == 16
    rc, log = cli(["evaluate", out, "--split", "test"])
    assert rc == 0 and "protocol: simulated/test, protocol 2d-tan, IoU >= threshold" in log


def test_big_file_is_hashed_from_a_labelled_sample(tmp_path, monkeypatch):
    monkeypatch.setattr(repro, "SAMPLE_BYTES", 100)
    f = tmp_path / "big.bin"
    data = bytearray(range(256)) * 12  # 3072 bytes
    f.write_bytes(bytes(data))
    full = hash_input(f)
    assert full["hash"] == "full"
    small = hash_input(f, full_limit=1000)
    assert small["hash"] == "sample: size + first/last 0 MiB" and small["bytes"] == 3072
    data[1500] ^= 1  # the middle is not in the sample ...
    f.write_bytes(bytes(data))
    assert hash_input(f, full_limit=1000)["sha256"] == small["sha256"]
    assert hash_input(f)["sha256"] != full["sha256"]
    data[10] ^= 1  # ... the head is, and so are the tail and the size
    f.write_bytes(bytes(data))
    assert hash_input(f, full_limit=1000)["sha256"] != small["sha256"]
    f.write_bytes(bytes(data) + b"x")
    assert hash_input(f, full_limit=1000)["bytes"] == 3073


def test_a_file_over_1_gib_takes_a_sample_not_minutes(tmp_path):
    f = tmp_path / "huge.hdf5"
    with open(f, "wb") as fh:  # sparse: no disk space used
        fh.truncate((1 << 30) + 1)
    h = hash_input(f)
    assert h["hash"] == "sample: size + first/last 64 MiB" and h["bytes"] == (1 << 30) + 1


def test_big_folder_is_sampled_per_file(tmp_path):
    d = tmp_path / "npy"
    d.mkdir()
    for i in range(3):
        (d / f"v{i}.npy").write_bytes(bytes([i]) * 50_000)
    full = hash_input(d)
    assert full["hash"] == "full" and full["files"] == 3
    sampled = hash_input(d, full_limit=1000)
    assert sampled["hash"].startswith("sample: names + sizes + first/last")
    (d / "v1.npy").rename(d / "v9.npy")  # a renamed file changes the hash
    assert hash_input(d, full_limit=1000)["sha256"] != sampled["sha256"]
