"""Raw video -> clip features, written in the flat HDF5 layout the feature loaders read.

Pipeline for one video: decode frames at ``fps`` by timestamp (``decode.py``) -> embed them in
batches with an image backbone (``backbones.py``) -> average the frames of each
``clip_seconds`` window into one clip feature. A video of duration ``D`` gives
``T = max(1, ceil(D / clip_seconds))`` clips; a clip with no sampled frame (when
``fps < 1 / clip_seconds``) takes the last sample at or before its centre (the frame that
stands for that moment).

Output (``FEATURES.hdf5``):

* one ``float32 [T, dim]`` dataset per video id (the file name without its extension) at the
  root, with attributes ``duration`` (seconds), ``frames`` (frames sampled), ``source`` (file
  name) and ``complete`` (set last: a dataset without it is redone on the next run);
* the feature spec as file attributes ``name``, ``dim``, ``fps``, ``clip_seconds`` (plus
  ``ms2d_version``), and as JSON in the sidecar ``FEATURES.hdf5.spec.json``.

Work is written and flushed video by video, so an interrupted run resumes where it stopped; a
video already in the file is skipped. A video that cannot be decoded is reported and the batch
goes on.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import __version__
from ..data.records import DataError
from .backbones import DEFAULT_BACKBONE, Backbone, create_backbone
from .decode import VideoDecodeError, find_videos, open_video

SPEC_KEYS = ("name", "dim", "fps", "clip_seconds")


@dataclass(frozen=True)
class FeatureSpec:
    """What produced a feature file: extractor name, dimension, frame rate, clip length."""

    name: str
    dim: int
    fps: float
    clip_seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dim": int(self.dim), "fps": float(self.fps),
                "clip_seconds": float(self.clip_seconds)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureSpec:
        return cls(str(d["name"]), int(d["dim"]), float(d.get("fps", 0.0)),
                   float(d.get("clip_seconds", 0.0)))


@dataclass
class ExtractReport:
    """What :func:`extract_features` did."""

    out: Path
    spec: FeatureSpec
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # path -> error message (names the path)
    frames: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed


def spec_path(features: str | os.PathLike[str]) -> Path:
    """The sidecar JSON next to a feature file: ``<file>.spec.json``."""
    return Path(f"{features}.spec.json")


def read_feature_spec(features: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The feature spec of a file written by ``ms2d extract`` (file attributes, else the
    sidecar JSON); ``None`` for files from elsewhere."""
    path = Path(features)
    if path.is_file():
        try:
            import h5py

            with h5py.File(path, "r") as f:
                if all(k in f.attrs for k in SPEC_KEYS):
                    return {k: _plain(f.attrs[k]) for k in SPEC_KEYS}
        except OSError:
            pass
    side = spec_path(path)
    if side.is_file():
        d = json.loads(side.read_text())
        return {k: d[k] for k in SPEC_KEYS if k in d}
    return None


def _plain(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.generic):
        return v.item()
    return v


def clip_count(duration: float, clip_seconds: float) -> int:
    """Clips of a video: ``max(1, ceil(duration / clip_seconds))`` (tolerant to rounding)."""
    return max(1, math.ceil(duration / clip_seconds - 1e-6))


def pool_clips(frame_feats: np.ndarray, times: np.ndarray, duration: float,
               clip_seconds: float) -> np.ndarray:
    """Average the frames of each ``clip_seconds`` window: ``[N, D]`` -> ``[T, D]`` float32."""
    if len(frame_feats) == 0:
        raise ValueError("no frames to pool")
    t_clips = clip_count(duration, clip_seconds)
    idx = np.minimum((np.asarray(times) / clip_seconds).astype(np.int64), t_clips - 1)
    sums = np.zeros((t_clips, frame_feats.shape[1]), np.float64)
    np.add.at(sums, idx, frame_feats)
    counts = np.bincount(idx, minlength=t_clips)
    out = sums / np.maximum(counts, 1)[:, None]
    empty = np.flatnonzero(counts == 0)
    if len(empty):
        centres = (empty + 0.5) * clip_seconds  # the sample whose span covers the centre
        covering = np.searchsorted(np.asarray(times), centres, side="right") - 1
        out[empty] = frame_feats[np.clip(covering, 0, len(frame_feats) - 1)]
    return out.astype(np.float32)


def extract_video(path: str | os.PathLike[str], backbone: Backbone, *, fps: float = 2.0,
                  clip_seconds: float = 1.0, batch_size: int = 32,
                  on_frames: Callable[[int], None] | None = None) -> tuple[np.ndarray, float, int]:
    """Clip features of one video: ``(float32 [T, dim], duration_seconds, frames_sampled)``.

    Raises :class:`~ms2d.video.decode.VideoDecodeError` for a file FFmpeg cannot decode.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    size = (backbone.input_size, backbone.input_size)
    feats: list[np.ndarray] = []
    times: list[float] = []
    batch: list[np.ndarray] = []

    def flush() -> None:
        if batch:
            feats.append(backbone.embed(np.stack(batch)))
            if on_frames is not None:
                on_frames(len(batch))
            batch.clear()

    with open_video(path) as video:
        for t, rgb in video.sample(fps=fps, size=size):
            times.append(t)
            batch.append(rgb)
            if len(batch) >= batch_size:
                flush()
        flush()
        duration = video.duration
    frame_feats = np.concatenate(feats)
    if not np.isfinite(frame_feats).all():
        raise VideoDecodeError(f"{path}: the backbone produced NaN/inf features")
    return pool_clips(frame_feats, np.array(times), duration, clip_seconds), duration, len(times)


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` -> ``(i, n)`` with ``0 <= i < n``."""
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard {text!r}: write i/n, e.g. 0/4 (shard 0 of 4)") from None
    if not 0 <= i < n:
        raise ValueError(f"--shard {text!r}: need 0 <= i < n")
    return i, n


def shard_output(out: str | os.PathLike[str], shard: tuple[int, int]) -> Path:
    """Where shard ``i/n`` writes: ``FEATURES.shard{i}of{n}.hdf5`` (the file itself for 1 shard).

    Shards write separate files because an HDF5 file has one writer at a time; merge them with
    ``ms2d extract --merge``.
    """
    out = Path(out)
    i, n = shard
    if n == 1:
        return out
    return out.with_name(f"{out.stem}.shard{i}of{n}{out.suffix or '.hdf5'}")


def _video_ids(paths: list[Path]) -> dict[str, Path]:
    ids: dict[str, Path] = {}
    clashes: list[str] = []
    for p in paths:
        vid = p.stem
        if vid in ids:
            clashes.append(f"{ids[vid]} and {p}")
        ids[vid] = p
    if clashes:
        raise DataError(
            "two input videos would get the same video id (the file name without extension): "
            + "; ".join(clashes[:5]) + ". Fix: rename one of them or extract them separately."
        )
    return ids


def _write_sidecar(out: Path, spec: FeatureSpec) -> None:
    from ..files import atomic_write_text

    atomic_write_text(spec_path(out), json.dumps(
        {**spec.to_dict(), "ms2d_version": __version__, "layout": "flat-hdf5"}, indent=2))


def _open_output(out: Path, spec: FeatureSpec, *, new: bool = False) -> Any:
    """Open (or create) ``out`` for writing features of ``spec`` and write the spec's sidecar
    JSON; ``new``: ``out`` is a fresh temporary file, created empty (no sidecar: the caller
    writes it for the final name once the file is complete)."""
    import h5py

    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        f = h5py.File(out, "w" if new else "a")
    except OSError as exc:
        raise DataError(f"{out}: cannot open it for writing ({exc}). If another ms2d extract is "
                        "writing it, wait for it or use --shard with separate outputs.") from None
    if all(k in f.attrs for k in SPEC_KEYS):
        old = FeatureSpec.from_dict({k: _plain(f.attrs[k]) for k in SPEC_KEYS})
        if old != spec:
            f.close()
            raise DataError(
                f"{out} already holds features of another spec ({old.to_dict()}) than this run "
                f"({spec.to_dict()}); one file holds one kind of features. Fix: pass another "
                "--out, or the same --backbone/--fps/--clip-seconds as before."
            )
    elif len(f.keys()):
        f.close()
        raise DataError(f"{out} already holds data that ms2d extract did not write; pass another --out")
    else:
        for k, v in spec.to_dict().items():
            f.attrs[k] = v
        f.attrs["ms2d_version"] = __version__
        f.flush()
    if not new:
        _write_sidecar(out, spec)
    return f


def extract_features(
    inputs: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    backbone: str | Backbone = DEFAULT_BACKBONE,
    weights: str | os.PathLike[str] | None = None,
    fps: float = 2.0,
    clip_seconds: float = 1.0,
    batch_size: int = 32,
    shard: tuple[int, int] = (0, 1),
    device: str | torch.device = "cpu",
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> ExtractReport:
    """Extract clip features of every video in ``inputs`` (files and/or folders) into ``out``.

    Videos whose id is already complete in ``out`` are skipped; failures are collected in the
    report (and logged) rather than raised. ``shard=(i, n)`` processes every n-th video starting
    at i (of the sorted list).
    """
    from tqdm.auto import tqdm

    from .decode import require_av

    require_av()  # fail before creating any output when PyAV is missing
    if not (fps > 0 and clip_seconds > 0):
        raise ValueError(f"fps and clip_seconds must be > 0 (got {fps}, {clip_seconds})")
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    paths = find_videos(list(inputs))
    if not paths:
        raise DataError(f"no video files found in {', '.join(map(str, inputs))}")
    ids = _video_ids(paths)
    i, n = shard
    todo = dict(list(ids.items())[i::n])
    bb = backbone if isinstance(backbone, Backbone) else create_backbone(
        backbone, weights=weights, device=device)
    spec = FeatureSpec(bb.name, bb.dim, float(fps), float(clip_seconds))
    out = Path(out)
    report = ExtractReport(out=out, spec=spec)
    say = log or (lambda msg: tqdm.write(msg, file=sys.stderr))
    t0 = time.time()
    f = _open_output(out, spec)
    try:
        for vid in list(todo):
            if vid in f and f[vid].attrs.get("complete", False):
                report.skipped.append(vid)
                del todo[vid]
            elif vid in f:  # left unfinished by an interrupted run
                del f[vid]
        bar = tqdm(total=len(todo), desc="extract", unit="video", disable=not progress)
        with bar:
            for vid, path in todo.items():
                bar.set_postfix_str(path.name[-30:])
                try:
                    feats, duration, frames = extract_video(path, bb, fps=fps,
                                                            clip_seconds=clip_seconds,
                                                            batch_size=batch_size)
                except (VideoDecodeError, FileNotFoundError) as exc:
                    report.failed[str(path)] = str(exc)
                    say(f"ms2d extract: skipping a video: {exc}")
                    bar.update(1)
                    continue
                ds = f.create_dataset(vid, data=feats, track_times=False)
                ds.attrs["duration"] = float(duration)
                ds.attrs["frames"] = int(frames)
                ds.attrs["source"] = path.name
                ds.attrs["complete"] = True
                f.flush()
                report.done.append(vid)
                report.frames += frames
                bar.update(1)
    finally:
        f.close()
    report.seconds = time.time() - t0
    return report


def _check_part(path: Path, h5py: Any) -> None:
    """Open a file to merge and read every complete video's metadata: a missing, truncated or
    foreign file is a ``DataError`` before the output is touched."""
    if not path.exists():
        raise DataError(f"{path}: not found. Fix: check the path (a shard is written as "
                        "FEATURES.shardIofN.hdf5)")
    if path.is_dir():
        raise DataError(f"{path} is a folder; give the feature files (.hdf5) to merge")
    try:
        with h5py.File(path, "r") as src:
            for vid in src:
                if src[vid].attrs.get("complete", False):
                    _ = src[vid].shape, src[vid].dtype
    except (OSError, RuntimeError, KeyError, ValueError) as exc:
        raise DataError(f"{path}: cannot read it as an HDF5 feature file ({exc}). The file is "
                        "corrupt or truncated (an interrupted shard?); extract it again "
                        "(ms2d extract ... --shard I/N) before merging") from None


def merge_feature_files(parts: list[str | os.PathLike[str]], out: str | os.PathLike[str]) -> int:
    """Merge feature files written by ``ms2d extract`` (e.g. shards) into ``out``; all must have
    the same spec. Returns the number of videos copied (ids already in ``out`` are kept).

    Every input is opened and checked first; a new ``out`` is written to a temporary file and
    renamed when complete, and the videos copied into an existing ``out`` are removed again if
    the merge fails, so a failed merge leaves no partial output."""
    import h5py

    from ..files import atomic_path

    paths = [Path(p) for p in parts]
    out = Path(out)
    for p in paths:
        _check_part(p, h5py)
        if p.resolve() == out.resolve():
            raise DataError(f"{p} is both an input and --out; merge into another file")
    specs = {str(p): read_feature_spec(p) for p in paths}
    missing = [p for p, s in specs.items() if s is None]
    if missing:
        raise DataError(f"{', '.join(missing)}: not written by ms2d extract (no feature spec)")
    first = FeatureSpec.from_dict(next(iter(specs.values())))  # type: ignore[arg-type]
    for p, s in specs.items():
        if FeatureSpec.from_dict(s) != first:  # type: ignore[arg-type]
            raise DataError(f"{p} has spec {s}, unlike {first.to_dict()}; cannot merge")

    def copy_into(dst: Any) -> list[str]:
        copied: list[str] = []
        try:
            for p in paths:
                with h5py.File(p, "r") as src:
                    for vid in src:
                        if vid in dst or not src[vid].attrs.get("complete", False):
                            continue
                        src.copy(src[vid], dst, name=vid)
                        copied.append(vid)
                dst.flush()
        except (OSError, RuntimeError, KeyError, ValueError) as exc:
            for vid in copied:  # an existing --out gets back what it held
                with contextlib.suppress(Exception):
                    del dst[vid]
            raise DataError(f"{p}: cannot copy its features ({exc}); the file is corrupt or "
                            f"truncated; extract it again. {out} was left as it was") from None
        return copied

    if out.exists():
        dst = _open_output(out, first)
        try:
            return len(copy_into(dst))
        finally:
            dst.close()
    with atomic_path(out) as tmp:
        dst = _open_output(tmp, first, new=True)
        try:
            n = len(copy_into(dst))
        finally:
            dst.close()
    _write_sidecar(out, first)
    return n


__all__ = [
    "ExtractReport",
    "FeatureSpec",
    "clip_count",
    "extract_features",
    "extract_video",
    "merge_feature_files",
    "parse_shard",
    "pool_clips",
    "read_feature_spec",
    "shard_output",
    "spec_path",
]
