"""The Python API: ``ms2d.load`` -> ``Retriever.predict`` on clip features, and its errors."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import ms2d
from conftest import KNOWN_QUERIES, TINY_FEATURE_DIM
from ms2d.api import CandidateScores, Retriever, VideoFeatures, spec_mismatch


@pytest.fixture(scope="module")
def retriever(tiny_run: Path) -> Retriever:
    return ms2d.load(tiny_run, device="cpu")


def feats(t: int = 30, seed: int = 0, dim: int = TINY_FEATURE_DIM) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(t, dim)).astype(np.float32)


def test_public_api_is_reexported() -> None:
    from ms2d.eval.evaluator import evaluate_files
    from ms2d.inference import Moment

    assert ms2d.Moment is Moment and ms2d.evaluate is evaluate_files
    assert ms2d.Retriever is Retriever and ms2d.VideoFeatures is VideoFeatures
    assert isinstance(ms2d.__version__, str)
    assert {"load", "Retriever", "Moment", "evaluate"} <= set(dir(ms2d))
    with pytest.raises(AttributeError):
        ms2d.no_such_thing  # noqa: B018


def test_loading_and_predicting_never_import_the_training_loop(tiny_run: Path) -> None:
    """The inference surface stands apart from training: a fresh interpreter loads a run and
    ranks moments with no ``ms2d.train`` module imported (nor the objective)."""
    import subprocess
    import sys

    code = ("import sys, numpy as np, ms2d\n"
            f"r = ms2d.load({str(tiny_run)!r}, device='cpu')\n"
            f"r.predict(np.zeros((30, {TINY_FEATURE_DIM}), np.float32), {KNOWN_QUERIES[0]!r})\n"
            "print(sorted(m for m in sys.modules if m.startswith(('ms2d.train', 'ms2d.objective'))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout + done.stderr


def test_load_folder_and_file(tiny_run: Path, retriever: Retriever) -> None:
    assert retriever.feature_spec == {"dim": 1280, "name": "efficientnet-lite0",
                                      "clip_seconds": 1.0}
    assert not retriever.model.training and retriever.device == torch.device("cpu")
    assert "efficientnet-lite0" in repr(retriever)
    other = ms2d.load(tiny_run / "best.pt")  # device="auto"
    x = feats()
    a = retriever.predict(x, KNOWN_QUERIES[0])
    b = other.predict(x, KNOWN_QUERIES[0])
    assert [m.start for m in a] == [m.start for m in b]
    with pytest.raises(FileNotFoundError):
        ms2d.load(tiny_run / "missing")


def test_predict_one_and_many(retriever: Retriever, capsys: pytest.CaptureFixture[str]) -> None:
    x = feats(40)
    one = retriever.predict(x, KNOWN_QUERIES[0], top_k=3)
    assert isinstance(one, list) and len(one) == 3
    assert all(isinstance(m, ms2d.Moment) for m in one)
    assert [m.score for m in one] == sorted((m.score for m in one), reverse=True)
    for m in one:
        assert 0 <= m.start < m.end <= 40 + 1e-9 and 0 <= m.score <= 1
    many = retriever.predict(x, KNOWN_QUERIES[:2], top_k=2)
    assert len(many) == 2 and all(len(ms) == 2 for ms in many)
    assert retriever.predict(x, (KNOWN_QUERIES[0],))[0][0] == one[0]  # a tuple is many too
    assert capsys.readouterr() == ("", "")  # nothing prints


def test_many_queries_equal_one_query_path(retriever: Retriever) -> None:
    x = feats(50, seed=1)
    qs = KNOWN_QUERIES[:4]
    batched = retriever.score(x, qs)
    chunked = retriever.score(x, qs, batch_size=3)
    assert batched.scores.shape == (len(qs), len(batched.windows))
    for i, q in enumerate(qs):
        single = retriever.score(x, q).scores[0]
        np.testing.assert_allclose(batched.scores[i], single, rtol=0, atol=1e-5)
        np.testing.assert_allclose(chunked.scores[i], single, rtol=0, atol=1e-5)
    many = retriever.predict(x, qs, top_k=4)
    for q, ms in zip(qs, many):
        alone = retriever.predict(x, q, top_k=4)
        assert [(m.start, m.end) for m in ms] == [(m.start, m.end) for m in alone]
        np.testing.assert_allclose([m.score for m in ms], [m.score for m in alone], atol=1e-5)


def test_same_as_the_training_predict_path(tiny_run: Path, tiny_sim: Path,
                                           retriever: Retriever) -> None:
    """The API ranks exactly like ms2d.inference.predict (used by ms2d evaluate)."""
    from ms2d.data.dataset import MomentDataset, collate
    from ms2d.data.features import open_features
    from ms2d.data.records import Query
    from ms2d.inference import predict

    store = open_features(tiny_sim / "features.hdf5")
    vid = store.video_ids[0]
    x = store.get(vid)
    qs = [Query(f"q{i}", vid, s, 33.0) for i, s in enumerate(KNOWN_QUERIES[:3])]
    ds = MomentDataset(qs, store, retriever.vocab)
    loader = torch.utils.data.DataLoader(ds, batch_size=3, collate_fn=collate)
    expected = predict(retriever.model, loader, torch.device("cpu"), top_n=5,
                       nms=retriever.nms)
    got = retriever.predict(x, [q.sentence for q in qs], duration=33.0)
    for e, g in zip(expected, got):
        assert [(m.start, m.end) for m in e] == [(m.start, m.end) for m in g]
        np.testing.assert_allclose([m.score for m in e], [m.score for m in g], atol=1e-5)


def test_inputs_numpy_torch_videofeatures(retriever: Retriever) -> None:
    x = feats(20, seed=2)
    ref = retriever.predict(x, KNOWN_QUERIES[1])
    assert retriever.predict(torch.from_numpy(x), KNOWN_QUERIES[1]) == ref
    assert retriever.predict(x.astype(np.float64), KNOWN_QUERIES[1])[0].start == ref[0].start
    # default duration: T * clip_seconds (1 s clips in the checkpoint's spec)
    assert max(m.end for m in retriever.predict(x, KNOWN_QUERIES[1], top_k=20)) <= 20 + 1e-9
    vf = VideoFeatures(x, 10.0, {"name": "efficientnet-lite0", "dim": 1280, "fps": 2.0,
                                 "clip_seconds": 1.0})
    by_vf = retriever.predict(vf, KNOWN_QUERIES[1])
    by_duration = retriever.predict(x, KNOWN_QUERIES[1], duration=10.0)
    assert by_vf == by_duration
    assert by_vf[0].end == pytest.approx(ref[0].end / 2)  # same cells, half the seconds


def test_any_length(retriever: Retriever) -> None:
    for t in (1, 2, 5000):
        ms = retriever.predict(feats(t, seed=t), KNOWN_QUERIES[:2], top_k=5)
        for per_query in ms:
            assert len(per_query) >= 1
            assert all(0 <= m.start < m.end <= t + 1e-6 for m in per_query)
    long = retriever.predict(feats(5000, seed=3), KNOWN_QUERIES[0], duration=5000.0, top_k=50)
    assert max(m.end for m in long) == pytest.approx(5000.0)


def test_candidate_scores_timeline(retriever: Retriever) -> None:
    c = retriever.score(feats(16), KNOWN_QUERIES[:3], duration=8.0)
    assert isinstance(c, CandidateScores) and c.queries == KNOWN_QUERIES[:3]
    times, best = c.timeline(points=50)
    assert times.shape == (50,) and best.shape == (3, 50)
    assert times[0] > 0 and times[-1] < 8.0
    assert np.all(best <= c.scores.max(1, keepdims=True) + 1e-9)
    alone = retriever.predict(feats(16), KNOWN_QUERIES[0], top_k=2, duration=8.0, nms=0.5)
    batched = c.moments(top_k=2, nms=0.5)[0]
    assert [(m.start, m.end) for m in batched] == [(m.start, m.end) for m in alone]
    np.testing.assert_allclose([m.score for m in batched], [m.score for m in alone], atol=1e-5)


@pytest.mark.parametrize("bad, match", [
    (np.zeros((10, 64), np.float32), "64-d but the checkpoint was trained on 1280-d"),
    (np.zeros((0, 1280), np.float32), "empty"),
    (np.zeros(1280, np.float32), "2-D"),
    (np.zeros((2, 10, 1280), np.float32), "2-D"),
])
def test_bad_features(retriever: Retriever, bad: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        retriever.predict(bad, KNOWN_QUERIES[0])


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_features(retriever: Retriever, value: float) -> None:
    x = feats(12)
    x[7, 3] = value
    with pytest.raises(ValueError, match="NaN/inf value.*clip 7"):
        retriever.predict(x, KNOWN_QUERIES[0])
    with pytest.raises(ValueError, match="NaN/inf"):
        retriever.predict(torch.from_numpy(x), KNOWN_QUERIES[0])


def test_bad_types(retriever: Retriever, tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="encode_video"):
        retriever.predict(str(tmp_path / "v.mp4"), KNOWN_QUERIES[0])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="real numbers"):
        retriever.predict(np.array([["a"] * 1280]), KNOWN_QUERIES[0])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="query 1"):
        retriever.predict(feats(), [KNOWN_QUERIES[0], 3])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        retriever.predict(feats(), 42)  # type: ignore[arg-type]


@pytest.mark.parametrize("queries, match", [
    ("", "empty or whitespace"), ("   \t", "empty or whitespace"), ([], "no queries"),
    ([KNOWN_QUERIES[0], " "], "query 1 is empty"), ("?!", "no words"),
])
def test_bad_queries(retriever: Retriever, queries: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        retriever.predict(feats(), queries)  # type: ignore[arg-type]


@pytest.mark.parametrize("kwargs, match", [
    ({"top_k": 0}, "top_k"), ({"top_k": 2.5}, "top_k"), ({"duration": 0.0}, "duration"),
    ({"duration": math.nan}, "duration"), ({"duration": -3.0}, "duration"),
    ({"batch_size": 0}, "batch_size"),
])
def test_bad_options(retriever: Retriever, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        retriever.predict(feats(), KNOWN_QUERIES[0], **kwargs)


def test_unknown_words_warn_but_predict(retriever: Retriever) -> None:
    with pytest.warns(UserWarning, match="none of the words of query 'zebra xylophone'") as rec:
        ms = retriever.predict(feats(), ["zebra xylophone", KNOWN_QUERIES[0]], top_k=2)
    assert len(rec) == 1 and Path(rec[0].filename).name == "test_api.py"  # points at the caller
    assert len(ms) == 2 and len(ms[0]) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        retriever.predict(feats(), "a zebra held the laptop")  # some words known: no warning


def test_duration_needed_without_clip_length(retriever: Retriever) -> None:
    r = Retriever(retriever.model, retriever.vocab,
                  feature_spec={"dim": 1280, "name": "i3d", "clip_seconds": 0.0})
    with pytest.raises(ValueError, match="duration=SECONDS"):
        r.predict(feats(), KNOWN_QUERIES[0])
    assert r.predict(feats(), KNOWN_QUERIES[0], duration=12.5)[0].end <= 12.5


def test_videofeatures_spec_must_match(retriever: Retriever) -> None:
    base = {"name": "efficientnet-lite0", "dim": 1280, "fps": 2.0, "clip_seconds": 1.0}
    for change, word in (({"name": "i3d"}, "name"), ({"clip_seconds": 2.0}, "clip_seconds")):
        vf = VideoFeatures(feats(), 30.0, {**base, **change})
        with pytest.raises(ValueError, match=f"do not match the checkpoint: {word}"):
            retriever.predict(vf, KNOWN_QUERIES[0])
    # fps is not part of the check, and an unknown name matches anything
    assert retriever.predict(VideoFeatures(feats(), 30.0, {**base, "fps": 5.0}), "a laptop")
    assert retriever.predict(VideoFeatures(feats(), None, {"name": "unknown"}), "a laptop")


def test_spec_mismatch_rules() -> None:
    ckpt = {"name": "efficientnet-lite0", "dim": 1280, "clip_seconds": 1.0}
    assert spec_mismatch(ckpt, dict(ckpt, fps=4)) == []
    assert spec_mismatch(ckpt, {"name": "unknown", "dim": 1280, "clip_seconds": 0}) == []
    assert spec_mismatch({"name": "unknown", "dim": 1280, "clip_seconds": 0.0},
                         {"name": "x", "dim": 1280, "clip_seconds": 3.0}) == []
    diffs = spec_mismatch(ckpt, {"name": "i3d", "dim": 1024, "clip_seconds": 1.0000001})
    assert len(diffs) == 2 and diffs[0].startswith("name 'i3d'") and "1024" in diffs[1]


def test_encode_video_refuses_other_features_before_decoding(
        retriever: Retriever, checkpoint_variant, tmp_path: Path) -> None:
    missing = tmp_path / "never-opened.mp4"  # the checks come before any decoding
    sim = ms2d.load(checkpoint_variant(name="simulated", dim=1280))
    with pytest.raises(ValueError, match="simulated features, which no video produces.*cannot search video files"):
        sim.encode_video(missing)
    with pytest.raises(ValueError, match="clip_seconds 2.0 \\(checkpoint: 1.0\\)"):
        retriever.encode_video(missing, clip_seconds=2.0)
    r = Retriever(retriever.model, retriever.vocab,
                  feature_spec={"dim": 1280, "name": "efficientnet-lite0", "clip_seconds": 1.0})
    with pytest.raises(ValueError, match="name 'efficientnet-b0'"):
        r.encode_video(missing, backbone="efficientnet-b0")


def test_checkpoint_spec_is_kept_in_variant(checkpoint_variant) -> None:
    r = ms2d.load(checkpoint_variant(clip_seconds=0.5))
    assert r.feature_spec["clip_seconds"] == 0.5
    assert max(m.end for m in r.predict(feats(10), KNOWN_QUERIES[0], top_k=30)) <= 5.0 + 1e-9
