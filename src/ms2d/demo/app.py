"""The ``ms2d demo`` web app: pick or upload a video, type a query, see the ranked moments.

A small Flask app (the ``[demo]`` extra) over :class:`ms2d.api.Retriever`. Videos come from a
folder given at start-up plus the ones uploaded (kept in an upload folder). A video's features
are extracted on its first search and cached in memory, so later queries on it are fast.

Routes: ``GET /`` (the page), ``GET /api/videos``, ``POST /api/upload`` (multipart ``file``),
``POST /api/search`` (JSON ``{"video", "query", "top_k"}``), ``GET /media/<id>`` (the video
file, with HTTP range requests so the player can seek). Errors come back as JSON
``{"error": message}`` with a 4xx status.
"""

from __future__ import annotations

import hashlib
import html
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..files import atomic_path
from ..video.decode import INSTALL_HINT, VIDEO_EXTENSIONS

if TYPE_CHECKING:
    from flask import Flask

    from ..api import Retriever, VideoFeatures

DEMO_INSTALL_HINT = "pip install 'ms2d[demo]'"


@dataclass
class _Video:
    id: str
    name: str
    path: Path
    uploaded: bool = False


class VideoLibrary:
    """The videos the demo can search: a folder's videos plus uploads. Ids are file names made
    unique with a short hash, never paths, so nothing outside the folders can be served."""

    def __init__(self, folder: Path | None, upload_dir: Path) -> None:
        self.upload_dir = upload_dir
        self._videos: dict[str, _Video] = {}
        self._lock = threading.Lock()
        for root, uploaded in ((folder, False), (upload_dir, True)):
            if root is not None and root.is_dir():
                for p in sorted(root.rglob("*")):
                    if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS:
                        self._add(p, uploaded)

    def _add(self, path: Path, uploaded: bool) -> _Video:
        vid = path.name
        if vid in self._videos and self._videos[vid].path != path:
            vid = f"{path.stem}-{hashlib.sha1(str(path).encode()).hexdigest()[:6]}{path.suffix}"
        video = _Video(vid, path.name, path.resolve(), uploaded)
        self._videos[vid] = video
        return video

    def list(self) -> list[_Video]:
        with self._lock:
            return list(self._videos.values())

    def get(self, vid: str) -> _Video | None:
        with self._lock:
            return self._videos.get(vid)

    def save_upload(self, filename: str, stream: Any) -> _Video:
        from werkzeug.utils import secure_filename

        name = secure_filename(filename or "")
        if not name or Path(name).suffix.lower() not in VIDEO_EXTENSIONS:
            raise ValueError(f"{filename!r} is not a video file name (expected one of "
                             f"{', '.join(sorted(VIDEO_EXTENSIONS))})")
        self.upload_dir.mkdir(parents=True, exist_ok=True)
        with self._lock:
            dest = self.upload_dir / name
            n = 1
            while dest.exists():
                dest = self.upload_dir / f"{Path(name).stem}-{n}{Path(name).suffix}"
                n += 1
            with atomic_path(dest) as tmp:
                stream.save(str(tmp))
            return self._add(dest, True)


def create_app(retriever: Retriever, *, videos: str | os.PathLike[str] | None = None,
               upload_dir: str | os.PathLike[str] | None = None, max_upload_mb: int = 2048,
               fps: float | None = None) -> Flask:
    """Build the Flask app for ``retriever``. ``videos``: a folder of videos to offer;
    ``upload_dir``: where uploads go (default ``./ms2d-demo-uploads``).

    Raises ``ValueError`` at once when the checkpoint cannot search video files (it was trained
    on simulated features, or on features no ``ms2d extract`` backbone produces): every search
    would fail otherwise.
    """
    problem = retriever.raw_video_problem()
    if problem:
        raise ValueError(problem)
    try:
        from flask import Flask, jsonify, request, send_file
    except ImportError as exc:
        raise ImportError(f"the demo needs Flask ({exc}); install it: {DEMO_INSTALL_HINT}") from None
    from werkzeug.exceptions import HTTPException

    from ..video.decode import VideoDecodeError, VideoDependencyError

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = int(max_upload_mb) * 1024 * 1024
    library = VideoLibrary(Path(videos) if videos else None,
                           Path(upload_dir or "ms2d-demo-uploads"))
    cache: dict[str, VideoFeatures] = {}
    model_lock = threading.Lock()  # one search at a time: the model is not re-entrant
    from .page import PAGE

    class ClientError(Exception):
        def __init__(self, message: str, status: int = 400) -> None:
            super().__init__(message)
            self.status = status

    @app.errorhandler(ClientError)
    def _client_error(exc: ClientError) -> Any:
        return jsonify(error=str(exc)), exc.status

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        return jsonify(error=exc.description or exc.name), exc.code or 500

    @app.get("/")
    def index() -> Any:
        spec = retriever.feature_spec
        info = (f"{retriever.source} · {spec['name']} {spec['dim']}-d, "
                f"{spec['clip_seconds']:g} s clips")
        return PAGE.replace("{{CHECKPOINT}}", html.escape(info))

    @app.get("/api/videos")
    def list_videos() -> Any:
        return jsonify(videos=[{"id": v.id, "name": v.name, "url": f"/media/{v.id}",
                                "uploaded": v.uploaded, "encoded": v.id in cache}
                               for v in library.list()])

    @app.post("/api/upload")
    def upload() -> Any:
        f = request.files.get("file")
        if f is None:
            raise ClientError("no file in the upload (send multipart form field 'file')")
        try:
            v = library.save_upload(f.filename or "", f)
        except ValueError as exc:
            raise ClientError(str(exc)) from None
        return jsonify(id=v.id, name=v.name, url=f"/media/{v.id}")

    @app.get("/media/<vid>")
    def media(vid: str) -> Any:
        v = library.get(vid)
        if v is None:
            raise ClientError(f"unknown video {vid!r}", 404)
        return send_file(v.path, conditional=True)

    @app.post("/api/search")
    def search() -> Any:
        body = request.get_json(silent=True) or {}
        vid, query = body.get("video"), body.get("query")
        try:
            top_k = int(body.get("top_k", 5))
        except (TypeError, ValueError):
            raise ClientError(f"top_k must be an integer, got {body.get('top_k')!r}") from None
        v = library.get(vid) if isinstance(vid, str) else None
        if v is None:
            raise ClientError(f"unknown video {vid!r}; pick one from the list", 404)
        if not isinstance(query, str):
            raise ClientError("type a query")
        import warnings

        with model_lock, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                if v.id not in cache:
                    cache[v.id] = retriever.encode_video(v.path, fps=fps)
                feats = cache[v.id]
                scores = retriever.score(feats, [query])
                moments = scores.moments(top_k, retriever.nms)[0] if top_k >= 1 else None
            except (ValueError, TypeError, VideoDecodeError) as exc:
                raise ClientError(str(exc)) from None
            except VideoDependencyError as exc:
                raise ClientError(f"{exc} ({INSTALL_HINT})", 500) from None
        if moments is None:
            raise ClientError(f"top_k must be >= 1, got {top_k}")
        times, best = scores.timeline(points=300)
        return jsonify(video=v.id, query=query, duration=scores.duration,
                       num_clips=feats.num_clips, grid=max(retriever.model.cfg.scales),
                       moments=[{"rank": i, "start": m.start, "end": m.end, "score": m.score}
                                for i, m in enumerate(moments, 1)],
                       timeline={"times": times.round(3).tolist(),
                                 "best": best[0].round(5).tolist()},
                       warnings=[str(w.message) for w in caught])

    return app


__all__ = ["DEMO_INSTALL_HINT", "VideoLibrary", "create_app"]
