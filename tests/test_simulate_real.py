"""Simulated features for the real annotations (ms2d.data.simulate.real, ``ms2d simulate-features``)."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from ms2d.cli import main
from ms2d.commands.simulate_features import parse_subset, select_queries
from ms2d.data.annotations import read_annotations
from ms2d.data.features import open_features
from ms2d.data.records import Query
from ms2d.data.simulate.real import (
    content_words,
    num_clips,
    sentence_appearance,
    simulate_features,
    stem,
    word_code,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CHARADES = SHARED / "charades-sta"
ANET = SHARED / "activitynet-captions"

QUERIES = [
    Query("v1#0", "v1", "a person opens the door.", 30.0, (2.0, 9.0)),
    Query("v1#1", "v1", "the person sits on a chair", 30.0, (15.0, 25.0)),
    Query("v2#0", "v2", "someone is holding a cup", 12.3, (0.0, 4.5)),
    Query("v2#1", "v2", "a person puts the cup on a table", 12.3, (6.0, 12.3)),
    Query("v3#0", "v3", "A man is playing the guitar.", 0.4, (0.0, 0.4)),
    Query("v4#0", "v4", "person laughing", 20.0, None),  # no window: no event, still a video
]


def _write(path: Path, queries=QUERIES, **kw) -> dict:
    args = {"layout": "flat", "dim": 48, "clips_per_second": 1.0, "progress": False, **kw}
    return simulate_features(queries, path, **args)


def _arrays(path: Path) -> dict[str, np.ndarray]:
    store = open_features(path)
    try:
        return {v: store.get(v) for v in store.video_ids}
    finally:
        store.close()


def _cos(x: np.ndarray, a: np.ndarray) -> np.ndarray:
    return x @ a / np.maximum(np.linalg.norm(x, axis=1), 1e-12)


_counter = iter(range(10**6))


def _arrays_of(tmp_path: Path, seed: int) -> dict[str, np.ndarray]:
    out = tmp_path / f"f{next(_counter)}.hdf5"
    _write(out, seed=seed)
    return _arrays(out)


def test_deterministic_and_seeded(tmp_path):
    a, b, c = _arrays_of(tmp_path, seed=0), _arrays_of(tmp_path, seed=0), _arrays_of(tmp_path, 1)
    assert a.keys() == b.keys() == c.keys()
    for vid in a:
        np.testing.assert_array_equal(a[vid], b[vid])
        assert not np.allclose(a[vid], c[vid])


def test_flat_layout_every_video_with_its_clip_count(tmp_path):
    out = tmp_path / "charades_like.hdf5"
    stats = _write(out, dim=1024)
    store = open_features(out)
    try:
        assert store.layout == "flat-hdf5" and store.dim == 1024
        durations = {q.vid: q.duration for q in QUERIES}
        assert store.video_ids == sorted(durations)
        for vid, dur in durations.items():
            feats = store.get(vid)
            assert feats.dtype == np.float32 and feats.shape == (num_clips(dur, 1.0), 1024)
            assert np.isfinite(feats).all()
    finally:
        store.close()
    assert num_clips(0.4, 1.0) == 1 and num_clips(12.3, 1.0) == 12 and num_clips(30, 0.5) == 15
    assert stats["videos"] == 4 and stats["pairs"] == 6 and stats["events"] == 5
    assert stats["no_window"] == 1 and stats["bytes"] == out.stat().st_size
    with h5py.File(out, "r") as f:
        meta = json.loads(f.attrs["ms2d_simulation"])
    assert meta["layout"] == "flat" and meta["dim"] == 1024 and meta["seed"] == 0


def test_grouped_layout_c3d_features(tmp_path):
    out = tmp_path / "anet_like.hdf5"
    _write(out, layout="grouped", dim=500, clips_per_second=0.5)
    store = open_features(out)
    try:
        assert store.layout == "grouped-hdf5" and store.dim == 500 and store.key == "c3d_features"
        assert store.get("v1").shape == (15, 500) and store.get("v2").shape == (6, 500)
    finally:
        store.close()
    with h5py.File(out, "r") as f:
        assert list(f["v1"].keys()) == ["c3d_features"]


def test_the_window_carries_the_sentence(tmp_path):
    dim = 256
    queries = [
        Query(f"x{i}#0", f"x{i}", s, 40.0, (10.0, 22.0))
        for i, s in enumerate(["a person opens the door", "person eating a sandwich",
                               "someone is throwing a pillow", "a person closes the laptop"])
    ]
    out = tmp_path / "f.hdf5"
    _write(out, queries, dim=dim)
    feats = _arrays(out)
    for q in queries:
        x = feats[q.vid]
        a = sentence_appearance(q.sentence, dim)
        cos = _cos(x, a)
        inside, outside = cos[12:20].mean(), np.r_[cos[:9], cos[24:]].mean()
        assert inside > 0.4 and abs(outside) < 0.15, (q.sentence, inside, outside)
        # and the window looks like *its* sentence, not like the other sentences
        others = [_cos(x, sentence_appearance(o.sentence, dim))[12:20].mean()
                  for o in queries if o is not q]
        assert inside > max(others) + 0.2


def test_overlapping_windows_add_up(tmp_path):
    dim = 128
    one = [Query("v#0", "v", "a person opens the door", 30.0, (5.0, 20.0))]
    two = one + [Query("v#1", "v", "person eating a sandwich", 30.0, (10.0, 25.0))]
    a, b = tmp_path / "a.hdf5", tmp_path / "b.hdf5"
    _write(a, one, dim=dim)
    _write(b, two, dim=dim)
    diff = _arrays(b)["v"] - _arrays(a)["v"]  # the second event alone (same video noise)
    norms = np.linalg.norm(diff, axis=1)
    assert norms[:9].max() < 1e-4 and norms[26:].max() < 1e-4 and norms[12:23].min() > 1.0
    cos = _cos(diff[12:23], sentence_appearance("person eating a sandwich", dim))
    assert cos.mean() > 0.9


def test_a_video_does_not_depend_on_the_other_videos(tmp_path):
    a, b = tmp_path / "a.hdf5", tmp_path / "b.hdf5"
    _write(a)
    _write(b, [q for q in reversed(QUERIES) if q.vid in ("v2", "v3")])
    fa, fb = _arrays(a), _arrays(b)
    assert sorted(fb) == ["v2", "v3"]
    for vid in fb:
        np.testing.assert_array_equal(fa[vid], fb[vid])


def test_words_codes_and_stems():
    np.testing.assert_array_equal(word_code("door"), word_code("door"))
    np.testing.assert_array_equal(word_code("door", seed=3), word_code("Door", seed=3))
    assert not np.allclose(word_code("door"), word_code("window"))
    assert not np.allclose(word_code("door", seed=0), word_code("door", seed=1))
    # inflections share the stem, and so the code
    assert {stem(w) for w in ("opens", "opening", "opened", "open")} == {"open"}
    assert {stem(w) for w in ("putting", "puts", "put")} == {"put"}
    np.testing.assert_array_equal(word_code("closing"), word_code("closes"))
    assert content_words("A person is putting a book on a shelf.") == ["putting", "book", "shelf"]
    assert content_words("the person is.") == ["the", "person", "is"]  # all stopwords: keep all
    # the appearance depends on the content words only (articles, subject, tense aside)
    np.testing.assert_allclose(sentence_appearance("a person opens the door.", 64),
                               sentence_appearance("Someone opened a door", 64), atol=1e-12)
    a = sentence_appearance("a person opens the door", 64)
    assert abs(np.linalg.norm(a) - 1) < 1e-9
    assert a @ sentence_appearance("a person closes the door", 64) < 0.8


def test_refuses_to_overwrite_and_leaves_no_temp_files(tmp_path):
    out = tmp_path / "sub" / "f.hdf5"
    _write(out)
    before = out.read_bytes()
    with pytest.raises(FileExistsError):
        _write(out, seed=1)
    assert out.read_bytes() == before
    _write(out, seed=1, overwrite=True)
    assert out.read_bytes() != before
    assert sorted(p.name for p in out.parent.iterdir()) == ["f.hdf5"]
    with pytest.raises(ValueError):
        _write(tmp_path / "g.hdf5", layout="npy")
    assert not (tmp_path / "g.hdf5").exists()


def test_subset_parsing_and_selection():
    assert parse_subset(None, ["train", "test"]) == {"train": None, "test": None}
    assert parse_subset("5", ["train", "test"]) == {"train": 5, "test": 5}
    assert parse_subset("train=3000", ["train", "val"]) == {"train": 3000, "val": None}
    for bad in ("0", "x", "dev=3", "train"):
        with pytest.raises(ValueError):
            parse_subset(bad, ["train", "test"] if bad != "train" else ["val"])
    per_split = {"train": QUERIES[:4], "test": QUERIES[4:]}
    queries, videos = select_queries(per_split, {"train": 1, "test": None})
    # the videos of the first pair, with all their pairs
    assert [q.qid for q in queries] == ["v1#0", "v1#1", "v3#0", "v4#0"]
    assert videos == {"train": 1, "test": 2}


def test_cli_refuses_an_existing_file(tmp_path, capsys):
    if not CHARADES.is_dir():
        pytest.skip(f"{CHARADES} not found")
    out = tmp_path / "f.hdf5"
    out.write_bytes(b"keep me")
    rc = main(["simulate-features", "--dataset", "charades-sta", "--annotations", str(CHARADES),
               "--out", str(out), "--subset", "2", "--quiet"])
    assert rc == 2 and out.read_bytes() == b"keep me"
    assert "--overwrite" in capsys.readouterr().err


def test_cli_charades_sta(tmp_path, capsys):
    if not CHARADES.is_dir():
        pytest.skip(f"{CHARADES} not found")
    out = tmp_path / "charades.hdf5"
    rc = main(["simulate-features", "--dataset", "charades-sta", "--annotations", str(CHARADES),
               "--out", str(out), "--subset", "4", "--dim", "64"])
    assert rc == 0 and "simulated features written" in capsys.readouterr().out
    ann = {s: read_annotations("charades-sta", CHARADES, s).queries for s in ("train_full", "test")}
    want = {q.vid: q.duration for qs in ann.values() for q in qs[:4]}
    store = open_features(out)
    try:
        assert store.layout == "flat-hdf5" and store.dim == 64
        assert store.video_ids == sorted(want)
        for vid, dur in want.items():
            assert store.get(vid).shape == (num_clips(dur, 1.0), 64)
    finally:
        store.close()


def test_cli_activitynet_captions(tmp_path):
    if not ANET.is_dir():
        pytest.skip(f"{ANET} not found")
    out = tmp_path / "anet.hdf5"
    rc = main(["simulate-features", "--dataset", "activitynet-captions", "--annotations",
               str(ANET), "--out", str(out), "--splits", "val", "--subset", "3", "--quiet"])
    assert rc == 0
    val = read_annotations("activitynet-captions", ANET, "val").queries
    want = {q.vid: q.duration for q in val[:3]}
    store = open_features(out)
    try:
        assert store.layout == "grouped-hdf5" and store.key == "c3d_features"
        assert store.dim == 500 and store.video_ids == sorted(want)
        for vid, dur in want.items():
            assert store.get(vid).shape == (num_clips(dur, 0.5), 500)
    finally:
        store.close()
