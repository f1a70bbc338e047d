"""Decoding raw video with PyAV and sampling frames at a fixed rate by timestamp.

Frames are picked by *presentation time*, not by frame index, so variable-frame-rate videos
(phone recordings, screen captures) are sampled evenly in seconds: the frame sampled at time
``t`` is the frame on screen at ``t`` (the last one whose timestamp is ``<= t``). Sample times
are ``0, 1/fps, 2/fps, ...`` up to the end of the last frame, so a 1-frame video gives one
sample and a 10 s video at ``fps=2`` gives 20.

PyAV (``av``) is an optional dependency (``pip install 'ms2d[video]'``), imported lazily.

>>> with open_video("clip.mp4") as video:                       # doctest: +SKIP
...     for t, rgb in video.sample(fps=2.0, size=(224, 224)):  # rgb: uint8 [224, 224, 3]
...         ...
...     video.duration                                          # seconds, exact after sample()
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from ..data.records import DataError

#: File extensions treated as videos when a folder is given.
VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".flv", ".wmv", ".3gp",
     ".ts", ".mts", ".ogv"}
)

INSTALL_HINT = "pip install 'ms2d[video]'"


class VideoDependencyError(ImportError):
    """An optional video dependency (PyAV, EfficientNet) is not installed."""


class VideoDecodeError(DataError):
    """A video file cannot be opened or decoded (corrupt, truncated, not a video)."""


def require_av() -> ModuleType:
    """Import PyAV, or raise :class:`VideoDependencyError` saying how to install it."""
    try:
        import av
    except ImportError as exc:
        raise VideoDependencyError(
            f"decoding video needs PyAV, which is not installed ({exc}). Install the video "
            f"extra: {INSTALL_HINT}"
        ) from None
    return av


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about the first video stream (before decoding)."""

    path: str
    width: int
    height: int
    codec: str
    average_fps: float | None
    duration: float | None  # from the container metadata; may be missing or inexact


def _av_errors(av: ModuleType) -> tuple[type[BaseException], ...]:
    return (av.FFmpegError, OSError, ValueError, EOFError, RuntimeError)


class VideoReader:
    """An open video file; use :func:`open_video`. Close it (or use ``with``) when done."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        av = require_av()
        self.path = Path(path)
        self._errors = _av_errors(av)
        self._sampled = False
        self._duration: float | None = None
        if not self.path.is_file():
            raise FileNotFoundError(f"video {self.path} does not exist")
        try:
            self._container: Any = av.open(str(self.path), mode="r")
        except self._errors as exc:
            raise self._error("cannot open it", exc) from None
        try:
            if not self._container.streams.video:
                raise VideoDecodeError(
                    f"{self.path}: the file has no video stream (streams: "
                    f"{[s.type for s in self._container.streams] or 'none'}). Fix: pass a video file."
                )
            self._stream: Any = self._container.streams.video[0]
            self._stream.thread_type = "AUTO"
            cc = self._stream.codec_context
            tb = self._stream.time_base
            meta = None
            if self._stream.duration is not None and tb is not None:
                meta = float(self._stream.duration * tb)
            elif self._container.duration is not None:
                meta = float(self._container.duration) / 1_000_000
            rate = self._stream.average_rate or self._stream.guessed_rate
            self.info = VideoInfo(
                path=str(self.path), width=int(cc.width or 0), height=int(cc.height or 0),
                codec=str(cc.name), average_fps=float(rate) if rate else None,
                duration=meta if meta and meta > 0 else None,
            )
        except BaseException:
            self.close()
            raise

    def _error(self, what: str, exc: BaseException | None = None) -> VideoDecodeError:
        why = f" ({type(exc).__name__}: {exc})" if exc is not None else ""
        return VideoDecodeError(
            f"{self.path}: {what}{why}. The file is corrupt, truncated or not a video that "
            "FFmpeg can read. Fix: re-download or re-encode it (e.g. ffmpeg -i IN -c:v libx264 "
            "OUT.mp4), or remove it from the input."
        )

    @property
    def duration(self) -> float:
        """Seconds from the first frame to the end of the last one (exact after :meth:`sample`)."""
        if self._duration is not None:
            return self._duration
        if self.info.duration is not None:
            return self.info.duration
        raise RuntimeError("the duration of this video is only known after sample() has run")

    def sample(
        self, fps: float = 2.0, size: tuple[int, int] | None = None
    ) -> Iterator[tuple[float, np.ndarray]]:
        """Yield ``(time_seconds, rgb)`` at times ``k / fps`` for ``k = 0, 1, ...``.

        ``rgb`` is ``uint8 [H, W, 3]``: the frame on screen at that time, resized to
        ``size = (height, width)`` (area interpolation) when given, else at its own resolution.
        Can be iterated once. Raises :class:`VideoDecodeError` on a decoding error or when the
        file holds no frame at all.
        """
        if not (fps > 0 and math.isfinite(fps)):
            raise ValueError(f"fps must be a positive number, got {fps!r}")
        if self._sampled:
            raise RuntimeError("VideoReader.sample() can run only once; open the video again")
        self._sampled = True
        step = 1.0 / fps
        tb = self._stream.time_base
        start_pts = self._stream.start_time
        origin: float | None = float(start_pts * tb) if start_pts is not None and tb else None
        nominal = 1.0 / self.info.average_fps if self.info.average_fps else 1.0 / 25
        prev: Any = None  # frame on screen since prev_t
        prev_t = 0.0
        prev_len = nominal
        k = 0  # index of the next sample time
        try:
            for frame in self._container.decode(self._stream):
                if frame.pts is not None and frame.time is not None:
                    t_abs = float(frame.time)
                else:  # no timestamp: one nominal frame after the previous one
                    t_abs = (prev_t + prev_len + (origin or 0.0)) if prev is not None else (origin or 0.0)
                if origin is None:
                    origin = t_abs
                t = t_abs - origin
                if prev is not None:
                    t = max(t, prev_t)  # broken timestamps never go back in time
                    if t > prev_t:
                        prev_len = t - prev_t
                    while k * step < t:  # every sample time before this frame shows prev
                        yield k * step, self._rgb(prev, size)
                        k += 1
                elif t > 0:
                    t = 0.0  # the first frame is on screen from time 0
                dur = getattr(frame, "duration", None)
                if dur and tb:
                    prev_len = float(dur * tb)
                prev, prev_t = frame, t
        except VideoDecodeError:
            raise
        except self._errors as exc:
            raise self._error(f"decoding failed after {k} sampled frame(s)", exc) from None
        if prev is None:
            raise self._error("it holds no decodable video frame")
        end = prev_t + max(prev_len, 1e-6)
        self._duration = end
        while k * step < end:
            yield k * step, self._rgb(prev, size)
            k += 1

    @staticmethod
    def _rgb(frame: Any, size: tuple[int, int] | None) -> np.ndarray:
        if size is None:
            return frame.to_ndarray(format="rgb24")
        h, w = size
        return frame.reformat(width=w, height=h, format="rgb24",
                              interpolation="AREA").to_ndarray()

    def close(self) -> None:
        """Release the file (safe to call twice)."""
        container = getattr(self, "_container", None)
        if container is not None:
            try:
                container.close()
            except Exception:  # noqa: BLE001 - closing a broken file must not raise
                pass
            self._container = None

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_video(path: str | os.PathLike[str]) -> VideoReader:
    """Open a video file for :meth:`VideoReader.sample`.

    Raises ``FileNotFoundError`` if it does not exist, :class:`VideoDecodeError` if FFmpeg
    cannot read it, :class:`VideoDependencyError` if PyAV is missing.
    """
    return VideoReader(path)


def find_videos(inputs: str | os.PathLike[str] | list[str | os.PathLike[str]]) -> list[Path]:
    """The video files of one or more files / folders (folders searched recursively, by
    extension), sorted. A file given explicitly is kept whatever its extension."""
    items = inputs if isinstance(inputs, list) else [inputs]
    found: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found += [f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in VIDEO_EXTENSIONS]
        elif p.is_file():
            found.append(p)
        else:
            raise FileNotFoundError(f"{p} does not exist (expected a video file or a folder of videos)")
    return sorted(set(found))


__all__ = [
    "INSTALL_HINT",
    "VIDEO_EXTENSIONS",
    "VideoDecodeError",
    "VideoDependencyError",
    "VideoInfo",
    "VideoReader",
    "find_videos",
    "open_video",
    "require_av",
]
