"""Captions of your own videos -> ms2d's JSONL annotations, durations from the feature file.

The captions file is a CSV (UTF-8, a header row) with one sentence per row::

    video,caption
    bikes.mp4,a taxi drives through traffic
    bikes.mp4,a cyclist waits at a traffic light
    bigbuckbunny.mp4,a big rabbit comes out of its burrow

``video`` is the video's file name (or its id: the name without extension, which is what
``ms2d extract`` stores), ``caption`` one sentence about it. A video may have any number of
rows; no times are needed (weak supervision). Optional ``start`` and ``end`` columns (seconds)
give a row a ground-truth window: write them for the few videos you keep for validation or
testing, and leave them empty elsewhere. Video durations come from the feature file written
by ``ms2d extract``, so every video must be extracted first.
"""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path

from .records import DataError, Query

#: column names of a captions file (``start`` / ``end`` optional)
COLUMNS = ("video", "caption", "start", "end")


def video_id(name: str) -> str:
    """The id ``ms2d extract`` gives a video file: its name without folder and extension."""
    from ..video.decode import VIDEO_EXTENSIONS

    p = Path(name.strip())
    return p.stem if p.suffix.lower() in VIDEO_EXTENSIONS else p.name


def feature_durations(features: str | os.PathLike[str]) -> dict[str, float]:
    """``{video id: seconds}`` of a feature file: the ``duration`` that ``ms2d extract`` stores
    per video, else ``clips x clip_seconds`` of the file's feature spec."""
    from ..video.extract import read_feature_spec
    from .features import open_features

    out: dict[str, float] = {}
    with open_features(features) as store:
        vids, flat = store.video_ids, store.layout == "flat-hdf5"
    if flat:
        import h5py

        with h5py.File(features, "r") as f:
            for vid in vids:
                d = f[vid].attrs.get("duration")
                if d is not None:
                    out[vid] = float(d)
    missing = [v for v in vids if v not in out]
    if missing:
        clip = float((read_feature_spec(features) or {}).get("clip_seconds") or 0.0)
        if clip > 0:
            with open_features(features) as store:
                for vid in missing:
                    out[vid] = store.get(vid).shape[0] * clip
    return out


def _seconds(text: str, what: str, where: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise DataError(f"{where}: {what} {text!r} is not a number of seconds.") from None
    if not math.isfinite(v) or v < 0:
        raise DataError(f"{where}: {what} must be >= 0 seconds, got {text!r}.")
    return v


def read_captions(path: str | os.PathLike[str],
                  features: str | os.PathLike[str]) -> list[Query]:
    """The rows of a captions CSV as :class:`Query` records (qid ``"{vid}#{k}"``, ``k`` the
    caption's index among its video's rows), each with its video's duration from
    ``features``. Raises :class:`DataError` naming the row and the fix."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"captions file {p} does not exist.") from None
    except UnicodeDecodeError:
        raise DataError(f"{p}: not UTF-8 text. Fix: save the file as UTF-8 CSV.") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    fields = [f.strip().lower() for f in reader.fieldnames or []]
    if "video" not in fields or "caption" not in fields:
        raise DataError(
            f"{p}: the first row must be a header with the columns 'video' and 'caption' "
            f"(optional 'start', 'end'); got {reader.fieldnames}. Example:\n"
            "video,caption\nbikes.mp4,a taxi drives through traffic"
        )
    reader.fieldnames = fields
    durations = feature_durations(features)
    out: list[Query] = []
    per_video: dict[str, int] = {}
    for row in reader:
        where = f"{p}: line {reader.line_num}"
        name, caption = (row.get("video") or "").strip(), (row.get("caption") or "").strip()
        if not name and not caption:
            continue
        if not name or not caption:
            raise DataError(f"{where}: give both a video and a caption.")
        vid = video_id(name)
        if vid not in durations:
            known = ", ".join(sorted(durations)[:8]) + (", ..." if len(durations) > 8 else "")
            raise DataError(
                f"{where}: video {vid!r} is not in {features} (it holds: {known or 'nothing'}). "
                f"Fix: extract it first (ms2d extract VIDEOS --out {features}), or correct the "
                "name."
            )
        start, end = (row.get("start") or "").strip(), (row.get("end") or "").strip()
        window = None
        if start or end:
            if not (start and end):
                raise DataError(f"{where}: give both start and end, or neither.")
            s, e = _seconds(start, "start", where), _seconds(end, "end", where)
            if s >= e:
                raise DataError(f"{where}: start {s:g} must be before end {e:g}.")
            window = (s, min(e, durations[vid]))
        k = per_video.get(vid, 0)
        per_video[vid] = k + 1
        out.append(Query(f"{vid}#{k}", vid, caption, durations[vid], window))
    if not out:
        raise DataError(f"{p}: no captions (only a header?).")
    return out


__all__ = ["COLUMNS", "feature_durations", "read_captions", "video_id"]
