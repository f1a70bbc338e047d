"""Bad inputs, end to end through ``ms2d.cli.main``: a clear message naming the file, the record
and the fix, exit status 2, and no existing file modified.

The readers' own unit tests are in test_annotations.py / test_features.py; these go through
``ms2d train`` / ``ms2d evaluate`` as a user would. docs/reliability.md lists the messages.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from _tiny import (
    TINY,
    cli,
    data_args,
    make_sim,
    one_thread,
    single_thread,  # noqa: F401  (autouse fixture)
    tree_hashes,
)
from ms2d.data.annotations import read_annotations, write_annotations


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    return make_sim(tmp_path_factory.mktemp("sim"), n_train=12, n_val=4, n_test=4)


@pytest.fixture(scope="module")
def train_vid(sim):
    return sorted(json.loads((sim / "train.json").read_text()))[0]


@pytest.fixture(scope="module")
def jsonl(sim, tmp_path_factory):
    """The simulated annotations in the project's JSONL format (strict protocol)."""
    d = tmp_path_factory.mktemp("jsonl")
    for split in ("train", "val", "test"):
        write_annotations(read_annotations("activitynet-captions", sim, split).queries, "jsonl",
                          d, split=split)
    return d


@pytest.fixture(scope="module")
def run(sim, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "run"
    with one_thread():
        rc, log = cli(["train", *data_args(sim), "--out", out, "--quiet", *TINY, "train.epochs=1"])
    assert rc == 0, log
    return out


def expect(argv, fragments, roots, rc=2) -> str:
    """Run the CLI; check the exit status, every message fragment, and that no file that
    existed below ``roots`` changed (new files, e.g. a new run's config.yaml, are allowed)."""
    before = {r: tree_hashes(r) for r in roots}
    code, log = cli(argv)
    assert code == rc, log
    for frag in fragments:
        assert frag in log, f"{frag!r} not in:\n{log}"
    if rc:
        assert "Traceback" not in log
    for r in roots:
        after = tree_hashes(r)
        assert {k: after.get(k) for k in before[r]} == before[r], f"a file below {r} changed"
    return log


def _train(sim, features, out, annotations=None, dataset="simulated"):
    return ["train", "--dataset", dataset, "--annotations", annotations or sim, "--features",
            features, "--out", out, "--quiet", *TINY, "train.epochs=1"]


# ------------------------------------------------------------------------------------------
# features


def _h5_variant(src: Path, dst: Path, vid: str, fn) -> Path:
    shutil.copy(src, dst)
    with h5py.File(dst, "a") as h:
        fn(h, vid)
    return dst


def _replace(value):
    def fn(h, vid):
        del h[vid]
        h[vid] = value
    return fn


def _poke(x):
    def fn(h, vid):
        a = h[vid][()]
        a[2, 3] = x
        h[vid][...] = a
    return fn


H5_CASES = {
    "nan": (_poke(np.nan), ["contain 1 NaN/inf value(s) (first at time step 2)",
                            "Fix: re-extract"]),
    "inf": (_poke(np.inf), ["NaN/inf", "Fix: re-extract"]),
    "zero_length": (_replace(np.zeros((0, 16), np.float32)), ["are empty (shape (0, 16))",
                                                               "Fix:"]),
    "strings": (_replace(np.array([[b"abc"] * 16] * 5)), ["not a real number type",
                                                          "Fix: store float features"]),
    "three_dims": (_replace(np.zeros((1, 5, 16), np.float32)), ["expected 2-D [T, D]", "Fix:"]),
    "other_dim": (_replace(np.zeros((5, 8), np.float32)), ["have dim 8, the store has dim 16",
                                                           "Fix: extract every video"]),
}


@pytest.mark.parametrize("case", sorted(H5_CASES))
def test_bad_hdf5_features(sim, train_vid, tmp_path, case):
    fn, fragments = H5_CASES[case]
    f = _h5_variant(sim / "features.hdf5", tmp_path / "f.hdf5", train_vid, fn)
    expect(_train(sim, f, tmp_path / "out"), [str(f), repr(train_vid), *fragments],
           [tmp_path, sim])


def test_truncated_hdf5(sim, tmp_path):
    f = tmp_path / "f.hdf5"
    data = (sim / "features.hdf5").read_bytes()
    f.write_bytes(data[: len(data) // 2])
    expect(_train(sim, f, tmp_path / "out"),
           [str(f), "cannot open the HDF5 file", "corrupt or truncated; re-download"],
           [tmp_path, sim])
    assert not (tmp_path / "out" / "config.yaml").exists()  # failed before writing the run


@pytest.fixture
def npy_dir(sim, tmp_path):
    d = tmp_path / "npy"
    d.mkdir()
    with h5py.File(sim / "features.hdf5", "r") as h:
        for k in h:
            np.save(d / f"{k}.npy", h[k][()])
    return d


def test_truncated_npy(sim, npy_dir, train_vid, tmp_path):
    f = npy_dir / f"{train_vid}.npy"
    raw = f.read_bytes()
    f.write_bytes(raw[: len(raw) // 2])
    expect(_train(sim, npy_dir, tmp_path / "out"),
           [str(f), f"cannot read video {train_vid!r}", "corrupt or truncated"], [tmp_path, sim])


def test_garbage_npy(sim, npy_dir, train_vid, tmp_path):
    f = npy_dir / f"{train_vid}.npy"
    f.write_bytes(b"this is not an array")
    # (the message today blames pickled objects: np.load's fallback for a file without the
    # npy magic; see the report in docs/reliability.md)
    expect(_train(sim, npy_dir, tmp_path / "out"), [str(f), repr(train_vid), "Fix:"],
           [tmp_path, sim])


def test_evaluate_with_features_of_another_dimension(sim, run, tmp_path):
    f = tmp_path / "dim8.hdf5"
    with h5py.File(sim / "features.hdf5", "r") as src, h5py.File(f, "w") as dst:
        for k in src:
            dst[k] = src[k][()][:, :8]
    expect(["evaluate", run, "--features", f],
           [str(f), "holds 8-d features", "trained on 16-d features", "use the same feature files"],
           [tmp_path, sim, run])


# ------------------------------------------------------------------------------------------
# annotations (JSONL, the strict format; Charades-STA txt/csv; ActivityNet JSON)


def _jsonl_variant(jsonl: Path, dst: Path, mutate, split="train") -> Path:
    shutil.copytree(jsonl, dst)
    lines = (dst / f"{split}.jsonl").read_text().splitlines()
    mutate(lines)
    (dst / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
    return dst


def _edit(i, **kw):
    def fn(lines):
        rec = json.loads(lines[i])
        rec.update(kw)
        lines[i] = json.dumps(rec)
    return fn


def _truncate_line(i):
    def fn(lines):
        lines[i] = lines[i][:-5]
    return fn


def _dup_qid(lines):
    rec = json.loads(lines[3])
    rec["qid"] = json.loads(lines[1])["qid"]
    lines[3] = json.dumps(rec)


JSONL_CASES = {
    "start_ge_end": (_edit(3, windows=[[5.0, 5.0]]), ["line 4: window start 5.0 >= end 5.0",
                                                      "Fix: swap or correct"]),
    "negative_time": (_edit(3, windows=[[-1.0, 5.0]]), ["line 4: negative time",
                                                        "Fix: times are seconds"]),
    "empty_sentence": (_edit(3, query=""), ["line 4: empty or whitespace-only sentence", "Fix:"]),
    "whitespace_sentence": (_edit(3, query=" \t "), ["line 4: empty or whitespace-only",
                                                     "Fix:"]),
    "duplicate_qid": (_dup_qid, ["line 4: duplicate qid", "(first at", "line 2)",
                                 "Fix: make the qids unique"]),
    "malformed_json": (_truncate_line(4), ["line 5: malformed JSON", "Fix:"]),
    "typo_key": (_edit(3, window=[[1.0, 2.0]]), ["line 4: unknown key(s) ['window']", "Fix:"]),
}


@pytest.mark.parametrize("case", sorted(JSONL_CASES))
def test_bad_jsonl_annotations(sim, jsonl, tmp_path, case):
    mutate, fragments = JSONL_CASES[case]
    d = _jsonl_variant(jsonl, tmp_path / "ann", mutate)
    expect(_train(sim, sim / "features.hdf5", tmp_path / "out", d, "jsonl"),
           [str(d / "train.jsonl"), *fragments], [tmp_path, sim])
    assert not (tmp_path / "out" / "config.yaml").exists()


def test_unknown_video(sim, jsonl, tmp_path):
    d = _jsonl_variant(jsonl, tmp_path / "ann", _edit(3, vid="no_such_video"))
    # names the feature file and the video; not (yet) the annotation file/line, see the report
    expect(_train(sim, sim / "features.hdf5", tmp_path / "out", d, "jsonl"),
           ["no_such_video", str(sim / "features.hdf5"), "have no features", "Fix:"],
           [tmp_path, sim])


def test_sentence_without_words(sim, jsonl, tmp_path):
    d = _jsonl_variant(jsonl, tmp_path / "ann", _edit(3, query="!!! ..."))
    qid = json.loads((d / "train.jsonl").read_text().splitlines()[3])["qid"]
    expect(_train(sim, sim / "features.hdf5", tmp_path / "out", d, "jsonl"),
           [repr(qid), "no words after tokenisation", "remove the record"], [tmp_path, sim])


def test_end_beyond_duration_is_clamped_and_counted_not_fatal(sim, jsonl, tmp_path):
    d = _jsonl_variant(jsonl, tmp_path / "ann", _edit(3, windows=[[1.0, 1e4]]))
    rep = read_annotations("jsonl", d, "train").report
    assert rep["clamped_end"] == 1 and rep["kept"] == rep["raw"]
    expect(_train(sim, sim / "features.hdf5", tmp_path / "out", d, "jsonl"), ["best epoch 1"],
           [tmp_path, sim], rc=0)


def test_unknown_words_at_evaluation_are_unk_not_a_crash(sim, jsonl, run, tmp_path):
    """The vocabulary is the training one: unseen words become <unk>; the query is scored."""
    d = _jsonl_variant(jsonl, tmp_path / "ann", _edit(0, query="zyzzyva quokkas"), split="test")
    log = expect(["evaluate", run, "--dataset", "jsonl", "--annotations", d],
                 ["protocol: jsonl/test", "R@1,IoU=0.5"], [tmp_path, sim, run], rc=0)
    assert "Traceback" not in log


@pytest.fixture
def charades(sim, tmp_path):
    d = tmp_path / "charades"
    for split in ("train", "test"):
        write_annotations(read_annotations("activitynet-captions", sim, split).queries,
                          "charades-sta", d, split=split)
    return d


def test_charades_csv_row_without_length(sim, charades, tmp_path):
    csv_path = charades / "Charades_v1_train.csv"
    lines = csv_path.read_text().splitlines()
    vid = lines[3].split(",")[0]
    lines[3] = f"{vid},"
    csv_path.write_text("\n".join(lines) + "\n")
    expect(_train(sim, sim / "features.hdf5", tmp_path / "out", charades, "charades-sta"),
           [f"{csv_path}: line 4 (video {vid}", "the 'length' column is empty", "Fix:"],
           [tmp_path, sim])


def test_charades_malformed_txt_line(sim, charades, tmp_path):
    txt = charades / "charades_sta_train.txt"
    lines = txt.read_text().splitlines()
    lines[2] = "garbage line"
    txt.write_text("\n".join(lines) + "\n")
    expect(_train(sim, sim / "features.hdf5", tmp_path / "out", charades, "charades-sta"),
           [f"{txt}: line 3: malformed line 'garbage line'", "Fix: each line must read"],
           [tmp_path, sim])


def test_activitynet_malformed_json(sim, tmp_path):
    d = tmp_path / "anet"
    shutil.copytree(sim, d, ignore=shutil.ignore_patterns("*.hdf5"))
    text = (d / "train.json").read_text()
    (d / "train.json").write_text(text[: len(text) // 2])
    expect(_train(sim, sim / "features.hdf5", tmp_path / "out", d),
           [str(d / "train.json"), "line 1, column", "malformed JSON", "Fix:"], [tmp_path, sim])


# ------------------------------------------------------------------------------------------
# checkpoints, config


def test_checkpoint_of_another_format(run, tmp_path):
    ckpt = torch.load(run / "best.pt", weights_only=True)
    ckpt.update(format="ms2d-checkpoint-v0", ms2d_version="0.0.1")
    torch.save(ckpt, tmp_path / "old.pt")
    expect(["evaluate", tmp_path / "old.pt"],
           [str(tmp_path / "old.pt"), "not in the ms2d-checkpoint-v1 format",
            "found format 'ms2d-checkpoint-v0', written by ms2d 0.0.1",
            "Fix: use it with the ms2d version that wrote it"], [tmp_path, run])


def test_checkpoint_not_from_ms2d(tmp_path):
    torch.save({"state_dict": {"w": torch.zeros(2)}}, tmp_path / "foreign.pt")
    expect(["evaluate", tmp_path / "foreign.pt"],
           ["no format tag", "'state_dict'", "not written by ms2d train"], [tmp_path])


def test_truncated_checkpoint(run, tmp_path):
    data = (run / "best.pt").read_bytes()
    (tmp_path / "best.pt").write_bytes(data[: len(data) - 100])
    expect(["evaluate", tmp_path / "best.pt"],
           [f"checkpoint {tmp_path / 'best.pt'} is corrupt", "retrain"], [tmp_path, run])


def test_bad_config_override_is_a_clear_error(sim, tmp_path):
    expect(_train(sim, sim / "features.hdf5", tmp_path / "out") + ["train.nonsense=3"],
           ["config: unknown config key 'train.nonsense'", "train keys:"], [tmp_path, sim])
