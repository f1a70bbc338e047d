"""Property tests (hypothesis): the 2D temporal maps, and the annotation readers on random
malformed input (always a valid result or a ``DataError``, never another exception).

Metric properties live in test_metrics.py.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ms2d.data.annotations import read_annotations
from ms2d.data.records import DataError
from ms2d.models.maps import build_map, candidate_mask, resample_weights

SETTINGS = settings(max_examples=int(os.environ.get("MS2D_HYPOTHESIS_EXAMPLES", 100)), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

# ------------------------------------------------------------------------------------------
# 2D maps


@st.composite
def sequences(draw):
    b = draw(st.integers(1, 3))
    n = draw(st.integers(1, 12))
    d = draw(st.integers(1, 4))
    return draw(hnp.arrays(np.float32, (b, n, d),
                           elements=st.floats(-1e3, 1e3, width=32, allow_subnormal=False)))


@SETTINGS
@given(sequences())
def test_build_map_cells_are_span_maxima(seq):
    out = build_map(torch.from_numpy(seq)).numpy()  # [B, d, N, N]
    b, n, d = seq.shape
    assert out.shape == (b, d, n, n)
    for x in range(n):
        for y in range(n):
            if x <= y:
                np.testing.assert_array_equal(out[:, :, x, y], seq[:, x:y + 1].max(axis=1))
            else:
                assert not out[:, :, x, y].any()


@SETTINGS
@given(n=st.integers(1, 80), dense_until=st.integers(1, 32))
def test_candidate_mask_shape_and_upper_triangle(n, dense_until):
    m = candidate_mask(n, dense_until)
    assert m.shape == (n, n) and m.dtype == torch.bool
    x, y = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    assert not m[x > y].any()  # only x <= y (start before end)
    if n <= dense_until:
        assert torch.equal(m, x <= y)  # small maps are dense
    else:
        # every moment up to dense_until segments long is a candidate
        assert m[(y >= x) & ((y - x) < dense_until)].all()


@st.composite
def lengths_and_n(draw):
    n = draw(st.integers(1, 32))
    lengths = draw(st.lists(st.integers(1, 70), min_size=1, max_size=4))
    t_max = max(lengths) + draw(st.integers(0, 5))
    return lengths, n, t_max


@SETTINGS
@given(lengths_and_n())
def test_resample_weights_rows_average_and_cover(args):
    lengths, n, t_max = args
    w = resample_weights(torch.tensor(lengths), n, t_max).double()
    assert w.shape == (len(lengths), n, t_max)
    torch.testing.assert_close(w.sum(-1), torch.ones(len(lengths), n, dtype=torch.float64))
    for i, t in enumerate(lengths):
        assert not w[i, :, t:].any()  # never reads padding
        used = w[i, :, :t] > 0
        starts = used.float().argmax(-1)
        assert torch.all(starts[1:] >= starts[:-1])  # segments go forward in time
        if t >= n:
            assert used.any(0).all()  # every clip is in some segment
            assert not (used.sum(0) > 1).any()  # ... and in exactly one
        # each segment averages a contiguous run of clips with equal weights
        for row in w[i, :, :t]:
            nz = row.nonzero()[:, 0]
            assert nz.numel() >= 1 and nz[-1] - nz[0] + 1 == nz.numel()
            assert torch.allclose(row[nz], row[nz[0]].expand(nz.numel()))


# ------------------------------------------------------------------------------------------
# readers on malformed input

ints = st.integers(-10**400, 10**400)
json_values = st.recursive(
    st.none() | st.booleans() | ints | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=8,
)
junk_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"),
                    max_size=12)
junk_numbers = st.one_of(st.floats(), ints, st.sampled_from([-1, 0, -0.5, 1e308]))
VIDS = ["v1", "v2", "v3", "v4"]


@st.composite
def records(draw):
    """A valid ``(vid, duration, [start, end], sentence)``, then 0-2 fields made junk."""
    vid = draw(st.sampled_from(VIDS))
    duration = draw(st.floats(1, 200))
    s = draw(st.floats(0, duration))
    e = draw(st.floats(0, duration * 1.5))  # sometimes <= s, sometimes beyond the duration
    sentence = " ".join(draw(st.lists(st.sampled_from(["a", "man", "opens", "the", "door"]),
                                      min_size=1, max_size=5)))
    rec = {"vid": vid, "duration": duration, "window": [s, e], "sentence": sentence}
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        key = draw(st.sampled_from(sorted(rec)))
        rec[key] = draw(st.one_of(json_values, junk_numbers, junk_text))
    return rec


def _cut(draw, text: str) -> str:
    """Rarely, a truncated file."""
    return text[: draw(st.integers(0, len(text)))] if not draw(st.integers(0, 7)) else text


@st.composite
def jsonl_text(draw):
    lines = []
    for r in draw(st.lists(records(), max_size=5)):
        obj = {"vid": r["vid"], "query": r["sentence"], "duration": r["duration"],
               "windows": [r["window"]]}
        if draw(st.booleans()):
            obj["qid"] = draw(st.sampled_from(["a", "b", "c"]) | json_values)
        if not draw(st.integers(0, 5)):
            obj[draw(st.sampled_from(["meta", "window", "extra"]))] = draw(json_values)
        if not draw(st.integers(0, 5)):
            del obj[draw(st.sampled_from(sorted(obj)))]
        line = json.dumps(obj) if draw(st.integers(0, 9)) else draw(
            st.one_of(junk_text, json_values.map(json.dumps)))
        lines.append(_cut(draw, line))
    return "\n".join(lines)


@st.composite
def charades_files(draw):
    txt, durations = [], {}
    for r in draw(st.lists(records(), max_size=5)):
        w = r["window"] if isinstance(r["window"], list) and len(r["window"]) == 2 else [r["window"], 1]
        line = f"{r['vid']} {w[0]} {w[1]}##{r['sentence']}"
        if not draw(st.integers(0, 9)):
            line = draw(junk_text)
        txt.append(_cut(draw, line))
        durations[str(r["vid"])] = r["duration"]
    rows = ["id,length" if draw(st.integers(0, 9)) else draw(junk_text)]
    rows += [f"{v},{d}" for v, d in durations.items() if draw(st.integers(0, 9))]
    return "\n".join(txt), "\n".join(rows)


@st.composite
def activitynet_text(draw):
    data: dict = {}
    for r in draw(st.lists(records(), max_size=5)):
        vid = r["vid"] if isinstance(r["vid"], str) else json.dumps(r["vid"])
        entry = data.setdefault(vid, {"duration": r["duration"], "timestamps": [],
                                      "sentences": []})
        entry["timestamps"].append(r["window"])
        entry["sentences"].append(r["sentence"])
    if data and not draw(st.integers(0, 5)):
        entry = data[draw(st.sampled_from(sorted(data)))]
        entry[draw(st.sampled_from(["duration", "timestamps", "sentences"]))] = draw(json_values)
    text = json.dumps(data) if draw(st.integers(0, 9)) else json.dumps(draw(json_values))
    return _cut(draw, text)


@st.composite
def cpl_text(draw):
    data = [[r["vid"], r["duration"], r["window"], r["sentence"]]
            for r in draw(st.lists(records(), max_size=5))]
    if data and not draw(st.integers(0, 9)):
        data[0] = draw(json_values)
    text = json.dumps(data) if draw(st.integers(0, 9)) else json.dumps(draw(json_values))
    return _cut(draw, text)


def _read_or_data_error(dataset, path, split):
    try:
        ann = read_annotations(dataset, path, split)
    except DataError as exc:
        assert str(exc)  # a message, never empty
        return None
    for q in ann.queries:
        assert isinstance(q.vid, str) and q.vid and q.sentence.strip() == q.sentence != ""
        assert math.isfinite(q.duration) and q.duration > 0
        if q.window is not None:
            s, e = q.window
            assert 0 <= s < e <= q.duration
    assert ann.report["kept"] == len(ann.queries)
    return ann


@SETTINGS
@given(jsonl_text())
def test_jsonl_reader_valid_or_data_error(text):
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "train.jsonl"
        f.write_text(text, encoding="utf-8")
        _read_or_data_error("jsonl", d, "train")


@SETTINGS
@given(charades_files(), st.sampled_from(["test", "train", "val"]))
def test_charades_reader_valid_or_data_error(files, split):
    txt, csv_text = files
    with tempfile.TemporaryDirectory() as d:
        Path(d, "charades_sta_train.txt").write_text(txt, encoding="utf-8")
        Path(d, "Charades_v1_train.csv").write_text(csv_text, encoding="utf-8")
        Path(d, "charades_sta_test.txt").write_text(txt, encoding="utf-8")
        Path(d, "Charades_v1_test.csv").write_text(csv_text, encoding="utf-8")
        _read_or_data_error("charades-sta", d, split)


@SETTINGS
@given(activitynet_text())
def test_activitynet_reader_valid_or_data_error(text):
    with tempfile.TemporaryDirectory() as d:
        Path(d, "train.json").write_text(text, encoding="utf-8")
        _read_or_data_error("activitynet-captions", d, "train")


@SETTINGS
@given(cpl_text())
def test_cpl_reader_valid_or_data_error(text):
    with tempfile.TemporaryDirectory() as d:
        Path(d, "train.json").write_text(text, encoding="utf-8")
        _read_or_data_error("cpl", d, "train")


@pytest.mark.parametrize("dataset,name", [("jsonl", "train.jsonl"), ("cpl", "train.json"),
                                          ("activitynet-captions", "train.json")])
def test_readers_reject_non_utf8_and_binary(dataset, name, tmp_path):
    (tmp_path / name).write_bytes(b"\xff\xfe\x00garbage\x80")
    with pytest.raises(DataError, match="not UTF-8"):
        read_annotations(dataset, tmp_path, "train")


# Two inputs that once escaped as OverflowError / RecursionError instead of a DataError.
def test_huge_integer_is_a_data_error(tmp_path):
    rec = {"vid": "v", "query": "a man", "duration": 10**400}
    (tmp_path / "train.jsonl").write_text(json.dumps(rec) + "\n")
    with pytest.raises(DataError):
        read_annotations("jsonl", tmp_path, "train")


def test_deeply_nested_json_is_a_data_error(tmp_path):
    (tmp_path / "train.json").write_text("[" * 100_000)
    with pytest.raises(DataError):
        read_annotations("cpl", tmp_path, "train")
