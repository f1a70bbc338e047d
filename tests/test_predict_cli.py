"""``ms2d predict``: table, --json, --plot, --gt, and refusals of mismatching features."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from conftest import KNOWN_QUERIES
from ms2d.cli import main


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()


def write_features(path: Path, arrays: dict[str, np.ndarray], spec: dict | None = None,
                   durations: dict[str, float] | None = None) -> Path:
    with h5py.File(path, "w") as f:
        for vid, a in arrays.items():
            ds = f.create_dataset(vid, data=a)
            if durations and vid in durations:
                ds.attrs["duration"] = durations[vid]
        for k, v in (spec or {}).items():
            f.attrs[k] = v
    return path


LITE = {"name": "efficientnet-lite0", "dim": 1280, "fps": 2.0, "clip_seconds": 1.0}


@pytest.fixture(scope="module")
def features(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    return write_features(tmp_path_factory.mktemp("f") / "feats.hdf5",
                          {"vid_a": rng.normal(size=(24, 1280)).astype(np.float32),
                           "vid_b": rng.normal(size=(7, 1280)).astype(np.float32)},
                          LITE, {"vid_a": 23.5})


def test_table_json_plot_gt(tiny_run: Path, features: Path, tmp_path: Path) -> None:
    js, png = tmp_path / "out.json", tmp_path / "plot.png"
    rc, out, err = run(["predict", "--checkpoint", tiny_run, "--features", features,
                        "--video-id", "vid_a", "-q", KNOWN_QUERIES[0], "--query", KNOWN_QUERIES[1],
                        "--top-k", "3", "--json", js, "--plot", png, "--gt", "2", "9",
                        "--gt", "10", "20"])
    assert rc == 0, err
    assert "efficientnet-lite0, 1280-d, 1 s clips" in out
    assert "vid_a in" in out and "(23.50 s, 24 clips)" in out  # the stored duration is used
    assert out.count("rank     start       end   score") == 2
    assert f"'{KNOWN_QUERIES[0]}'" in out and "IoU of #1" in out
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert [r[0] for r in rows] == ["1", "2", "3"] * 2
    data = json.loads(js.read_text())
    assert data["duration"] == 23.5
    assert [q["gt"] for q in data["queries"]] == [[2.0, 9.0], [10.0, 20.0]]
    assert [q["query"] for q in data["queries"]] == KNOWN_QUERIES[:2]
    for q in data["queries"]:
        assert [m["rank"] for m in q["moments"]] == [1, 2, 3]
        assert all(0 <= m["start"] < m["end"] <= 23.5 + 1e-9 for m in q["moments"])
        assert 0 <= q["iou_top1"] <= q["iou_best_top3"] <= 1
    assert data["feature_spec"]["name"] == "efficientnet-lite0"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_duration_from_clips_or_flag(tiny_run: Path, features: Path) -> None:
    rc, out, _ = run(["predict", "--checkpoint", tiny_run, "--features", features,
                      "--video-id", "vid_b", "-q", KNOWN_QUERIES[2]])
    assert rc == 0 and "(7.00 s, 7 clips)" in out  # no stored duration: 7 clips x 1 s
    rc, out, _ = run(["predict", "--checkpoint", tiny_run, "--features", features,
                      "--video-id", "vid_b", "-q", KNOWN_QUERIES[2], "--duration", "70"])
    assert rc == 0 and "(70.00 s, 7 clips)" in out


def test_refuses_features_of_another_extractor(tiny_run: Path, tmp_path: Path) -> None:
    x = {"v": np.zeros((5, 1280), np.float32)}
    other = write_features(tmp_path / "i3d.hdf5", x, {**LITE, "name": "i3d"})
    rc, out, err = run(["predict", "--checkpoint", tiny_run, "--features", other,
                        "--video-id", "v", "-q", KNOWN_QUERIES[0]])
    assert rc == 2 and out == ""
    assert "do not match the checkpoint: name 'i3d' (checkpoint: 'efficientnet-lite0')" in err
    slow = write_features(tmp_path / "slow.hdf5", x, {**LITE, "clip_seconds": 2.0})
    rc, _, err = run(["predict", "--checkpoint", tiny_run, "--features", slow,
                      "--video-id", "v", "-q", KNOWN_QUERIES[0]])
    assert rc == 2 and "clip_seconds 2.0 (checkpoint: 1.0)" in err
    small = write_features(tmp_path / "small.hdf5", {"v": np.zeros((5, 64), np.float32)})
    rc, _, err = run(["predict", "--checkpoint", tiny_run, "--features", small,
                      "--video-id", "v", "-q", KNOWN_QUERIES[0]])
    assert rc == 2 and "dim 64 (checkpoint: 1280)" in err


def test_usage_errors(tiny_run: Path, features: Path, capsys: pytest.CaptureFixture) -> None:
    base = ["predict", "--checkpoint", tiny_run, "--features", features]
    rc, _, err = run([*base, "-q", "a laptop"])
    assert rc == 2 and "--video-id" in err
    rc, _, err = run([*base, "--video-id", "nope", "-q", "a laptop"])
    assert rc == 2 and "'nope' is not in" in err
    rc, _, err = run([*base, "--video-id", "vid_a", "-q", "   "])
    assert rc == 2 and "empty" in err
    with pytest.raises(SystemExit) as exc:  # argparse's usage error: status 2
        main([str(a) for a in [*base, "--video-id", "vid_a", "-q", "a laptop", "--top-k", "0"]])
    assert exc.value.code == 2
    assert "argument --top-k: expected a whole number >= 1" in capsys.readouterr().err
    rc, _, err = run([*base, "--video-id", "vid_a", "-q", "a laptop", "--gt", "5", "2"])
    assert rc == 2 and "START < END" in err
    rc, _, err = run(["predict", "--checkpoint", Path(tiny_run) / "nothing", "--features",
                      features, "--video-id", "vid_a", "-q", "a laptop"])
    assert rc == 2 and "does not exist" in err
    with pytest.raises(SystemExit):  # argparse: --video and --features together
        run(["predict", "--checkpoint", tiny_run, "--features", features, "--video", "x.mp4",
             "-q", "a"])


def test_unknown_words_warn_on_stderr(tiny_run: Path, features: Path) -> None:
    rc, out, err = run(["predict", "--checkpoint", tiny_run, "--features", features,
                        "--video-id", "vid_a", "-q", "zebra xylophone"])
    assert rc == 0 and "warning: none of the words" in err and "rank" in out


def test_predict_from_video_file(tiny_run: Path, video_folder: Path, needs_backbone: None,
                                 tmp_path: Path) -> None:
    rc, out, err = run(["predict", "--checkpoint", tiny_run, "--video",
                        video_folder / "normal.mp4", "-q", KNOWN_QUERIES[0], "--top-k", "2",
                        "--quiet", "--json", tmp_path / "o.json"])
    assert rc == 0, err
    assert "normal.mp4 (3.0" in out and "3 clips" in out
    assert len(json.loads((tmp_path / "o.json").read_text())["queries"][0]["moments"]) == 2
    rc, _, err = run(["predict", "--checkpoint", tiny_run, "--video",
                      video_folder / "broken.mp4", "-q", KNOWN_QUERIES[0], "--quiet"])
    assert rc == 2 and "corrupt" in err


def test_video_refused_for_checkpoint_of_other_features(checkpoint_variant, video_folder: Path,
                                                        needs_backbone: None) -> None:
    ckpt = checkpoint_variant(name="i3d")
    rc, out, err = run(["predict", "--checkpoint", ckpt, "--video", video_folder / "normal.mp4",
                        "-q", KNOWN_QUERIES[0], "--quiet"])
    assert rc == 2 and out == ""
    assert "'i3d' features, which ms2d cannot extract" in err and "ms2d extract" in err
    ckpt = checkpoint_variant(clip_seconds=0.5)
    rc, _, err = run(["predict", "--checkpoint", ckpt, "--video", video_folder / "normal.mp4",
                      "-q", KNOWN_QUERIES[0], "--quiet"])
    assert rc == 0, err  # clip length taken from the checkpoint: 0.5 s clips


def test_video_without_pyav_says_how_to_install(tiny_run: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "av", None)
    rc, out, err = run(["predict", "--checkpoint", tiny_run, "--video", tmp_path / "any.mp4",
                        "-q", KNOWN_QUERIES[0], "--quiet"])
    assert rc == 2 and out == "" and "pip install 'ms2d[video]'" in err
