"""Annotation readers/writers: inline fixtures for every format and error, plus the real files."""

from __future__ import annotations

import collections
import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _tiny import tree_hashes
from ms2d.data.annotations import (
    REPORT_KEYS,
    Annotations,
    _val_videos,
    output_paths,
    read_annotations,
    split_by_video,
    write_annotations,
)
from ms2d.data.records import DataError, Query

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"

CSV_HEADER = (
    "id,subject,scene,quality,relevance,verified,script,objects,descriptions,actions,length\n"
)


def _csv_row(vid: str, length: str) -> str:
    # quoted fields with commas, as in the real Charades metadata
    return f'{vid},HR43,Kitchen,6,7,Yes,"A person cooks, then eats.",food;stove,"Cooks, eats.",c092 1.0 2.0,{length}\n'



@pytest.fixture
def charades(tmp_path: Path) -> Path:
    d = tmp_path / "charades"
    d.mkdir()
    (d / "charades_sta_train.txt").write_text(
        "AAAAA 0.0 6.9##a person is putting a book on a shelf.\n"
        "AAAAA 2.0 40.0##person opens the door.\n"  # end > duration: clamped (2d-tan)
        "BBBBB 8.0 7.0##person sits down.\n"  # start >= end: dropped
        "BBBBB 1.5 3.0##  person laughs  \n"
        "CCCCC 30.0 35.0##person leaves.\n"  # start >= end after clamping
        "\n"
        "DDDDD 0.0 5.0##person eats a sandwich.\n"
        "EEEEE 1.0 2.0##person drinks.\n"
        "FFFFF 1.0 2.0##person sneezes.\n"
    )
    (d / "Charades_v1_train.csv").write_text(
        CSV_HEADER
        + _csv_row("AAAAA", "30.5")
        + _csv_row("BBBBB", "20.0")
        + _csv_row("CCCCC", "25.0")
        + _csv_row("DDDDD", "12.0")
        + _csv_row("EEEEE", "12.0")
        + _csv_row("FFFFF", "12.0")
        + _csv_row("UNUSED", "")  # empty length of an unused video: fine
    )
    (d / "charades_sta_test.txt").write_text(
        "GGGGG 1.0 4.0##person turn a light on.\nGGGGG 3.0 50.0##person turns the light off.\n"
    )
    (d / "Charades_v1_test.csv").write_text(CSV_HEADER + _csv_row("GGGGG", "31.0"))
    return d


def _assert_report(a: Annotations) -> None:
    assert set(a.report) == set(REPORT_KEYS)
    r = a.report
    dropped = r["dropped_start_ge_end"] + r["dropped_end_gt_duration"] + r["dropped_other"]
    assert r["raw"] == r["kept"] + dropped
    assert r["kept"] == len(a.queries)
    assert r["videos"] == len({q.vid for q in a.queries})


# --------------------------------------------------------------------------------------------
# charades-sta


def test_charades_2dtan(charades: Path) -> None:
    before = tree_hashes(charades)
    a = read_annotations("charades-sta", charades, "train_full")
    _assert_report(a)
    assert a.protocol == "2d-tan"
    assert a.source.endswith("charades_sta_train.txt")
    assert a.report["raw"] == 8
    assert a.report["kept"] == 6
    assert a.report["dropped_start_ge_end"] == 2
    assert a.report["clamped_end"] == 1
    q = a.queries
    assert q[0] == Query(
        "AAAAA#0", "AAAAA", "a person is putting a book on a shelf.", 30.5, (0.0, 6.9)
    )
    assert q[1].window == (2.0, 30.5)
    assert q[2].sentence == "person laughs"
    # qids count records (blank lines skipped) and do not renumber after drops
    assert [x.qid for x in q] == ["AAAAA#0", "AAAAA#1", "BBBBB#3", "DDDDD#5", "EEEEE#6", "FFFFF#7"]
    assert before == tree_hashes(charades)


def test_charades_cpl_protocol(charades: Path) -> None:
    a = read_annotations("charades-sta", charades, "train_full", protocol="cpl")
    _assert_report(a)
    assert a.protocol == "cpl"
    assert a.report["dropped_end_gt_duration"] == 2  # AAAAA#1 and CCCCC#4
    assert a.report["dropped_start_ge_end"] == 1
    assert a.report["clamped_end"] == 0
    assert all(q.window and q.window[1] <= q.duration for q in a.queries)
    t = read_annotations("charades-sta", charades, "test", protocol="cpl")
    assert len(t) == 1


def test_charades_test_split(charades: Path) -> None:
    a = read_annotations("charades-sta", charades, "test")
    assert [q.window for q in a.queries] == [(1.0, 4.0), (3.0, 31.0)]
    assert a.report["clamped_end"] == 1


def test_charades_val_carveout(charades: Path) -> None:
    full = read_annotations("charades-sta", charades, "train_full")
    tr = read_annotations("charades-sta", charades, "train", val_fraction=0.34)
    va = read_annotations("charades-sta", charades, "val", val_fraction=0.34)
    _assert_report(tr)
    _assert_report(va)
    assert not {q.vid for q in tr.queries} & {q.vid for q in va.queries}
    assert sorted(q.qid for q in tr.queries + va.queries) == sorted(q.qid for q in full.queries)
    assert tr.report["raw"] + va.report["raw"] == full.report["raw"]
    assert tr.report["held_out"] == va.report["raw"]
    # round(6 * 0.34) = 2 of the 6 train videos go to val, the same ones every time, whatever
    # the protocol (the carve-out is made on the raw file's videos)
    val_vids = _val_videos(["AAAAA", "BBBBB", "CCCCC", "DDDDD", "EEEEE", "FFFFF"], 0.34, 0)
    assert len(val_vids) == 2
    assert {q.vid for q in va.queries} <= val_vids
    assert not {q.vid for q in tr.queries} & val_vids
    assert (
        read_annotations("charades-sta", charades, "val", val_fraction=0.34).queries == va.queries
    )
    for protocol in ("2d-tan", "cpl"):
        v = read_annotations("charades-sta", charades, "val", protocol=protocol, val_fraction=0.34)
        assert {q.vid for q in v.queries} <= val_vids
    other = read_annotations("charades-sta", charades, "val", val_fraction=0.34, seed=3)
    assert other.report["raw"] > 0


def test_charades_explicit_val_file(charades: Path, tmp_path: Path) -> None:
    (charades / "charades_sta_val.txt").write_text("FFFFF 1.0 2.0##person sneezes.\n")
    (charades / "Charades_v1_val.csv").write_text("id,length\nFFFFF,12.0\n")
    va = read_annotations("charades-sta", charades, "val")
    assert [q.vid for q in va.queries] == ["FFFFF"]
    tr = read_annotations("charades-sta", charades, "train")
    assert len(tr) == 5  # the train file minus the videos of the val file
    assert "FFFFF" not in {q.vid for q in tr.queries} and tr.report["held_out"] == 1


def test_charades_materialized_carveout(charades: Path, tmp_path: Path) -> None:
    """Writing the carve-out next to the official files keeps train and val apart."""
    va = read_annotations("charades-sta", charades, "val", val_fraction=0.34)
    tr = read_annotations("charades-sta", charades, "train", val_fraction=0.34)
    write_annotations(va.queries, "charades-sta", charades, split="val")
    va2 = read_annotations("charades-sta", charades, "val")
    tr2 = read_annotations("charades-sta", charades, "train")
    assert [(q.vid, q.window) for q in va2.queries] == [(q.vid, q.window) for q in va.queries]
    assert [q.qid for q in tr2.queries] == [q.qid for q in tr.queries]


def test_charades_not_a_directory(charades: Path) -> None:
    with pytest.raises(DataError, match="not a directory"):
        read_annotations("charades-sta", charades / "charades_sta_train.txt", "train")


def test_charades_missing_files(tmp_path: Path) -> None:
    with pytest.raises(DataError) as e:
        read_annotations("charades-sta", tmp_path, "test")
    msg = str(e.value)
    assert "charades_sta_test.txt" in msg and "Charades_v1_test.csv" in msg and "2D-TAN" in msg


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("AAAAA 0.0 6.9 a person", "VID START END##SENTENCE"),
        ("AAAAA 0.0##a person", "expected 'VID START END'"),
        ("AAAAA zero 6.9##a person", "'zero' is not a number"),
        ("AAAAA 0.0 nan##a person", "not finite"),
        ("AAAAA -1.0 6.9##a person", "negative time"),
        ("AAAAA 0.0 6.9##   ", "empty or whitespace-only sentence"),
        ("ZZZZZ 0.0 6.9##a person", "'ZZZZZ' is not in"),
    ],
)
def test_charades_errors(charades: Path, line: str, needle: str) -> None:
    txt = charades / "charades_sta_test.txt"
    txt.write_text("GGGGG 1.0 4.0##person turn a light on.\n" + line + "\n")
    before = tree_hashes(charades)
    with pytest.raises(DataError) as e:
        read_annotations("charades-sta", charades, "test")
    msg = str(e.value)
    assert needle in msg
    assert str(txt) in msg and "line 2" in msg
    assert "Fix" in msg
    assert before == tree_hashes(charades)


def test_charades_csv_errors(charades: Path) -> None:
    csv_path = charades / "Charades_v1_test.csv"
    csv_path.write_text(CSV_HEADER + _csv_row("GGGGG", ""))
    with pytest.raises(DataError, match=r"'length' column is empty") as e:
        read_annotations("charades-sta", charades, "test")
    assert "Charades_v1_test.csv: line 2" in str(e.value)
    csv_path.write_text(CSV_HEADER + _csv_row("GGGGG", "-3"))
    with pytest.raises(DataError, match="duration must be > 0"):
        read_annotations("charades-sta", charades, "test")
    csv_path.write_text("id,duration\nGGGGG,31.0\n")
    with pytest.raises(DataError, match="'id' and 'length' columns"):
        read_annotations("charades-sta", charades, "test")


def test_non_utf8(charades: Path) -> None:
    (charades / "charades_sta_test.txt").write_bytes(b"GGGGG 1.0 4.0##caf\xe9\n")
    with pytest.raises(DataError, match="not UTF-8"):
        read_annotations("charades-sta", charades, "test")


# --------------------------------------------------------------------------------------------
# activitynet-captions

ANET = {
    "v_one": {
        "duration": 82.73,
        "timestamps": [[0.83, 19.86], [17.37, 90.0], [-1.0, 5.0], [34.77, 34.77]],
        "sentences": [" A young woman is seen.", " The girl dances.", "Café time.", "Nothing."],
    },
    "v_two": {"duration": 10.0, "timestamps": [[1, 2]], "sentences": ["A dog runs. "]},
}


def test_activitynet(tmp_path: Path) -> None:
    (tmp_path / "val.json").write_text(json.dumps(ANET))
    before = tree_hashes(tmp_path)
    a = read_annotations("activitynet-captions", tmp_path, "val")
    _assert_report(a)
    r = a.report
    assert (r["raw"], r["kept"], r["dropped_start_ge_end"]) == (5, 4, 1)
    assert (r["clamped_end"], r["clamped_start"], r["non_ascii"]) == (1, 1, 1)
    assert [q.sentence for q in a.queries] == [
        "A young woman is seen.",
        "The girl dances.",
        "Café time.",
        "A dog runs.",
    ]
    assert [q.window for q in a.queries] == [(0.83, 19.86), (17.37, 82.73), (0.0, 5.0), (1.0, 2.0)]
    assert [q.qid for q in a.queries] == ["v_one#0", "v_one#1", "v_one#2", "v_two#4"]
    # one file works too
    b = read_annotations("activitynet-captions", tmp_path / "val.json", "ignored")
    assert b.queries == a.queries
    assert before == tree_hashes(tmp_path)


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ([1, 2], "expected a JSON object"),
        (
            {"v": {"duration": 5.0, "timestamps": [[0, 1]]}},
            "'duration', 'timestamps' and 'sentences'",
        ),
        ({"v": {"duration": 5.0, "timestamps": [[0, 1]], "sentences": []}}, "equal length"),
        ({"v": {"duration": "5", "timestamps": [[0, 1]], "sentences": ["x"]}}, "must be a number"),
        (
            {"v": {"duration": 0, "timestamps": [[0, 1]], "sentences": ["x"]}},
            "duration must be > 0",
        ),
        ({"v": {"duration": 5, "timestamps": [[0]], "sentences": ["x"]}}, "[start, end]"),
        ({"v": {"duration": 5, "timestamps": [[0, -2]], "sentences": ["x"]}}, "negative time"),
        ({"v": {"duration": 5, "timestamps": [[0, 1]], "sentences": [" "]}}, "empty or whitespace"),
    ],
)
def test_activitynet_errors(tmp_path: Path, data: object, needle: str) -> None:
    f = tmp_path / "train.json"
    f.write_text(json.dumps(data))
    with pytest.raises(DataError) as e:
        read_annotations("activitynet-captions", tmp_path, "train")
    assert needle in str(e.value)
    assert str(f) in str(e.value)


def test_activitynet_nonfinite_and_malformed(tmp_path: Path) -> None:
    f = tmp_path / "train.json"
    f.write_text('{"v": {"duration": NaN, "timestamps": [[0, 1]], "sentences": ["x"]}}')
    with pytest.raises(DataError, match="not finite"):
        read_annotations("activitynet-captions", tmp_path, "train")
    f.write_text('{"v": {"duration": 5,\n "timestamps": [[0, 1]] "sentences": ["x"]}}')
    with pytest.raises(DataError, match=r"line 2, column \d+: malformed JSON"):
        read_annotations("activitynet-captions", tmp_path, "train")


def test_missing_split_file(tmp_path: Path) -> None:
    with pytest.raises(DataError) as e:
        read_annotations("activitynet-captions", tmp_path, "val")
    assert "val.json" in str(e.value)
    with pytest.raises(DataError) as e:
        read_annotations("cpl", tmp_path, "test")
    assert "test.json" in str(e.value) and "test_data.json" in str(e.value)
    with pytest.raises(DataError, match="does not exist"):
        read_annotations("jsonl", tmp_path / "nope", "test")


# --------------------------------------------------------------------------------------------
# cpl


def test_cpl(tmp_path: Path) -> None:
    recs = [
        ["3MSZA", 30.96, [24.3, 30.4], "person turn a light on."],
        ["3MSZA", 30.96, [24.3, 31.4], "person flips the switch."],
        ["AMT7R", 20.0, [5.0, 5.0], "person sits."],
    ]
    (tmp_path / "test_data.json").write_text(json.dumps(recs))
    a = read_annotations("cpl", tmp_path, "test")
    _assert_report(a)
    assert a.source.endswith("test_data.json")
    assert [q.qid for q in a.queries] == ["3MSZA#0", "3MSZA#1"]
    assert a.queries[1].window == (24.3, 30.96)
    assert a.report["clamped_end"] == 1 and a.report["dropped_start_ge_end"] == 1
    c = read_annotations("cpl", tmp_path / "test_data.json", "x", protocol="cpl")
    assert len(c) == 1 and c.report["dropped_end_gt_duration"] == 1


@pytest.mark.parametrize(
    ("rec", "needle"),
    [
        (["v", 10.0, [1.0, 2.0]], "malformed record"),
        ([5, 10.0, [1.0, 2.0], "x"], "video id must be a non-empty string"),
        (["v", 10.0, [1.0], "x"], "window must be [start, end]"),
        (["v", 10.0, [1.0, "2"], "x"], "end must be a number"),
        (["v", 10.0, [1.0, 2.0], ""], "empty or whitespace"),
    ],
)
def test_cpl_errors(tmp_path: Path, rec: list, needle: str) -> None:
    f = tmp_path / "train.json"
    f.write_text(json.dumps([["ok", 10.0, [1.0, 2.0], "fine"], rec]))
    with pytest.raises(DataError) as e:
        read_annotations("cpl", f, "train")
    assert needle in str(e.value) and "record 1" in str(e.value) and str(f) in str(e.value)


def test_cpl_wrong_shape(tmp_path: Path) -> None:
    f = tmp_path / "train.json"
    f.write_text(json.dumps(ANET))
    with pytest.raises(DataError, match="use dataset 'activitynet-captions'"):
        read_annotations("cpl", f, "train")


# --------------------------------------------------------------------------------------------
# jsonl


def _jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_jsonl(tmp_path: Path) -> None:
    f = _jsonl(
        tmp_path / "train.jsonl",
        [
            {
                "qid": "q1",
                "vid": "v1",
                "query": " a man jumps ",
                "duration": 10,
                "windows": [[1, 2]],
            },
            {"qid": "q2", "vid": "v1", "query": "weak, no window", "duration": 10},
            "",
            {
                "vid": "v2",
                "query": "ünïcode",
                "duration": 5.5,
                "windows": [[0, 9]],
                "meta": {"x": 1},
            },
            {"qid": "q4", "vid": "v2", "query": "empty list", "duration": 5.5, "windows": []},
        ],
    )
    before = tree_hashes(tmp_path)
    a = read_annotations("jsonl", tmp_path, "train")
    _assert_report(a)
    assert a.protocol == "strict"
    assert a.queries[0] == Query("q1", "v1", "a man jumps", 10.0, (1.0, 2.0))
    assert a.queries[1].window is None
    assert a.queries[2].qid == "v2#2" and a.queries[2].window == (0.0, 5.5)
    r = a.report
    assert (r["no_window"], r["clamped_end"], r["non_ascii"], r["videos"]) == (2, 1, 1, 2)
    assert read_annotations("jsonl", f, "whatever").queries == a.queries
    assert before == tree_hashes(tmp_path)


@pytest.mark.parametrize(
    ("row", "needle"),
    [
        ('{"vid": "v", "query": "x", "duration": 5', "malformed JSON"),
        ("[1, 2]", "expected a JSON object"),
        (
            {"vid": "v", "query": "x", "duration": 5, "window": [[0, 1]]},
            "unknown key(s) ['window']",
        ),
        ({"vid": "v", "duration": 5}, "missing required key 'query'"),
        ({"vid": "v", "query": "x", "duration": 5, "windows": [[2, 1]]}, "start 2.0 >= end 1.0"),
        ({"vid": "v", "query": "x", "duration": 5, "windows": [[-1, 1]]}, "negative time"),
        ({"vid": "v", "query": "x", "duration": 5, "windows": [[0, 1]],
          "relevant_windows": [[0, 1]]}, "keep one of the two names"),
        (
            {"vid": "v", "query": "x", "duration": 5, "windows": [0, 1]},
            "list of [start, end] pairs",
        ),
        ({"vid": "v", "query": "x", "duration": 5, "windows": {"a": 1}}, "must be a list"),
        ({"vid": "v", "query": "\t ", "duration": 5}, "empty or whitespace-only"),
        ({"vid": "v", "query": "x", "duration": -5}, "duration must be > 0"),
        ({"vid": "v", "query": "x", "duration": True}, "must be a number"),
        ({"vid": "", "query": "x", "duration": 5}, "video id must be"),
        ({"qid": 3.5, "vid": "v", "query": "x", "duration": 5}, "'qid' must be"),
        ({"qid": True, "vid": "v", "query": "x", "duration": 5}, "'qid' must be"),
        ('{"vid": "v", "query": "x", "duration": 5, "windows": [[0, Infinity]]}', "not finite"),
        ({"qid": "q0", "vid": "v", "query": "y", "duration": 5}, "duplicate qid 'q0'"),
    ],
)
def test_jsonl_errors(tmp_path: Path, row: object, needle: str) -> None:
    f = _jsonl(tmp_path / "x.jsonl", [{"qid": "q0", "vid": "v", "query": "ok", "duration": 5}, row])
    before = tree_hashes(tmp_path)
    with pytest.raises(DataError) as e:
        read_annotations("jsonl", f, "x")
    msg = str(e.value)
    assert needle in msg
    assert f"{f}: line 2" in msg
    assert before == tree_hashes(tmp_path)


def test_unknown_dataset_and_protocol(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="unknown dataset"):
        read_annotations("tacos", tmp_path, "test")
    with pytest.raises(DataError, match="not available for activitynet-captions"):
        read_annotations("activitynet-captions", tmp_path, "test", protocol="cpl")
    with pytest.raises(DataError, match="not available for jsonl"):
        read_annotations("jsonl", tmp_path, "test", protocol="2d-tan")


# --------------------------------------------------------------------------------------------
# split_by_video


def _queries(n_videos: int) -> list[Query]:
    return [
        Query(f"v{i}#{k}", f"v{i}", "s", 10.0, (0.0, 1.0))
        for i in range(n_videos)
        for k in range(2)
    ]


def test_split_by_video() -> None:
    qs = _queries(50)
    tr, va = split_by_video(qs, 0.1, seed=0)
    assert len({q.vid for q in va}) == 5
    assert not {q.vid for q in tr} & {q.vid for q in va}
    assert len(tr) + len(va) == len(qs)
    assert split_by_video(list(reversed(qs)), 0.1, seed=0)[1] == list(reversed(va))
    assert {q.vid for q in split_by_video(qs, 0.1, seed=1)[1]} != {q.vid for q in va}
    with pytest.raises(DataError, match="val_fraction"):
        split_by_video(qs, 1.0)
    with pytest.raises(DataError, match="1 video"):
        split_by_video(_queries(1), 0.5)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 60), frac=st.floats(0.01, 0.99), seed=st.integers(0, 5))
def test_split_by_video_property(n: int, frac: float, seed: int) -> None:
    qs = _queries(n)
    tr, va = split_by_video(qs, frac, seed=seed)
    tv, vv = {q.vid for q in tr}, {q.vid for q in va}
    assert tv and vv and not tv & vv and len(tv | vv) == n
    assert (tr, va) == split_by_video(qs, frac, seed=seed)


# --------------------------------------------------------------------------------------------
# writers


SAMPLE = [
    Query("AAAAA#0", "AAAAA", "a person is putting a book on a shelf.", 33.67, (0.0, 6.9)),
    Query("AAAAA#1", "AAAAA", "person opens the door, slowly.", 33.67, (2.1, 33.67)),
    Query("BBBBB#2", "BBBBB", "café ünïcode", 20.0, (1.0 / 3.0, 7.25)),
]


@pytest.mark.parametrize("fmt", ["jsonl", "cpl", "activitynet-captions", "charades-sta"])
def test_round_trip_directory(tmp_path: Path, fmt: str) -> None:
    paths = write_annotations(SAMPLE, fmt, tmp_path / "out", split="test")
    assert all(p.is_file() for p in paths)
    assert not list((tmp_path / "out").glob(".*tmp"))  # no temp files left behind
    a = read_annotations(fmt, tmp_path / "out", "test")
    assert [(q.vid, q.sentence, q.duration, q.window) for q in a.queries] == [
        (q.vid, q.sentence, q.duration, q.window) for q in SAMPLE
    ]
    assert [q.qid for q in a.queries] == [q.qid for q in SAMPLE]
    if fmt == "charades-sta":
        assert (tmp_path / "out" / "Charades_v1_test.csv").read_text().splitlines() == [
            "id,length",
            "AAAAA,33.67",
            "BBBBB,20.0",
        ]


def test_write_file_paths_and_errors(tmp_path: Path) -> None:
    assert output_paths("jsonl", tmp_path / "a.jsonl") == [tmp_path / "a.jsonl"]
    assert output_paths("cpl", tmp_path / "a.json") == [tmp_path / "a.json"]
    assert output_paths("charades-sta", tmp_path / "a.txt") == [tmp_path / "a.txt"]
    with pytest.raises(DataError, match="give a split"):
        output_paths("jsonl", tmp_path / "dir")
    weak = [Query("q", "v", "s", 5.0, None)]
    write_annotations(weak, "jsonl", tmp_path / "w.jsonl")
    assert read_annotations("jsonl", tmp_path / "w.jsonl", "w").queries == weak
    for fmt in ("cpl", "activitynet-captions", "charades-sta"):
        with pytest.raises(DataError, match="has no window"):
            write_annotations(weak, fmt, tmp_path / "d", split="x")
    clash = [Query("a", "v", "s", 5.0, (0.0, 1.0)), Query("b", "v", "t", 6.0, (0.0, 1.0))]
    with pytest.raises(DataError, match="two durations"):
        write_annotations(clash, "activitynet-captions", tmp_path / "d", split="x")
    with pytest.raises(DataError, match="whitespace"):
        write_annotations(
            [Query("a", "v v", "s", 5.0, (0.0, 1.0))], "charades-sta", tmp_path / "x.txt"
        )
    with pytest.raises(DataError, match="unknown format"):
        write_annotations(SAMPLE, "xml", tmp_path / "x.xml")


def test_write_replaces_atomically(tmp_path: Path) -> None:
    f = tmp_path / "a.jsonl"
    f.write_text("old\n")
    f.chmod(0o640)
    write_annotations(SAMPLE, "jsonl", f)
    assert f.read_text().count("\n") == 3
    assert f.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl"]


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text("abcXYZ_-0123", min_size=1, max_size=6),
            st.text(min_size=1, max_size=20).filter(lambda s: s.strip() and s == s.strip()),
            st.floats(0.5, 500.0),
            st.floats(0.0, 1.0),
            st.floats(0.0, 1.0),
        ),
        max_size=8,
    )
)
def test_jsonl_round_trip_property(tmp_path_factory: pytest.TempPathFactory, rows: list) -> None:
    qs = []
    for i, (vid, sent, dur, a, b) in enumerate(rows):
        lo, hi = sorted((a * dur, b * dur))
        win = (lo, hi) if lo < hi else None
        qs.append(Query(f"q{i}", vid, sent, dur, win))
    f = tmp_path_factory.mktemp("rt") / "x.jsonl"
    write_annotations(qs, "jsonl", f)
    assert read_annotations("jsonl", f, "x").queries == qs


# --------------------------------------------------------------------------------------------
# the real annotation files (skipped when shared/data is absent)

needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="shared/data is not available")


@needs_shared
def test_real_charades_counts() -> None:
    d = SHARED / "charades-sta"
    full = read_annotations("charades-sta", d, "train_full")
    assert (full.report["raw"], full.report["kept"], full.report["dropped_start_ge_end"]) == (
        12408,
        12404,
        4,
    )
    test = read_annotations("charades-sta", d, "test")
    assert test.report["raw"] == test.report["kept"] == 3720
    assert test.report["clamped_end"] == 562
    cpl_test = read_annotations("charades-sta", d, "test", protocol="cpl")
    assert cpl_test.report["kept"] == 3158
    cpl_train = read_annotations("charades-sta", d, "train_full", protocol="cpl")
    assert cpl_train.report["kept"] == 10602
    # the cpl protocol reproduces the SCN/CPL files exactly (as a multiset)
    ref = json.loads((d / "scn_cpl_format" / "test.json").read_text())
    got = collections.Counter((q.vid, q.duration, q.window, q.sentence) for q in cpl_test.queries)
    assert got == collections.Counter((r[0], r[1], tuple(r[2]), r[3]) for r in ref)
    tr = read_annotations("charades-sta", d, "train")
    va = read_annotations("charades-sta", d, "val")
    assert len(tr) + len(va) == 12404
    assert va.report["videos"] == round(5338 * 0.1)
    assert not {q.vid for q in tr.queries} & {q.vid for q in va.queries}


@needs_shared
def test_real_cpl_files() -> None:
    d = SHARED / "charades-sta" / "scn_cpl_format"
    assert len(read_annotations("cpl", d, "train")) == 10602
    assert len(read_annotations("cpl", d, "test")) == 3158


@needs_shared
def test_real_activitynet_counts() -> None:
    d = SHARED / "activitynet-captions"
    tr = read_annotations("activitynet-captions", d, "train")
    assert (tr.report["raw"], tr.report["kept"]) == (37421, 37417)
    assert tr.report["clamped_end"] == 261
    assert len(read_annotations("activitynet-captions", d, "val")) == 17505
    assert len(read_annotations("activitynet-captions", d, "test")) == 17031
    assert all(q.sentence == q.sentence.strip() for q in tr.queries)
    assert all(q.window and 0 <= q.window[0] < q.window[1] <= q.duration for q in tr.queries)
    assert not any(math.isnan(q.duration) for q in tr.queries)


def test_jsonl_reads_qvhighlights_records_as_distributed(tmp_path: Path) -> None:
    """Moment-DETR / QVHighlights / Lighthouse records: integer qids, ``relevant_windows``
    with several windows, highlight labels (ignored); ends past the duration are clamped."""
    rows = [
        {"qid": 7803, "query": "Man in gray top walks from outside to inside.", "duration": 150,
         "vid": "RoripwjYFp8_360.0_510.0", "relevant_windows": [[26, 36], [70, 84], [140, 152]],
         "relevant_clip_ids": [13, 14, 15], "saliency_scores": [[4, 4, 2], [3, 4, 2], [2, 2, 3]]},
        {"qid": 7804, "query": "A test-split query, windows hidden.", "duration": 150,
         "vid": "abc_0.0_150.0"},
    ]
    ann = read_annotations("jsonl", _jsonl(tmp_path / "val.jsonl", rows), "val")
    q, hidden = ann.queries
    assert q.qid == "7803" and q.window == (26.0, 36.0)
    assert q.extra_windows == ((70.0, 84.0), (140.0, 150.0))
    assert q.windows == [(26.0, 36.0), (70.0, 84.0), (140.0, 150.0)]
    assert hidden.window is None and hidden.windows == []
    assert ann.report["clamped_end"] == 1 and ann.report["no_window"] == 1
    assert q.to_dict()["windows"] == [[26.0, 36.0], [70.0, 84.0], [140.0, 150.0]]
