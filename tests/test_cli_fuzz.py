"""CLI fuzz: every sub-command and every option with malformed values (empty, negative, huge,
wrong type, unknown enumeration value, unwritable path) ends with exit status 2, one
``error:`` line and no traceback, before any work starts.

Each case calls ``ms2d.cli.main(argv)`` in-process on an otherwise valid command line. The
functions that do the work (training, simulating, extracting, serving) are replaced by a
sentinel that fails the test, so a value that slips through is caught at once instead of
starting an hour-long run. ``OPTIONS`` must name every option of every sub-command: a new
option without fuzz values fails ``test_every_option_is_fuzzed``. The config keys are fuzzed
the same way (``test_every_config_key_is_checked``), through ``resolve`` and through
``ms2d train``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import os
from pathlib import Path

import pytest

from _tiny import TINY, make_sim, one_thread, single_thread  # noqa: F401  (autouse fixture)
from ms2d.cli import build_parser, main
from ms2d.config import Config, DataConfig, TrainConfig, resolve
from ms2d.models.config import ModelConfig
from ms2d.settings import ConfigError, allowed_choices, rules

INT1 = ["", "-1", "0", "1" + "0" * 15, "abc", "1.5"]  # a whole number >= 1
INT0 = ["", "-1", "1" + "0" * 15, "abc", "1.5"]  # a whole number >= 0
POS = ["", "-1", "0", "1e400", "abc", "nan"]  # a finite number > 0
CHOICE = ["", "bogus"]
DEVICE = ["", "bogus", "cuda:99"]
OUT_FILE = ["", "{file}/x", "{dir}"]  # a folder given where a file is written
OUT_DIR = ["", "{file}", "{file}/x"]  # a file given where a folder is made
IN_PATH = ["", "{missing}"]
FLAG = ["=1"]  # a value given to a switch

#: (command, option) -> malformed values. {file}: an existing file, {dir}: an existing folder,
#: {missing}: a path that does not exist. Positional arguments are named by their dest.
OPTIONS: dict[tuple[str, str], list] = {
    ("quickstart", "--out"): OUT_DIR,
    ("quickstart", "--seed"): INT0,
    ("quickstart", "--preset"): ["", "bogus", "{missing}.yaml"],
    ("quickstart", "--overwrite"): FLAG,
    ("quickstart", "--quiet"): FLAG,
    ("quickstart", "--jobs"): INT1,
    ("quickstart", "--combine"): IN_PATH + ["{dir}", "{file}"],  # {file}: not a results.json
    ("quickstart", "overrides"): ["", "train.epochs=0", "train.lr=abc", "bogus.key=1"],
    ("simulate", "--out"): OUT_DIR,
    ("simulate", "--seed"): INT0,
    ("simulate", "--world"): CHOICE,
    ("simulate", "--videos-train"): INT0,
    ("simulate", "--videos-val"): INT0,
    ("simulate", "--videos-test"): INT0,
    ("simulate", "--feature-dim"): INT1,
    ("simulate", "--overwrite"): FLAG,
    ("simulate", "--quiet"): FLAG,
    ("simulate-features", "--dataset"): CHOICE,
    ("simulate-features", "--annotations"): IN_PATH,
    ("simulate-features", "--out"): OUT_FILE,
    ("simulate-features", "--layout"): CHOICE,
    ("simulate-features", "--dim"): INT1,
    ("simulate-features", "--clips-per-second"): POS,
    ("simulate-features", "--splits"): ["", " , ", "bogus"],
    ("simulate-features", "--subset"): ["", "0", "-1", "abc", "bogus=3", "train=x"],
    ("simulate-features", "--seed"): INT0,
    ("simulate-features", "--world"): ["", "bogus"],
    ("simulate-features", "--overwrite"): FLAG,
    ("simulate-features", "--quiet"): FLAG,
    ("train", "--dataset"): CHOICE,
    ("train", "--annotations"): IN_PATH,
    ("train", "--features"): IN_PATH,
    ("train", "--preset"): ["", "bogus", "{missing}.yaml", "{dir}"],
    ("train", "--out"): OUT_DIR,
    ("train", "--resume"): FLAG,
    ("train", "--overwrite"): FLAG,
    ("train", "--checkpoint-every"): INT0,
    ("train", "--word-vectors"): IN_PATH,
    ("train", "--quiet"): FLAG,
    ("train", "overrides"): ["", "train.epochs=0", "train.supervision=Weak", "model.scales=[]",
                             "train.lr=nan", "train.device=cuda:99", "bogus.key=1"],
    ("evaluate", "run"): IN_PATH,
    ("evaluate", "--dataset"): CHOICE + ["cpl"],  # cpl: the run's simulated files are not cpl
    ("evaluate", "--annotations"): IN_PATH,
    ("evaluate", "--features"): IN_PATH,
    ("evaluate", "--split"): ["", "bogus"],
    ("evaluate", "--protocol"): ["", "bogus", "cpl"],
    ("evaluate", "--json"): OUT_FILE,
    ("evaluate", "--save-predictions"): OUT_FILE,
    ("evaluate", "--predictions"): IN_PATH,
    ("evaluate", "--ground-truth"): IN_PATH,
    ("evaluate", "--gt-rule"): CHOICE,
    ("evaluate", "--device"): DEVICE,
    ("predict", "--checkpoint"): IN_PATH,
    ("predict", "--video"): IN_PATH,
    ("predict", "--features"): IN_PATH,
    ("predict", "--video-id"): ["", "bogus"],
    ("predict", "--query"): ["", "   "],
    ("predict", "--top-k"): INT1,
    ("predict", "--json"): OUT_FILE,
    ("predict", "--plot"): OUT_FILE + ["{tmp}/plot.bogusformat"],
    ("predict", "--gt"): [["", "1"], ["-1", "2"], ["abc", "1"], ["5", "2"], ["nan", "1"],
                          ["1", "1e400"]],
    ("predict", "--duration"): POS,
    ("predict", "--fps"): POS,
    ("predict", "--weights"): IN_PATH,
    ("predict", "--device"): DEVICE,
    ("predict", "--quiet"): FLAG,
    ("extract", "inputs"): IN_PATH,
    ("extract", "--out"): OUT_FILE,
    ("extract", "--fps"): POS,
    ("extract", "--clip-seconds"): POS,
    ("extract", "--backbone"): CHOICE,
    ("extract", "--weights"): IN_PATH,
    ("extract", "--batch-size"): INT1,
    ("extract", "--shard"): ["", "3/2", "a/b", "-1/2", "1"],
    ("extract", "--merge"): FLAG,
    ("extract", "--device"): DEVICE,
    ("extract", "--list-backbones"): FLAG,
    ("extract", "--quiet"): FLAG,
    ("captions", "captions"): IN_PATH + ["{dir}"],
    ("captions", "--features"): IN_PATH,
    ("captions", "--out"): OUT_FILE + ["{tmp}/c.txt"],
    ("convert", "--from"): CHOICE,
    ("convert", "--to"): CHOICE,
    ("convert", "input"): IN_PATH,
    ("convert", "output"): ["", "{file}/x.jsonl", "{dir}"],
    ("convert", "--split"): [""],  # any other name is fine for a file INPUT
    ("convert", "--protocol"): ["", "bogus"],
    ("convert", "--val-fraction"): ["", "-1", "0", "1", "abc", "nan"],
    ("convert", "--overwrite"): FLAG,
    ("info", "--dataset"): CHOICE,
    ("info", "--annotations"): IN_PATH,
    ("info", "--split"): ["", "bogus"],
    ("info", "--protocol"): ["", "bogus"],
    ("info", "--features"): IN_PATH,
    ("info", "--features-key"): ["", "bogus"],
    ("info", "--word-vectors"): IN_PATH,
    ("info", "--plot"): OUT_FILE,
    ("demo", "--checkpoint"): IN_PATH,
    ("demo", "--videos"): IN_PATH + ["{file}"],
    ("demo", "--upload-dir"): OUT_DIR,
    ("demo", "--host"): ["", "a b", "host/x"],
    ("demo", "--port"): ["", "-1", "0", "70000", "abc"],
    ("demo", "--fps"): POS,
    ("demo", "--max-upload-mb"): INT1,
    ("demo", "--device"): DEVICE,
}


class WorkStarted(AssertionError):
    """Raised by the stand-ins of the functions that do a command's work."""


def _options() -> dict[tuple[str, str], argparse.Action]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    found = {}
    for name, parser in sub.choices.items():
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            key = action.option_strings[0] if action.option_strings else action.dest
            found[(name, key)] = action
    return found


def test_every_option_is_fuzzed():
    assert sorted(set(_options()) - set(OPTIONS)) == [], "add the new options to OPTIONS"
    assert sorted(set(OPTIONS) - set(_options())) == [], "OPTIONS names options that are gone"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """Small real inputs: a simulated dataset, a one-epoch run, JSONL annotations, predictions."""
    from ms2d.data.annotations import read_annotations, write_annotations
    from ms2d.eval.evaluator import save_predictions

    root = tmp_path_factory.mktemp("fuzz")
    sim = make_sim(root / "sim", n_train=8, n_val=3, n_test=3)
    run = root / "run"
    with one_thread():
        rc, log = _call(["train", "--dataset", "simulated", "--annotations", sim, "--features",
                         sim / "features.hdf5", "--out", run, "--quiet", *TINY,
                         "train.epochs=1"])
    assert rc == 0, log
    jsonl = root / "jsonl"
    test = read_annotations("activitynet-captions", sim, "test").queries
    for split in ("train", "test"):
        write_annotations(read_annotations("activitynet-captions", sim, split).queries, "jsonl",
                          jsonl, split=split)
    (root / "gt.jsonl").write_text("".join(
        json.dumps({"qid": q.qid, "windows": [list(q.window)], "duration": q.duration}) + "\n"
        for q in test))
    save_predictions(root / "pred.jsonl", {q.qid: [[0.0, 1.0]] for q in test})
    (root / "captions.csv").write_text(f"video,caption\n{test[0].vid},a person\n")
    (root / "a_file").write_text("x\n")
    (root / "a_dir").mkdir()
    return {"root": root, "sim": sim, "run": run, "jsonl": jsonl, "vid": test[0].vid,
            "file": root / "a_file", "dir": root / "a_dir", "missing": root / "missing"}


def _call(argv) -> tuple[int, str]:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        try:
            rc = main([str(a) for a in argv])
        except SystemExit as exc:  # argparse's usage errors
            rc = exc.code if isinstance(exc.code, int) else 2
    return rc, buf.getvalue()


def _bases(env, tmp: Path) -> dict[str, list]:
    """One valid command line per sub-command (tmp: a fresh folder for outputs)."""
    sim, run = env["sim"], env["run"]
    feats = sim / "features.hdf5"
    return {
        "quickstart": ["quickstart", "--out", tmp / "qs", "--quiet"],
        "simulate": ["simulate", "--out", tmp / "s", "--quiet", "--videos-train", "2"],
        "simulate-features": ["simulate-features", "--dataset", "activitynet-captions",
                              "--annotations", sim, "--out", tmp / "sf.hdf5", "--quiet"],
        "train": ["train", "--dataset", "simulated", "--annotations", sim, "--features", feats,
                  "--out", tmp / "t", "--quiet", *TINY],
        "evaluate": ["evaluate", run],
        "evaluate-files": ["evaluate", "--predictions", env["root"] / "pred.jsonl",
                           "--ground-truth", env["root"] / "gt.jsonl"],
        "predict": ["predict", "--checkpoint", run, "--features", feats, "--video-id",
                    env["vid"], "-q", "a person"],
        "predict-video": ["predict", "--checkpoint", run, "-q", "a person"],
        "extract": ["extract", env["file"], "--out", tmp / "e.hdf5"],
        "captions": ["captions", env["root"] / "captions.csv", "--features", feats, "--out",
                     tmp / "c.jsonl"],
        "convert": ["convert", "--from", "jsonl", "--to", "jsonl", env["jsonl"] / "test.jsonl",
                    tmp / "c.jsonl"],
        "info": ["info", "--dataset", "jsonl", "--annotations", env["jsonl"]],
        "demo": ["demo", "--checkpoint", run, "--upload-dir", tmp / "up"],
    }


def _argv(env, tmp: Path, command: str, option: str, action: argparse.Action, value) -> list:
    """The base command line of ``command`` with ``option`` set to ``value``."""
    fill = {"file": env["file"], "dir": env["dir"], "missing": env["missing"], "tmp": tmp}
    values = value if isinstance(value, list) else [value]
    values = [str(v).format(**fill) for v in values]
    bases = _bases(env, tmp)
    base = list(bases[command])
    if (command, option) in (("evaluate", "--predictions"), ("evaluate", "--ground-truth")):
        base = list(bases["evaluate-files"])
    if (command, option) == ("predict", "--video"):
        base = list(bases["predict-video"])
    base = [str(a) for a in base]
    if not action.option_strings:  # a positional argument: replace it, or add it
        positional = {("evaluate", "run"): 1, ("extract", "inputs"): 1, ("convert", "input"): 5,
                      ("convert", "output"): 6, ("captions", "captions"): 1}
        if (command, option) in positional:
            base[positional[(command, option)]] = values[0]
            return base
        return base + values  # overrides
    if action.nargs == 0:  # a switch given a value: --quiet=1
        return base + [option + values[0]]
    if option in base:
        i = base.index(option)
        del base[i: i + 1 + (action.nargs if isinstance(action.nargs, int) else 1)]
    return base + [option, *values]


@pytest.fixture
def no_work(monkeypatch):
    """Replace the functions that do the work by a sentinel that fails the test."""
    import ms2d.data.captions as captions
    import ms2d.data.simulate as simulate
    import ms2d.data.simulate.real as simulate_real
    import ms2d.demo as demo
    import ms2d.quickstart as quickstart
    import ms2d.train.loop as loop
    import ms2d.video.extract as extract

    def started(*args, **kwargs):
        raise WorkStarted("the command started its work with a malformed value")

    for module, name in ((quickstart, "run_quickstart"), (simulate, "simulate"),
                         (simulate_real, "simulate_features"), (loop, "train"),
                         (extract, "extract_features"), (extract, "merge_feature_files"),
                         (demo, "create_app"), (captions, "read_captions")):
        monkeypatch.setattr(module, name, started)


def _fuzz(env, tmp_path, commands: set[str]) -> list[str]:
    options = _options()
    failures = []
    n = 0
    for (command, option), values in sorted(OPTIONS.items()):
        if command not in commands:
            continue
        for value in values:
            case = tmp_path / f"case{n}"
            case.mkdir()
            n += 1
            argv = _argv(env, case, command, option, options[(command, option)], value)
            try:
                rc, log = _call(argv)
            except WorkStarted:
                failures.append(f"{command} {option} {value!r}: accepted (the work started)")
                continue
            if rc != 2 or "Traceback" in log or "error:" not in log:
                failures.append(f"{command} {option} {value!r}: exit {rc}\n{log[-600:]}")
    assert n > 0
    return failures


FAST = {"quickstart", "simulate", "simulate-features", "train", "extract", "captions", "convert",
        "info", "demo"}


def test_fuzz_options_of_commands_that_work_on_files(env, tmp_path, no_work):
    failures = _fuzz(env, tmp_path, FAST)
    assert not failures, "\n\n".join(failures)


def test_fuzz_options_of_commands_that_load_a_checkpoint(env, tmp_path, no_work):
    failures = _fuzz(env, tmp_path, {"evaluate", "predict"})
    assert not failures, "\n\n".join(failures)


def test_fuzz_leaves_no_output_behind(env, tmp_path, no_work):
    """A refused command writes nothing: no run folder, no simulated files, no partial JSON."""
    for argv in (["train", *_bases(env, tmp_path)["train"][1:], "train.epochs=0"],
                 _bases(env, tmp_path)["simulate"] + ["--feature-dim", "0"],
                 ["evaluate", env["run"], "--json", env["dir"]]):
        rc, log = _call(argv)
        assert rc == 2 and "Traceback" not in log, log
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    assert list(env["dir"].iterdir()) == []


# ------------------------------------------------------------------------------------------
# config keys: every key, malformed for its type and out of its declared range


def _bad_values(f: dataclasses.Field) -> list[str]:
    kind = str(f.type).replace(" ", "")
    r = rules(f)
    values = {"int": ["", "abc", "1.5", "nan", "[1]"], "float": ["", "abc", "nan", "inf", "[1]"],
              "bool": ["", "maybe", "2"], "str": []}.get(kind, ["abc", "[1.5]", "[true]", "{}"])
    if "choices" in r:
        values += ["bogus"] + ([""] if "" not in allowed_choices(f) else [])
    for bound, step in (("min", -1), ("gt", 0), ("max", +1), ("lt", 0)):
        if bound in r:
            x = r[bound] + step
            text = str(int(x)) if kind.startswith(("int", "tuple")) and float(x).is_integer() else str(x)
            values.append(f"[{text}]" if kind.startswith("tuple") else text)
    if r.get("nonempty"):
        values.append("[]")
    if r.get("check"):  # model.kernel: even; train.device: not a device
        values.append({"kernel": "4", "device": "gpu"}[f.name])
    return values


CONFIG_FIELDS = [(section, f) for section, cls in (("model", ModelConfig),
                                                   ("train", TrainConfig), ("data", DataConfig))
                 for f in dataclasses.fields(cls)]


def test_every_config_key_is_checked():
    """Each malformed value of each key is a ConfigError naming the key."""
    failures = []
    for section, f in CONFIG_FIELDS:
        key = f"{section}.{f.name}"
        for value in _bad_values(f):
            try:
                resolve("synthetic-cpu", [f"{key}={value}"])
            except ConfigError as exc:
                if key not in str(exc):
                    failures.append(f"{key}={value!r}: message does not name the key: {exc}")
            else:
                failures.append(f"{key}={value!r}: accepted")
    assert not failures, "\n".join(failures)


def test_declared_rules_are_known_and_defaults_follow_them():
    for _section, f in CONFIG_FIELDS:
        assert set(rules(f)) <= {"choices", "min", "max", "gt", "lt", "nonempty", "check"}, f
    Config().validate()  # the defaults follow their own rules


def test_bad_config_keys_through_the_cli(env, tmp_path, no_work):
    """One malformed value per config key through ``ms2d train``: exit 2, no traceback, the
    key in the message, nothing written."""
    failures = []
    base = _bases(env, tmp_path)["train"]
    for section, f in CONFIG_FIELDS:
        values = _bad_values(f)
        if not values:
            continue
        key = f"{section}.{f.name}"
        rc, log = _call([*base, f"{key}={values[-1]}"])
        if rc != 2 or "Traceback" in log or key not in log:
            failures.append(f"{key}={values[-1]!r}: exit {rc}\n{log[-400:]}")
    assert not failures, "\n\n".join(failures)
    assert not (tmp_path / "t").exists()


def test_unwritable_place(env, tmp_path, no_work):
    """A folder this user cannot write in (where permissions bind: not as root)."""
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("permissions do not bind for this user (root)")
        bases = _bases(env, tmp_path)
        for argv in (bases["train"][:-len(TINY)] + ["--out", ro / "t"],
                     ["simulate", "--out", ro / "s"], ["evaluate", env["run"], "--json", ro / "m"],
                     ["extract", env["file"], "--out", ro / "e.hdf5"],
                     ["demo", "--checkpoint", env["run"], "--upload-dir", ro / "up"]):
            rc, log = _call(argv)
            assert rc == 2 and "cannot write in" in log and "Traceback" not in log, log
    finally:
        ro.chmod(0o755)
