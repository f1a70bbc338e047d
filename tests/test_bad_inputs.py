"""Bad inputs, end to end through ``ms2d.cli.main``: a clear message naming the file, the record
and the fix, exit status 2, and no existing file modified.

The readers' own unit tests are in test_annotations.py / test_features.py; these go through
``ms2d train`` / ``ms2d evaluate`` as a user would. docs/reliability.md lists the messages.
"""

from __future__ import annotations

import json
import os
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


# ------------------------------------------------------------------------------------------
# settings: every bad value refused before any data is read, naming the key and what is allowed

CONFIG_CASES = {
    "supervision_case": ("train.supervision=Weak",
                         ["train.supervision='Weak'", "choose one of weak, full",
                          "did you mean 'weak'?"]),
    "label_rule": ("train.label_rule=bogus", ["train.label_rule='bogus'", "paper, rank"]),
    "epochs_zero": ("train.epochs=0", ["train.epochs=0", "must be >= 1"]),
    "select_metric": ("train.select_metric=bogus",
                      ["train.select_metric='bogus'", "'R@1,IoU=0.5'", "mIoU"]),
    "scales_empty": ("model.scales=[]", ["model.scales=[]", "at least one value"]),
    "scales_zero": ("model.scales=[0]", ["model.scales=[0]", "every value must be >= 1"]),
    "hidden_negative": ("model.hidden=-4", ["model.hidden=-4", "must be >= 1"]),
    "batch_size_zero": ("train.batch_size=0", ["train.batch_size=0", "must be >= 1"]),
    "lr_negative": ("train.lr=-1", ["train.lr=-1.0", "must be > 0"]),
    "lr_nan": ("train.lr=nan", ["train.lr=nan", "finite"]),
    "scales_text": ("model.scales=abc", ["model.scales", "list of integers"]),
    "epochs_text": ("train.epochs=abc", ["train.epochs: expected an integer, got 'abc'"]),
    "key_typo": ("train.suprevision=weak", ["unknown config key 'train.suprevision'",
                                            "did you mean 'supervision'?"]),
    "rule_of_the_other_teacher": (
        "train.label_rule=paper model.teacher=appearance",
        ["train.label_rule=paper does not go with model.teacher=appearance: use evidence"]),
    "appearance_needs_standard_features": (
        "model.feature_norm=none model.teacher=appearance",
        ["model.teacher=appearance needs model.feature_norm=standard"]),
}


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_bad_setting_is_refused_before_any_work(sim, tmp_path, case):
    override, fragments = CONFIG_CASES[case]
    out = tmp_path / "out"
    expect(_train(sim, sim / "features.hdf5", out) + override.split(),
           ["ms2d train: error: config: ", *fragments], [tmp_path, sim])
    assert not out.exists()  # no run folder, not even an empty one


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_train_device_cuda_without_cuda(sim, tmp_path):
    expect(_train(sim, sim / "features.hdf5", tmp_path / "out") + ["train.device=cuda"],
           ["train.device 'cuda': CUDA is not available", "use cpu or auto"], [tmp_path, sim])
    assert not (tmp_path / "out").exists()


def test_overrides_anywhere_on_the_command_line(sim, tmp_path):
    from ms2d.cli import build_parser, parse_args

    argv = ["train", "model.hidden=16", "--out", "RUN", "train.epochs=3", "--quiet",
            "train.lr=0.001"]
    args = parse_args(build_parser(), argv)
    assert args.overrides == ["model.hidden=16", "train.epochs=3", "train.lr=0.001"]
    assert args.out == "RUN" and args.quiet
    # ... and they are checked: the last one here is refused
    expect(["train", *data_args(sim), "model.hidden=16", "--out", tmp_path / "out",
            "train.epochs=0"], ["train.epochs=0: must be >= 1"], [tmp_path, sim])
    # an argument that is not an override is still refused by argparse
    with pytest.raises(SystemExit) as exc:
        parse_args(build_parser(), ["train", "train.lr=1", "--out", "RUN", "bogus"])
    assert exc.value.code == 2


def test_config_checked_from_presets_and_checkpoints(tmp_path):
    from ms2d.config import Config, resolve
    from ms2d.settings import ConfigError

    yaml_path = tmp_path / "p.yaml"
    yaml_path.write_text("inherit: synthetic-cpu\ntrain:\n  supervision: Full\n")
    with pytest.raises(ConfigError, match="train.supervision='Full'.*did you mean 'full'"):
        resolve(str(yaml_path))
    d = resolve("synthetic-cpu").to_dict()
    d["train"]["label_rule"] = "bogus"
    with pytest.raises(ConfigError, match="train.label_rule='bogus'"):
        Config.from_dict(d)
    d["model"]["hidden"] = 0
    with pytest.raises(ConfigError, match="2 settings are not allowed: model.hidden=0"):
        Config.from_dict(d)


# ------------------------------------------------------------------------------------------
# output paths: checked before any work


@pytest.fixture
def a_file(tmp_path):
    f = tmp_path / "a_file"
    f.write_text("not a folder\n")
    return f


@pytest.fixture
def readonly(tmp_path):
    """A folder this process cannot write in (skips where permissions do not bind, as root)."""
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o555)
    try:
        (d / "probe").write_text("")
    except OSError:
        yield d
    else:
        pytest.skip("permissions do not bind for this user (root)")
    finally:
        d.chmod(0o755)


def test_train_out_is_an_existing_file(sim, a_file, tmp_path):
    expect(_train(sim, sim / "features.hdf5", a_file),
           [f"--out {a_file} is an existing file, but a folder is needed here", "Fix:"],
           [tmp_path, sim])


def test_train_out_below_a_file(sim, a_file, tmp_path):
    expect(_train(sim, sim / "features.hdf5", a_file / "run"),
           [f"--out {a_file / 'run'}", "is a file, not a folder", "Fix:"], [tmp_path, sim])


def test_no_run_folder_left_by_a_run_that_failed_on_its_inputs(sim, tmp_path):
    out = tmp_path / "runs" / "out"
    expect(_train(sim, tmp_path / "missing.hdf5", out), ["missing.hdf5", "does not exist"],
           [tmp_path, sim])
    assert not out.exists()


def test_no_run_folder_left_by_a_run_that_failed_before_its_first_epoch(sim, train_vid, tmp_path):
    """NaN features are found while the first epoch loads the video: config.yaml and
    manifest.json were written; the folder this run created goes again."""
    f = _h5_variant(sim / "features.hdf5", tmp_path / "f.hdf5", train_vid, _poke(np.nan))
    out = tmp_path / "out"
    expect(_train(sim, f, out), ["NaN/inf"], [tmp_path, sim])
    assert not out.exists()


def test_evaluate_json_names_a_folder(run, tmp_path):
    d = tmp_path / "metrics"
    d.mkdir()
    log = expect(["evaluate", run, "--json", d],
                 [f"--json {d} is a folder, but a file is written here"], [tmp_path, run])
    assert "protocol:" not in log  # refused before evaluating


def test_unwritable_outputs_below_a_file(sim, run, a_file, tmp_path, jsonl):
    below = a_file / "x"
    for argv, fragment in [
        (["simulate", "--out", below, "--quiet", "--videos-train", "1"], "--out"),
        (["evaluate", run, "--json", below / "m.json"], "--json"),
        (["evaluate", run, "--save-predictions", below / "p.jsonl"], "--save-predictions"),
        (["predict", "--checkpoint", run, "--features", sim / "features.hdf5", "--video-id",
          "x", "-q", "a person", "--plot", below / "p.png"], "--plot"),
        (["info", "--dataset", "jsonl", "--annotations", jsonl, "--plot", below / "p.png"],
         "--plot"),
        (["convert", "--from", "jsonl", "--to", "jsonl", jsonl / "test.jsonl",
          below / "t.jsonl"], "OUTPUT"),
        (["simulate-features", "--dataset", "activitynet-captions", "--annotations", sim,
          "--out", below / "f.hdf5"], "--out"),
        (["extract", "--merge", sim / "features.hdf5", "--out", below / "f.hdf5"], "--out"),
    ]:
        log = expect(argv, [f"{fragment} ", "is a file, not a folder"], [tmp_path, sim, run])
        assert "protocol:" not in log


def test_read_only_outputs(sim, run, readonly, tmp_path, jsonl):
    for argv, fragment in [
        (_train(sim, sim / "features.hdf5", readonly / "run"), "--out"),
        (["simulate", "--out", readonly / "sim", "--quiet", "--videos-train", "1"], "--out"),
        (["evaluate", run, "--json", readonly / "m.json"], "--json"),
        (["predict", "--checkpoint", run, "--features", sim / "features.hdf5", "--video-id",
          "x", "-q", "a person", "--plot", readonly / "p.png"], "--plot"),
        (["info", "--dataset", "jsonl", "--annotations", jsonl, "--plot", readonly / "p.png"],
         "--plot"),
        (["convert", "--from", "jsonl", "--to", "jsonl", jsonl / "test.jsonl",
          readonly / "t.jsonl"], "OUTPUT"),
    ]:
        log = expect(argv, [f"{fragment} ", f"cannot write in {readonly}"], [tmp_path, sim, run])
        assert "protocol:" not in log


def test_overwrite_on_a_read_only_run(sim, run, tmp_path):
    ro = tmp_path / "ro_run"
    shutil.copytree(run, ro)
    ro.chmod(0o555)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("permissions do not bind for this user (root)")
        expect(_train(sim, sim / "features.hdf5", ro) + ["--overwrite"],
               [f"--out {ro}: cannot write in {ro}"], [tmp_path, sim])
    finally:
        ro.chmod(0o755)


def test_new_files_follow_the_umask(tmp_path):
    from ms2d.checkpoint import save_checkpoint
    from ms2d.files import atomic_write_text

    old = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "a.json", "{}")
        save_checkpoint(tmp_path / "c.pt", {"config": {}})
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "c.pt").stat().st_mode & 0o777 == 0o640
    (tmp_path / "a.json").chmod(0o600)  # a replaced file keeps its mode
    atomic_write_text(tmp_path / "a.json", "[]")
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "c.pt"]  # no temp files


def test_one_atomic_writer():
    """Every file ms2d writes goes through ms2d.files.atomic_path."""
    src = Path(__file__).resolve().parents[1] / "src" / "ms2d"
    offenders = [p.relative_to(src).as_posix() for p in src.rglob("*.py")
                 if p.name != "files.py"
                 and any(s in p.read_text() for s in ("mkstemp", "os.replace(", ".replace(path)"))]
    assert offenders == []


# ------------------------------------------------------------------------------------------
# checkpoints checked against themselves


def _edited_checkpoint(run: Path, dst: Path, fn) -> Path:
    ckpt = torch.load(run / "best.pt", weights_only=True)
    fn(ckpt)
    torch.save(ckpt, dst)
    return dst


def test_checkpoint_weights_not_matching_its_config(run, tmp_path):
    def widen(c):
        c["config"]["model"]["hidden"] = 32
        del c["weights_config"]  # as in a checkpoint from before weights_config was recorded
    f = _edited_checkpoint(run, tmp_path / "x.pt", widen)
    log = expect(["evaluate", f], [f"checkpoint {f}: the weights do not match",
                                   "video.proj.weight is (16, 16) in the file, (32, 16)"],
                 [tmp_path, run])
    assert "load_state_dict" not in log and "size mismatch" not in log


def test_checkpoint_with_changed_scales(run, tmp_path):
    f = _edited_checkpoint(run, tmp_path / "x.pt",
                           lambda c: c["config"]["model"].update(scales=[8, 4, 2]))
    expect(["evaluate", f], [f"checkpoint {f}: its config was changed after training",
                             "model.scales: [8, 4] when the weights were saved, [8, 4, 2]"],
           [tmp_path, run])


def test_checkpoint_with_a_shortened_vocabulary(run, tmp_path):
    f = _edited_checkpoint(run, tmp_path / "x.pt", lambda c: c.update(vocab=c["vocab"][:-3]))
    expect(["evaluate", f], [f"checkpoint {f}: its vocabulary has", "model.vocab_size="],
           [tmp_path, run])


def test_checkpoint_with_an_invalid_config(run, tmp_path):
    f = _edited_checkpoint(run, tmp_path / "x.pt",
                           lambda c: c["config"]["train"].update(supervision="Weak"))
    expect(["evaluate", f], [f"checkpoint {f}: its config is not valid",
                             "train.supervision='Weak'"], [tmp_path, run])


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_predict_device_cuda_without_cuda(sim, run, tmp_path):
    log = expect(["predict", "--checkpoint", run, "--features", sim / "features.hdf5",
                  "--video-id", "x", "-q", "a person", "--device", "cuda"],
                 ["--device 'cuda': CUDA is not available"], [tmp_path, run])
    assert "corrupt" not in log


# ------------------------------------------------------------------------------------------
# data: one policy per kind of problem, the same whatever its size


def test_evaluated_record_without_window(sim, jsonl, run, tmp_path):
    d = _jsonl_variant(jsonl, tmp_path / "ann", _edit(2, windows=[]), split="test")
    log = expect(["evaluate", run, "--dataset", "jsonl", "--annotations", d],
                 [f"{d / 'test.jsonl'}: line 3: no ground-truth window", "split 'test'",
                  "Fix:"], [tmp_path, sim, run])
    assert "inhomogeneous" not in log


def test_validation_records_without_window_are_not_scored(sim, jsonl, tmp_path):
    """Training's validation split may lack windows (captions of your own videos): its
    windowless records are left out of the score, not an error (ms2d evaluate still needs one
    on every record, above)."""
    d = _jsonl_variant(jsonl, tmp_path / "ann", _edit(1, windows=[]), split="val")
    n = len((d / "val.jsonl").read_text().splitlines())
    with one_thread():
        log = expect(_train(sim, sim / "features.hdf5", tmp_path / "out", d, "jsonl"),
                     [f"validation: 1 of {n} pairs have no window and are not scored"],
                     [sim], rc=0)
    assert "no ground-truth window" not in log


def test_second_window_wholly_beyond_the_video_strict(sim, jsonl, tmp_path):
    """Every window of a record with several (QVHighlights' relevant_windows) is checked."""
    lines = (jsonl / "train.jsonl").read_text().splitlines()
    duration = json.loads(lines[3])["duration"]
    d = _jsonl_variant(jsonl, tmp_path / "ann", _edit(3, windows=[[0.0, 1.0], [500.0, 999.0]]))
    expect(_train(sim, sim / "features.hdf5", tmp_path / "out", d, "jsonl"),
           [f"{d / 'train.jsonl'}: line 4: window [500.0, 999.0] lies wholly beyond the video, "
            f"which lasts {duration!r} s", "Fix:"], [tmp_path, sim])


@pytest.mark.parametrize("window", [[500.0, 999.0], [1e6, 1e6 + 1]])
def test_window_wholly_beyond_the_video_strict(sim, jsonl, tmp_path, window):
    lines = (jsonl / "train.jsonl").read_text().splitlines()
    duration = json.loads(lines[3])["duration"]
    d = _jsonl_variant(jsonl, tmp_path / "ann", _edit(3, windows=[window]))
    expect(_train(sim, sim / "features.hdf5", tmp_path / "out", d, "jsonl"),
           [f"{d / 'train.jsonl'}: line 4: window [{window[0]!r}, {window[1]!r}] lies wholly "
            f"beyond the video, which lasts {duration!r} s", "Fix:"], [tmp_path, sim])


def test_window_just_beyond_the_video_strict(sim, jsonl, tmp_path):
    duration = json.loads((jsonl / "train.jsonl").read_text().splitlines()[3])["duration"]
    d = _jsonl_variant(jsonl, tmp_path / "ann", _edit(3, windows=[[duration, duration + 1]]))
    expect(_train(sim, sim / "features.hdf5", tmp_path / "out", d, "jsonl"),
           ["line 4: window", "lies wholly beyond the video"], [tmp_path, sim])


@pytest.mark.parametrize("window", [[500.0, 999.0], [5.0, 5.0]])
def test_window_dropped_by_the_2d_tan_protocol_is_counted_and_reported(sim, run, tmp_path,
                                                                       window):
    """ActivityNet / Charades-STA / CPL files follow 2D-TAN: such pairs are dropped, counted,
    and named in a warning (evaluate) or the annotation line of ms2d train."""
    d = tmp_path / "anet"
    shutil.copytree(sim, d, ignore=shutil.ignore_patterns("*.hdf5"))
    test = json.loads((d / "test.json").read_text())
    vid = sorted(test)[0]
    test[vid]["timestamps"][0] = window
    (d / "test.json").write_text(json.dumps(test))
    log = expect(["evaluate", run, "--annotations", d, "--features", sim / "features.hdf5"],
                 ["ms2d evaluate: warning: annotations of split 'test'",
                  "1 dropped: start >= end once clamped to the video",
                  f"(first: {d / 'test.json'}: video {vid!r}, sentence 0"],
                 [tmp_path, sim, run], rc=0)
    assert "R@1,IoU=0.5" in log


def test_clip_counts_that_do_not_fit_the_duration_are_warned(sim, run, tmp_path):
    test_vids = sorted(json.loads((sim / "test.json").read_text()))
    f = tmp_path / "f.hdf5"
    shutil.copy(sim / "features.hdf5", f)
    with h5py.File(f, "a") as h:
        for vid, n in ((test_vids[0], 1), (test_vids[1], 5000)):
            del h[vid]
            h[vid] = np.ones((n, 16), np.float32)
    log = expect(["evaluate", run, "--features", f],
                 ["ms2d evaluate: warning: 2 of 4 videos of split test have a number of clips "
                  "that does not fit", f"{test_vids[0]!r}: 1 clip(s) for",
                  f"{test_vids[1]!r}: 5,000 clip(s) for"], [tmp_path, sim, run], rc=0)
    assert "R@1,IoU=0.5" in log


def _shard(path: Path, vids: dict[str, int]) -> Path:
    from ms2d.video.extract import SPEC_KEYS, spec_path

    spec = {"name": "efficientnet-lite0", "dim": 16, "fps": 2.0, "clip_seconds": 1.0}
    with h5py.File(path, "w") as h:
        for k in SPEC_KEYS:
            h.attrs[k] = spec[k]
        for vid, n in vids.items():
            h[vid] = np.ones((n, 16), np.float32)
            h[vid].attrs["complete"] = True
    spec_path(path).write_text(json.dumps(spec))
    return path


def test_merge_of_a_truncated_shard(tmp_path):
    a = _shard(tmp_path / "f.shard0of2.hdf5", {"v1": 5})
    b = _shard(tmp_path / "f.shard1of2.hdf5", {"v2": 300})
    b.write_bytes(b.read_bytes()[:1500])
    out = tmp_path / "merged" / "f.hdf5"
    expect(["extract", "--merge", a, b, "--out", out],
           [f"{b}: cannot read it as an HDF5 feature file", "corrupt or truncated"], [tmp_path])
    assert not out.exists() and not Path(f"{out}.spec.json").exists()
    assert not (tmp_path / "merged").exists() or not list((tmp_path / "merged").iterdir())


def test_merge_of_a_missing_file(tmp_path):
    a = _shard(tmp_path / "f.shard0of2.hdf5", {"v1": 5})
    missing = tmp_path / "f.shard1of2.hdf5"
    log = expect(["extract", "--merge", a, missing, "--out", tmp_path / "f.hdf5"],
                 [f"{missing}: not found"], [tmp_path])
    assert "not written by ms2d extract" not in log
    assert not (tmp_path / "f.hdf5").exists()


def test_merge_writes_a_complete_file(tmp_path):
    a = _shard(tmp_path / "f.shard0of2.hdf5", {"v1": 5})
    b = _shard(tmp_path / "f.shard1of2.hdf5", {"v2": 7})
    expect(["extract", "--merge", a, b, "--out", tmp_path / "f.hdf5"],
           ["merged 2 video(s) from 2 file(s)"], [tmp_path], rc=0)
    with h5py.File(tmp_path / "f.hdf5", "r") as h:
        assert sorted(h) == ["v1", "v2"] and h["v2"].shape == (7, 16)
    assert Path(f"{tmp_path / 'f.hdf5'}.spec.json").is_file()


def test_training_split_drops_are_warned_with_the_first_record(sim, tmp_path):
    from ms2d.config import DataConfig
    from ms2d.data.records import DataWarning
    from ms2d.data.splits import load_splits

    d = tmp_path / "anet"
    shutil.copytree(sim, d, ignore=shutil.ignore_patterns("*.hdf5"))
    train = json.loads((d / "train.json").read_text())
    vid = sorted(train)[0]
    train[vid]["timestamps"][0] = [500.0, 999.0]
    (d / "train.json").write_text(json.dumps(train))
    cfg = DataConfig(annotations=str(d), features=str(sim / "features.hdf5"))
    with pytest.warns(DataWarning, match=r"split 'train'.*1 dropped: start >= end.*first: .*"
                      + f"video '{vid}', sentence 0"):
        splits = load_splits(cfg, ("train", "val"))
    assert splits.reports["train"]["dropped_start_ge_end"] == 1
