"""The built-in simulated benchmark (ms2d.data.simulate, ``ms2d simulate``)."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

import ms2d
from ms2d.cli import main
from ms2d.data.simulate import (
    ACTIONS,
    OBJECTS,
    OUTPUT_FILES,
    SPLITS,
    SimConfig,
    event_appearance,
    simulate,
)

SMALL = dict(num_videos_train=12, num_videos_val=4, num_videos_test=6, feature_dim=32)


def _small(**kw) -> SimConfig:
    return SimConfig(**{**SMALL, **kw})


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    stats = simulate(out, _small(), progress=False)
    return out, stats


def _load(out):
    ann = {s: json.loads((out / f"{s}.json").read_text()) for s in SPLITS}
    events = json.loads((out / "events.json").read_text())
    return ann, events


def _features(out) -> dict[str, np.ndarray]:
    with h5py.File(out / "features.hdf5", "r") as f:
        return {k: f[k][()] for k in f}


def test_layout_and_metadata(sim):
    out, stats = sim
    for name in OUTPUT_FILES:
        assert (out / name).is_file()
    ann, events = _load(out)
    for split in SPLITS:
        n = SMALL[f"num_videos_{split}"]
        assert sorted(ann[split]) == [f"sim_{split}_{i:05d}" for i in range(n)]
        for rec in ann[split].values():
            assert set(rec) == {"duration", "timestamps", "sentences"}
            assert isinstance(rec["duration"], float)
            assert len(rec["timestamps"]) == len(rec["sentences"]) >= 1
    feats = _features(out)
    assert set(feats) == set(events) == {v for s in SPLITS for v in ann[s]}
    for x in feats.values():
        assert x.dtype == np.float32 and x.ndim == 2 and x.shape[1] == 32
        assert np.isfinite(x).all()

    meta = json.loads((out / "simulation.json").read_text())
    assert meta["seed"] == 0 and meta["version"] == ms2d.__version__
    assert SimConfig.from_dict(meta["config"]) == _small().resolved()
    assert meta["stats"] == stats
    assert stats["videos"] == {"train": 12, "val": 4, "test": 6, "total": 22}
    assert stats["pairs"]["total"] == sum(
        len(r["sentences"]) for s in SPLITS for r in ann[s].values()
    )
    assert 0 < stats["mean_moment_ratio"] < 1 and stats["vocabulary_size"] > 10
    assert stats["mean_duration"] > 0


def test_timestamps_clips_and_sentences(sim):
    out, _ = sim
    ann, events = _load(out)
    feats = _features(out)
    verbs = {a: {w for v in vs for w in v} for a, vs in ACTIONS.items()}
    for split in SPLITS:
        for vid, rec in ann[split].items():
            dur = rec["duration"]
            assert 12.0 <= dur <= 80.0
            assert feats[vid].shape[0] == max(1, round(dur / 1.0))
            assert events[vid]["num_clips"] == feats[vid].shape[0]
            for (s, e), sent in zip(rec["timestamps"], rec["sentences"]):
                assert 0.0 <= s < e <= dur
                assert round(s, 2) == s and round(e, 2) == e
                assert sent.endswith(".") and sent == sent.lower() and "  " not in sent
            # events.json agrees with the annotation: query k is the event with "query": k
            evs = events[vid]["events"]
            for e in evs:
                assert 0.0 <= e["start"] < e["end"] <= dur
            for a, b in zip(evs, evs[1:]):  # non-overlapping, in temporal order
                assert a["end"] <= b["start"]
            for k, (ts, sent) in enumerate(zip(rec["timestamps"], rec["sentences"])):
                (e,) = [e for e in evs if e["query"] == k]
                assert [e["start"], e["end"]] == ts
                body = sent.rstrip(".")
                assert any(v in body for v in verbs[e["action"]])
                assert any(n in body.split() for n in OBJECTS[e["object"]])


def test_queries_are_about_different_events_with_hard_negatives(sim):
    out, _ = sim
    _, events = _load(out)
    for vid, rec in events.items():
        evs = rec["events"]
        assert 3 <= len(evs) <= 5
        pairs = [(e["action"], e["object"]) for e in evs]
        assert len(set(pairs)) == len(pairs), vid  # every event a different type
        queried = [p for p, e in zip(pairs, evs) if e["query"] is not None]
        distractors = [p for p, e in zip(pairs, evs) if e["query"] is None]
        assert 2 <= len(queried) <= 3 and distractors
        assert sorted(e["query"] for e in evs if e["query"] is not None) == list(
            range(len(queried))
        )
        hard = [d for d in distractors if any((d[0] == q[0]) != (d[1] == q[1]) for q in queried)]
        assert hard, f"{vid}: no distractor shares a word-group with a query"
        # with hard_negative_prob=1 every distractor is a hard negative
        assert len(hard) == len(distractors)


def test_deterministic_and_seed_sensitive(tmp_path):
    cfg = _small(num_videos_train=5, num_videos_val=2, num_videos_test=2)
    simulate(tmp_path / "a", cfg, progress=False)
    simulate(tmp_path / "b", cfg, progress=False)
    simulate(
        tmp_path / "c",
        _small(num_videos_train=5, num_videos_val=2, num_videos_test=2, seed=1),
        progress=False,
    )
    for name in OUTPUT_FILES:
        if name.endswith(".json"):
            assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    fa, fb, fc = (_features(tmp_path / d) for d in "abc")
    assert fa.keys() == fb.keys()
    for k in fa:
        np.testing.assert_array_equal(fa[k], fb[k])
    assert (tmp_path / "a" / "train.json").read_bytes() != (
        tmp_path / "c" / "train.json"
    ).read_bytes()
    assert any(fa[k].shape != fc[k].shape or not np.array_equal(fa[k], fc[k]) for k in fa)


def test_splits_use_separate_streams(tmp_path):
    simulate(tmp_path / "a", _small(num_videos_train=3), progress=False)
    simulate(tmp_path / "b", _small(num_videos_train=7), progress=False)
    for split in ("val", "test"):
        assert (tmp_path / "a" / f"{split}.json").read_bytes() == (
            tmp_path / "b" / f"{split}.json"
        ).read_bytes()
    ta = json.loads((tmp_path / "a" / "train.json").read_text())
    tb = json.loads((tmp_path / "b" / "train.json").read_text())
    assert all(tb[k] == v for k, v in ta.items())  # a prefix of the bigger split


def test_refuses_to_overwrite(tmp_path):
    cfg = _small(num_videos_train=2, num_videos_val=1, num_videos_test=1)
    simulate(tmp_path, cfg, progress=False)
    before = (tmp_path / "train.json").read_bytes()
    with pytest.raises(FileExistsError, match="overwrite"):
        simulate(tmp_path, cfg, progress=False)
    assert (tmp_path / "train.json").read_bytes() == before
    simulate(
        tmp_path,
        _small(num_videos_train=2, num_videos_val=1, num_videos_test=1, seed=3),
        overwrite=True,
        progress=False,
    )
    assert (tmp_path / "train.json").read_bytes() != before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_config_validation():
    with pytest.raises(ValueError):
        SimConfig(events_per_video=(1, 3))
    with pytest.raises(ValueError):
        SimConfig(num_videos_train=-1)
    with pytest.raises(ValueError):
        SimConfig(moment_ratio_range=(0.5, 0.2))


def test_appearance_is_not_a_sum_of_words():
    app = event_appearance(SimConfig())
    actions, objects = list(ACTIONS), list(OBJECTS)
    assert len(actions) >= 12 and len(objects) >= 12
    assert set(app) == {(a, o) for a in actions for o in objects}
    keys = sorted(app)
    y = np.stack([app[k] for k in keys])
    assert y.shape == (len(actions) * len(objects), 256)
    np.testing.assert_allclose(np.linalg.norm(y, axis=1), 1.0, rtol=1e-6)
    # linear bag-of-words model: one vector per action + one per object
    x = np.zeros((len(keys), len(actions) + len(objects)))
    for r, (a, o) in enumerate(keys):
        x[r, actions.index(a)] = 1.0
        x[r, len(actions) + objects.index(o)] = 1.0
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    rel = np.linalg.norm(y - x @ coef) / np.linalg.norm(y - y.mean(0))
    assert rel > 0.5, rel
    # ... while the pairs are well separated from each other (the task is learnable)
    cos = y @ y.T
    np.fill_diagonal(cos, -1.0)
    assert cos.max() < 0.95


def test_cli(tmp_path, capsys):
    out = tmp_path / "d"
    argv = [
        "simulate",
        "--out",
        str(out),
        "--videos-train",
        "10",
        "--videos-val",
        "2",
        "--videos-test",
        "3",
        "--feature-dim",
        "16",
        "--seed",
        "5",
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert str(out / "train.json") in printed and "10 videos" in printed
    meta = json.loads((out / "simulation.json").read_text())
    assert meta["seed"] == 5 and meta["config"]["feature_dim"] == 16
    assert meta["stats"]["videos"]["total"] == 15
    assert main(argv + ["--quiet"]) == 2  # refuses
    assert "--overwrite" in capsys.readouterr().err
    assert main(argv + ["--quiet", "--overwrite"]) == 0
    assert capsys.readouterr().out == ""


def test_event_signal_is_visible(sim):
    """Clips inside a queried event align with its appearance more than clips outside."""
    out, _ = sim
    _, events = _load(out)
    feats = _features(out)
    app = event_appearance(_small())
    wins = total = 0
    for vid, rec in events.items():
        x = feats[vid] - feats[vid].mean(0)
        t = (np.arange(len(x)) + 0.5) * rec["duration"] / len(x)
        for e in rec["events"]:
            inside = (t > e["start"]) & (t < e["end"])
            if inside.all() or not inside.any():
                continue
            s = x @ app[(e["action"], e["object"])]
            wins += int(s[inside].mean() > s[~inside].mean())
            total += 1
    assert total > 20 and wins / total > 0.9


def test_paraphrases_and_synonyms():
    from ms2d.data.simulate.grammar import _sentence

    rng = np.random.default_rng(0)
    sents = {_sentence(rng, "pick up", "cup") for _ in range(300)}
    assert len(sents) > 50
    assert all(s.endswith(".") and s == s.lower() for s in sents)
    words = {w for s in sents for w in s.rstrip(".").split()}
    assert {"picked", "grabbed", "took", "taken", "cup", "mug"} <= words
    assert any(s.startswith("the ") and " by " in s for s in sents)  # passive paraphrase
