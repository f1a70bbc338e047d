"""The family of simulated worlds (ms2d.data.simulate.worlds) and their feature statistics."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ms2d.cli import main
from ms2d.data.records import Query
from ms2d.data.simulate import WORLDS, simulate, world_config
from ms2d.data.simulate.real import simulate_features

SMALL = dict(num_videos_train=16, num_videos_val=4, num_videos_test=4)


@pytest.mark.parametrize("name", list(WORLDS))
def test_every_world_simulates_with_its_feature_story(tmp_path, name):
    cfg = world_config(name, **SMALL)
    stats = simulate(tmp_path, cfg, progress=False)
    f = stats["features"]
    assert stats["world"] == name and stats["pairs"]["train"] >= 16
    if cfg.features == "gaussian":
        assert abs(f["mean"]) < 0.05 and 0.4 < f["negative"] < 0.6
    if cfg.features == "relu":
        assert f["negative"] == 0.0
    if name == "i3d":  # dense, non-negative, a large component shared by every clip
        assert 0.2 < f["mean"] < 0.35 and f["std"] < 0.25 and f["shared_energy"] > 0.6
    if name == "vgg":  # sparse
        assert f["zero"] > 0.5
    if name == "c3d":  # projected: negative values and a shared offset
        assert f["negative"] > 0.2 and f["shared_energy"] > 0.2
    ann = json.loads((tmp_path / "train.json").read_text())
    for rec in ann.values():
        for s, e in rec["timestamps"]:
            assert 0 <= s < e <= rec["duration"]


def test_real_moment_statistics_shape_the_worlds(tmp_path):
    """The i3d world draws moments from Charades-STA's statistics (short videos, moments about a
    quarter of the video, a fifth starting at 0); c3d from ActivityNet's (long videos)."""
    ratios, starts = [], []
    simulate(tmp_path / "i3d", world_config("i3d", num_videos_train=200, num_videos_val=1,
                                            num_videos_test=1), progress=False)
    ann = json.loads((tmp_path / "i3d" / "train.json").read_text())
    durations = [r["duration"] for r in ann.values()]
    for rec in ann.values():
        for s, e in rec["timestamps"]:
            ratios.append((e - s) / rec["duration"])
            starts.append(s)
    assert 25 < np.median(durations) < 36 and 0.2 < np.median(ratios) < 0.4
    assert 0.1 < np.mean(np.array(starts) == 0) < 0.35
    simulate(tmp_path / "c3d", world_config("c3d", num_videos_train=60, num_videos_val=1,
                                            num_videos_test=1), progress=False)
    ann = json.loads((tmp_path / "c3d" / "train.json").read_text())
    assert np.median([r["duration"] for r in ann.values()]) > 80


def test_unknown_world_says_what_is_known():
    with pytest.raises(ValueError, match="did you mean 'i3d'"):
        world_config("i3db")


@pytest.mark.parametrize("name", ["i3d", "vgg"])
def test_real_annotations_in_every_world(tmp_path, name):
    queries = [Query(f"v{i}#0", f"v{i}", s, 30.0, (5.0, 15.0)) for i, s in
               enumerate(["a person opens the door", "person eating a sandwich"])]
    stats = simulate_features(queries, tmp_path / "f.hdf5", layout="flat", dim=256,
                              clips_per_second=1.0, world=name, progress=False)
    assert stats["world"] == name and stats["features"]["negative"] == 0.0


def test_cli_world(tmp_path, capsys):
    rc = main(["simulate", "--out", str(tmp_path), "--world", "i3d", "--videos-train", "8",
               "--videos-val", "2", "--videos-test", "2"])
    out = capsys.readouterr().out
    assert rc == 0 and "world i3d" in out and "0% negative" in out
    meta = json.loads((tmp_path / "simulation.json").read_text())
    assert meta["config"]["features"] == "relu" and meta["config"]["feature_dim"] == 1024
