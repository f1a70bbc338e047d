"""``ms2d convert`` and ``ms2d info``."""

from __future__ import annotations

import argparse
import collections
import json
from pathlib import Path
from types import ModuleType

import h5py
import numpy as np
import pytest

from _tiny import tree_hashes
from ms2d.commands import convert, info
from ms2d.data.annotations import read_annotations
from ms2d.data.records import DataError

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="shared/data is not available")


def run_cmd(mod: ModuleType, argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    mod.add_arguments(parser)
    return mod.run(parser.parse_args(argv))



@pytest.fixture
def charades(tmp_path: Path) -> Path:
    d = tmp_path / "in"
    d.mkdir()
    (d / "charades_sta_test.txt").write_text(
        "3MSZA 24.3 30.4##person turn a light on.\n"
        "3MSZA 24.3 31.4##Person flipped the light switch near the door.\n"
        "AMT7R 2.0 9.5##a person is sitting on a chair.\n"
        "AMT7R 9.0 8.0##bad window.\n"
    )
    (d / "Charades_v1_test.csv").write_text(
        'id,script,length\n3MSZA,"Turns, then flips.",30.96\nAMT7R,"Sits",20.0\n'
    )
    return d


def test_module_contract() -> None:
    for mod in (convert, info):
        assert isinstance(mod.NAME, str) and isinstance(mod.HELP, str) and "\n" not in mod.HELP
        assert callable(mod.add_arguments) and callable(mod.run)


@pytest.mark.parametrize("fmt", ["jsonl", "cpl", "activitynet-captions", "charades-sta"])
def test_convert_round_trip(charades: Path, tmp_path: Path, fmt: str, capsys) -> None:  # type: ignore[no-untyped-def]
    before = tree_hashes(charades)
    out = tmp_path / "out"
    argv = ["--from", "charades-sta", "--to", fmt, str(charades), str(out), "--split", "test"]
    assert run_cmd(convert, argv) == 0
    text = capsys.readouterr().out
    assert "read 4 records" in text and "kept 3" in text and "dropped 1" in text
    assert "clamped end 1" in text and "wrote" in text
    orig = read_annotations("charades-sta", charades, "test")
    back = read_annotations(fmt, out, "test")
    assert [(q.vid, q.sentence, q.duration, q.window) for q in back.queries] == [
        (q.vid, q.sentence, q.duration, q.window) for q in orig.queries
    ]
    assert before == tree_hashes(charades)


def test_convert_file_to_file(tmp_path: Path) -> None:
    src = tmp_path / "a.jsonl"
    src.write_text(
        json.dumps({"qid": "x", "vid": "v", "query": "q", "duration": 3.0, "windows": [[0, 1]]})
        + "\n"
    )
    assert (
        run_cmd(convert, ["--from", "jsonl", "--to", "cpl", str(src), str(tmp_path / "b.json")])
        == 0
    )
    assert json.loads((tmp_path / "b.json").read_text()) == [["v", 3.0, [0.0, 1.0], "q"]]


def test_convert_errors(charades: Path, tmp_path: Path) -> None:
    before = tree_hashes(charades)
    with pytest.raises(DataError, match="give --split"):
        run_cmd(
            convert, ["--from", "charades-sta", "--to", "jsonl", str(charades), str(tmp_path / "o")]
        )
    out = tmp_path / "o.jsonl"
    out.write_text("keep me\n")
    argv = ["--from", "charades-sta", "--to", "jsonl", str(charades), str(out), "--split", "test"]
    with pytest.raises(DataError, match="already exists.*--overwrite"):
        run_cmd(convert, argv)
    assert out.read_text() == "keep me\n"
    assert run_cmd(convert, [*argv, "--overwrite"]) == 0
    assert len(out.read_text().splitlines()) == 3
    # never overwrite the input
    with pytest.raises(DataError, match="is the input file"):
        run_cmd(
            convert,
            ["--from", "charades-sta", "--to", "charades-sta", str(charades), str(charades)]
            + ["--split", "test", "--overwrite"],
        )
    # queries without windows cannot become cpl
    weak = tmp_path / "weak.jsonl"
    weak.write_text(json.dumps({"vid": "v", "query": "q", "duration": 3.0}) + "\n")
    with pytest.raises(DataError, match="has no window"):
        run_cmd(convert, ["--from", "jsonl", "--to", "cpl", str(weak), str(tmp_path / "w.json")])
    assert before == tree_hashes(charades)


def test_cli_reports_errors_cleanly(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from ms2d.cli import main

    rc = main(["info", "--dataset", "cpl", "--annotations", str(tmp_path / "nope")])
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith("ms2d info: error:") and "does not exist" in err
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{oops\n")
    rc = main(["convert", "--from", "jsonl", "--to", "cpl", str(bad), str(tmp_path / "x.json")])
    assert rc == 2
    assert "line 1: malformed JSON" in capsys.readouterr().err


def test_info(charades: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    feats = tmp_path / "f.hdf5"
    with h5py.File(feats, "w") as h:
        h["3MSZA"] = np.ones((10, 8), np.float32)
    wv = tmp_path / "wv.txt"
    wv.write_text("person 1 2\nlight 1 2\nthe 0 1\nunused 3 3\n")
    png = tmp_path / "plots" / "hist.png"
    before = tree_hashes(charades)
    argv = ["--dataset", "charades-sta", "--annotations", str(charades), "--split", "test"]
    argv += ["--features", str(feats), "--word-vectors", str(wv), "--plot", str(png)]
    assert run_cmd(info, argv) == 0
    out = capsys.readouterr().out
    lines = {
        line.split("  ")[0].strip(): line.split()[-1] for line in out.splitlines() if "  " in line
    }
    assert lines["pairs kept"] == "3" and lines["pairs raw"] == "4"
    assert lines["dropped: start >= end"] == "1"
    assert lines["end clamped to duration"] == "1"
    assert lines["videos"] == "2"
    assert lines["duration max (s)"] == "30.96"
    assert lines["duration min (s)"] == "20.00"
    assert lines["moment length max (s)"] == "7.50"
    assert lines["sentence tokens max"] == "8"
    # 13 types / 20 tokens; covered: person (3 tokens), light (2), the (2)
    assert lines["vocabulary (types)"] == "13"
    assert "3/13 (23.08%)" in out
    assert lines["word-vector coverage (tokens)"] == "35.00%"
    assert lines["videos with features"] == "(50.00%)"
    assert "flat HDF5" in out and "dim 8" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert before == tree_hashes(charades)


def test_info_default_splits(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    rec = {"vid": "v", "query": "a b", "duration": 4.0}
    for s in ("train", "test"):
        (tmp_path / f"{s}.jsonl").write_text(json.dumps(rec) + "\n")
    assert run_cmd(info, ["--dataset", "jsonl", "--annotations", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[1].split()
    assert header == ["train", "test"]
    assert "without a window" in out and "n/a" in out
    with pytest.raises(DataError, match="found no cpl split files"):
        run_cmd(info, ["--dataset", "cpl", "--annotations", str(tmp_path)])


@needs_shared
def test_real_convert_cpl_protocol_matches_cpl_files(tmp_path: Path) -> None:
    out = tmp_path / "test.json"
    argv = ["--from", "charades-sta", "--to", "cpl", str(SHARED / "charades-sta"), str(out)]
    assert run_cmd(convert, [*argv, "--split", "test", "--protocol", "cpl"]) == 0
    ours = json.loads(out.read_text())
    ref = json.loads((SHARED / "charades-sta" / "scn_cpl_format" / "test.json").read_text())
    key = lambda r: (r[0], r[1], tuple(r[2]), r[3])  # noqa: E731
    assert collections.Counter(map(key, ours)) == collections.Counter(map(key, ref))


@needs_shared
def test_real_info(capsys) -> None:  # type: ignore[no-untyped-def]
    wv = SHARED / "charades-sta" / "glove_subsets" / "cpl" / "glove.pkl"
    argv = ["--dataset", "charades-sta", "--annotations", str(SHARED / "charades-sta")]
    assert run_cmd(info, [*argv, "--word-vectors", str(wv)]) == 0
    out = capsys.readouterr().out
    assert "12,404" in out and "12,408" in out and "3,720" in out
    assert "train_full" in out and "word-vector coverage (tokens)" in out
