"""The few-line Python API: load a checkpoint, encode a video, rank moments for queries.

>>> import ms2d                                                        # doctest: +SKIP
>>> retriever = ms2d.load("runs/my-run")            # run folder or .pt file
>>> video = retriever.encode_video("my_video.mp4")  # needs pip install 'ms2d[video]'
>>> retriever.predict(video, "a person opens the door", top_k=3)
[Moment(start=3.5, end=9.0, score=0.87), ...]

``predict`` also takes clip features you extracted yourself (``numpy`` / ``torch`` ``[T, F]``)
with ``duration=`` seconds. Many queries on one video share the video-side work: the video's
2D maps are computed once, then all queries are scored in one batch.

Everything raises on bad input (``ValueError`` / ``TypeError`` with the reason and the fix) and
nothing prints; a query whose words are all unknown to the checkpoint's vocabulary gives a
``UserWarning``.

Open vocabulary: a checkpoint trained with fixed pretrained word vectors
(``model.word_embeddings=frozen`` or ``partial`` with ``data.word_vectors=glove-6b-50d``) reads
a query word that no training sentence used through its word vector, looked up when first
needed; other checkpoints read such words as ``<unk>``.
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import numpy as np
import torch

from .config import Config
from .data.text import tokenize
from .data.vocab import SPECIALS, UNK, Vocab
from .inference import Moment, candidate_table, rank_moments
from .models import MS2D
from .utils import pick_device

if TYPE_CHECKING:
    from .video.backbones import Backbone

#: Keys of a feature spec compared between a checkpoint and features fed to it.
CHECKED_SPEC_KEYS = ("name", "dim", "clip_seconds")


@dataclass(frozen=True)
class VideoFeatures:
    """Clip features of one video plus what is needed to read them in seconds.

    ``features`` is ``float32 [T, F]``; ``duration`` the video length in seconds (``None`` when
    unknown: then ``T * clip_seconds`` is used); ``spec`` the feature spec
    (``name``, ``dim``, ``fps``, ``clip_seconds``) of the extractor that made them.
    """

    features: np.ndarray
    duration: float | None
    spec: dict[str, Any] = field(default_factory=dict)
    source: str = ""

    @property
    def num_clips(self) -> int:
        return int(self.features.shape[0])


@dataclass(frozen=True)
class CandidateScores:
    """Score of every candidate moment of every scale, for each query.

    ``windows [C, 2]`` seconds, ``scores [Q, C]`` in ``[0, 1]``, one row per query (ranking
    scores: :meth:`ms2d.models.MS2D.candidate_scores`).
    """

    queries: list[str]
    windows: np.ndarray
    scores: np.ndarray
    duration: float

    def moments(self, top_k: int = 5, nms: float = 0.5) -> list[list[Moment]]:
        """Top ``top_k`` moments per query after non-maximum suppression at IoU ``nms``."""
        frac = self.windows / self.duration
        return [rank_moments(s, frac, self.duration, top_n=int(top_k), nms_threshold=nms)
                for s in self.scores]

    def timeline(self, points: int = 200) -> tuple[np.ndarray, np.ndarray]:
        """Best score of any candidate covering each time position.

        Returns ``times [P]`` (centres of ``points`` equal bins, seconds) and ``best [Q, P]``.
        """
        times = (np.arange(points) + 0.5) * self.duration / points
        cover = (times[None, :] >= self.windows[:, :1]) & (times[None, :] <= self.windows[:, 1:])
        best = np.where(cover[None], self.scores[:, :, None], -np.inf).max(1)
        return times, np.where(np.isfinite(best), best, 0.0)


def _spec_value(spec: dict[str, Any], key: str) -> Any:
    value = spec.get(key)
    if key == "name" and value in (None, "", "unknown"):
        return None
    if key == "clip_seconds" and not value:
        return None
    return value


def spec_mismatch(expected: dict[str, Any], got: dict[str, Any]) -> list[str]:
    """Differences between two feature specs on the keys both know (``name``, ``dim``,
    ``clip_seconds``); an unknown value (``"unknown"`` name, ``0`` clip length) matches anything."""
    diffs = []
    for key in CHECKED_SPEC_KEYS:
        a, b = _spec_value(expected, key), _spec_value(got, key)
        if a is None or b is None:
            continue
        same = math.isclose(float(a), float(b), rel_tol=1e-6) if key != "name" else a == b
        if not same:
            diffs.append(f"{key} {b!r} (checkpoint: {a!r})")
    return diffs


def _caller_level() -> int:
    """``stacklevel`` that points a warning at the first frame outside ms2d and torch."""
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    torch_dir = os.path.dirname(os.path.abspath(torch.__file__))
    frame, level = sys._getframe(1), 1
    while frame is not None:
        name = os.path.abspath(frame.f_code.co_filename)
        if not (name.startswith(here) or name.startswith(torch_dir)):
            return level
        frame, level = frame.f_back, level + 1
    return 1


class Retriever:
    """A trained model ready for inference; get one with :func:`load`.

    Attributes: ``model`` (:class:`~ms2d.models.MS2D`, eval mode), ``vocab``, ``feature_spec``
    (``name``, ``dim``, ``clip_seconds`` of the features it was trained on), ``device``,
    ``max_words`` (longer queries are truncated, as in training) and ``nms`` (IoU threshold).
    """

    def __init__(self, model: MS2D, vocab: Vocab, *, feature_spec: dict[str, Any] | None = None,
                 max_words: int = 25, nms: float = 0.5, device: str | torch.device = "cpu",
                 source: str = "", word_vectors: str | None = None) -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.vocab = vocab
        spec = dict(feature_spec or {})
        spec.setdefault("dim", int(model.cfg.feature_dim))
        spec.setdefault("name", "unknown")
        spec.setdefault("clip_seconds", 0.0)
        self.feature_spec = spec
        self.max_words = int(max_words)
        self.nms = float(nms)
        self.source = source
        self._frac, _ = candidate_table(model.cfg.scales, model.masks("cpu"))
        self._masks = model.masks(self.device)
        self._backbones: dict[tuple[str, str], Backbone] = {}
        #: where words outside the vocabulary get their vectors (None: they are <unk>)
        self.word_vectors = word_vectors
        self._extra: dict[str, int] = {}  # open-vocabulary words -> ids after the vocabulary
        self._extra_rows: list[np.ndarray] = []
        self._text_table: torch.nn.Embedding | None = None

    @classmethod
    def from_checkpoint(cls, checkpoint: str | os.PathLike[str],
                        device: str | torch.device = "auto", *,
                        word_vectors: str | os.PathLike[str] | None = None,
                        open_vocabulary: bool = True) -> Retriever:
        """Load a run folder (its ``best.pt``, else ``last.pt``) or a ``.pt`` checkpoint.

        ``open_vocabulary``: for a checkpoint trained with fixed pretrained word vectors, read
        words outside its vocabulary through those vectors (``word_vectors`` overrides where
        they are, e.g. a GloVe file's path on this machine).
        """
        from .checkpoint import load_model
        from .embeddings import OPEN_VOCABULARY_MODES

        dev = pick_device(device) if isinstance(device, str) else torch.device(device)
        model, vocab, ckpt = load_model(checkpoint, dev)
        cfg = Config.from_dict(ckpt["config"])
        source = None
        if open_vocabulary and cfg.model.word_embeddings in OPEN_VOCABULARY_MODES:
            source = str(word_vectors or cfg.data.word_vectors) or None
        return cls(model, vocab, feature_spec=ckpt.get("feature_spec"),
                   max_words=cfg.train.max_words, nms=cfg.train.nms, device=dev,
                   source=str(checkpoint), word_vectors=source)

    def __repr__(self) -> str:
        s = self.feature_spec
        words = f"vocabulary {len(self.vocab) - len(SPECIALS)} words" + (
            f" + open vocabulary ({self.word_vectors})" if self.word_vectors else "")
        return (f"Retriever({self.source or 'in-memory model'!r}, features {s['name']} "
                f"{s['dim']}-d, clip {s['clip_seconds']:g}s, scales {list(self.model.cfg.scales)}, "
                f"{words}, device {self.device})")

    # -- words -----------------------------------------------------------------------------
    def _open_id(self, word: str) -> int:
        """The id of a word outside the vocabulary: its open-vocabulary row, or ``<unk>``."""
        if word in self._extra:
            return self._extra[word]
        if not self.word_vectors:
            return UNK
        from .data.records import DataError
        from .data.wordvec import open_word_vectors

        try:
            table = open_word_vectors(self.word_vectors)
        except DataError as exc:
            warnings.warn(f"open vocabulary is off: {exc} Words outside the checkpoint's "
                          "vocabulary are read as <unk>.", UserWarning,
                          stacklevel=_caller_level())
            self.word_vectors = None
            return UNK
        if table.dim != self.model.cfg.word_dim:
            warnings.warn(f"open vocabulary is off: {self.word_vectors} holds {table.dim}-d "
                          f"vectors but the model's words are {self.model.cfg.word_dim}-d",
                          UserWarning, stacklevel=_caller_level())
            self.word_vectors = None
            return UNK
        vec = table.get(word)
        if vec is None:
            return UNK
        self._extra[word] = len(self.vocab) + len(self._extra_rows)
        self._extra_rows.append(np.asarray(vec, dtype=np.float32))
        self._text_table = None
        return self._extra[word]

    def encode_query(self, query: str) -> list[int]:
        """Word ids of ``query`` (truncated to ``max_words``): vocabulary ids, open-vocabulary
        ids (after the vocabulary) for words only the word vectors know, ``<unk>`` else."""
        words = tokenize(query)[: self.max_words] if self.max_words else tokenize(query)
        return [self.vocab.stoi[w] if w in self.vocab.stoi else self._open_id(w) for w in words]

    def word_sources(self, query: str) -> dict[str, str]:
        """Where each word of ``query`` gets its vector: ``"vocabulary"`` (seen in training),
        the word-vector source (open vocabulary) or ``"unknown"`` (read as ``<unk>``)."""
        out = {}
        for w, i in zip(tokenize(query), self.encode_query(query)):
            out[w] = ("vocabulary" if i < len(self.vocab) and i != UNK else
                      "unknown" if i == UNK else str(self.word_vectors))
        return out

    @contextlib.contextmanager
    def _open_vocabulary(self):
        """Within it, open-vocabulary rows are appended to the embedding table of the modules
        that read a query at inference (the text encoder, the BiLSTM appearance teachers); the
        caption module, used in training only, keeps its vocabulary, and the bag-of-words
        appearance teachers give a word they never saw no direction."""
        if not self._extra_rows:
            yield
            return
        if self._text_table is None or self._text_table.num_embeddings != (
                len(self.vocab) + len(self._extra_rows)):
            base = self.model.embedding.weight.detach()
            extra = torch.from_numpy(np.stack(self._extra_rows)).to(base.device, base.dtype)
            self._text_table = torch.nn.Embedding.from_pretrained(
                torch.cat([base, extra]), freeze=True, padding_idx=0)
        readers = [self.model.text]
        if hasattr(self.model, "appearance"):
            readers += [t for t in self.model.appearance.teachers if hasattr(t, "embedding")]
        own = [r.embedding for r in readers]
        for r in readers:
            r.embedding = self._text_table
        try:
            yield
        finally:
            for r, e in zip(readers, own):
                r.embedding = e

    # -- inputs ----------------------------------------------------------------------------
    def _features(self, video: Any, duration: float | None) -> tuple[torch.Tensor, float]:
        spec_dim = int(self.feature_spec["dim"])
        if isinstance(video, VideoFeatures):
            diffs = spec_mismatch(self.feature_spec, video.spec)
            if diffs:
                problem = self.raw_video_problem()
                fix = (f"use a checkpoint trained on these features ({problem})" if problem else
                       "extract the features with the checkpoint's extractor settings "
                       f"({self.feature_spec}) or use a checkpoint trained on these features")
                raise ValueError(
                    f"these video features do not match the checkpoint: {'; '.join(diffs)}. The "
                    f"model would silently get different features than it was trained on. Fix: "
                    f"{fix}."
                )
            if duration is None:
                duration = video.duration
            feats: Any = video.features
        elif isinstance(video, (str, os.PathLike)):
            raise TypeError(
                f"predict() takes clip features, not a path ({video!r}); call "
                "retriever.encode_video(path) first and pass its result"
            )
        else:
            feats = video
        if isinstance(feats, torch.Tensor):
            x = feats.detach().to("cpu")
            if x.is_complex() or x.dtype == torch.bool:
                raise TypeError(f"video features must be real numbers, got dtype {x.dtype}")
            x = x.float()
        else:
            try:
                arr = np.asarray(feats)
            except Exception as exc:
                raise TypeError(f"video features must be an array [T, F], got "
                                f"{type(feats).__name__}") from exc
            if arr.dtype.kind not in "biuf":
                raise TypeError(f"video features must be real numbers [T, F], got dtype {arr.dtype}")
            x = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
        if x.ndim != 2:
            raise ValueError(f"video features must be 2-D [T clips, F dims]; got shape "
                             f"{tuple(x.shape)}")
        if x.shape[0] == 0:
            raise ValueError("the video is empty (0 clips); give at least one clip feature")
        if x.shape[1] != spec_dim:
            raise ValueError(
                f"video features are {x.shape[1]}-d but the checkpoint was trained on "
                f"{spec_dim}-d features ({self.feature_spec['name']}); extract the features "
                "with the same extractor as the training data"
            )
        bad = ~torch.isfinite(x)
        if bad.any():
            t = int(bad.nonzero()[0, 0])
            raise ValueError(f"video features contain {int(bad.sum())} NaN/inf value(s) (first "
                             f"at clip {t}); re-extract the features of this video")
        if duration is None:
            clip = float(self.feature_spec.get("clip_seconds") or 0.0)
            if isinstance(video, VideoFeatures):
                clip = float(video.spec.get("clip_seconds") or clip)
            if clip <= 0:
                raise ValueError(
                    "the video duration is unknown: pass duration=SECONDS (the checkpoint's "
                    "feature spec has no clip length to compute it from)"
                )
            duration = x.shape[0] * clip
        duration = float(duration)
        if not (math.isfinite(duration) and duration > 0):
            raise ValueError(f"duration must be a positive number of seconds, got {duration!r}")
        return x, duration

    def _queries(self, queries: str | Sequence[str]) -> tuple[list[str], list[list[int]]]:
        items = [queries] if isinstance(queries, str) else queries
        if not isinstance(items, Sequence):
            raise TypeError(f"queries must be a str or a list of str, got {type(queries).__name__}")
        items = list(items)
        if not items:
            raise ValueError("no queries given: pass a sentence or a non-empty list of sentences")
        ids = []
        for i, q in enumerate(items):
            if not isinstance(q, str):
                raise TypeError(f"query {i} is a {type(q).__name__}, not a str: {q!r}")
            if not q.strip():
                raise ValueError(f"query {i} is empty or whitespace: {q!r}; give a sentence")
            if not tokenize(q):
                raise ValueError(f"query {i} has no words after tokenisation: {q!r}")
            words = self.encode_query(q)
            if all(w == UNK for w in words):
                warnings.warn(
                    f"none of the words of query {q!r} is in the checkpoint's vocabulary "
                    f"({len(self.vocab) - len(SPECIALS)} words, e.g. "
                    f"{', '.join(self.vocab.itos[len(SPECIALS):len(SPECIALS) + 5])}); it is read "
                    "as unknown-word tokens, so its ranking ignores what it says",
                    UserWarning, stacklevel=_caller_level(),
                )
            ids.append(words)
        return items, ids

    # -- inference -------------------------------------------------------------------------
    @torch.inference_mode()
    def score(self, video: VideoFeatures | np.ndarray | torch.Tensor, queries: str | Sequence[str],
              *, duration: float | None = None, batch_size: int = 32) -> CandidateScores:
        """Scores of every candidate moment for each query (see :class:`CandidateScores`).

        The video's multi-scale maps (and the appearance teacher's segments) are built once;
        queries are scored ``batch_size`` at a time against them (expanded, not copied).
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        x, duration = self._features(video, duration)
        items, ids = self._queries(queries)
        feats = x.to(self.device)[None]
        lengths = torch.tensor([x.shape[0]], device=self.device)
        vmaps = self.model.encode_video(feats, lengths)
        segs = self.model.standard_segments(feats, lengths)  # the teacher's side of the video
        rows = []
        for lo in range(0, len(ids), batch_size):
            chunk = ids[lo:lo + batch_size]
            words = torch.zeros(len(chunk), max(len(c) for c in chunk), dtype=torch.long)
            for i, c in enumerate(chunk):
                words[i, :len(c)] = torch.tensor(c)
            word_lengths = torch.tensor([len(c) for c in chunk])
            words, word_lengths = words.to(self.device), word_lengths.to(self.device)
            expanded = [v.expand(len(chunk), -1, -1, -1) for v in vmaps]
            with self._open_vocabulary():
                logits, _ = self.model.score_maps(expanded, self.model.text(words, word_lengths))
                scores = self.model.candidate_scores(logits, feats, lengths, words, word_lengths,
                                                     segs=segs)
            rows.append(scores.float().cpu().numpy())
        return CandidateScores(items, self._frac * duration, np.concatenate(rows), duration)

    @overload
    def predict(self, video: VideoFeatures | np.ndarray | torch.Tensor, queries: str,
                top_k: int = 5, *, duration: float | None = None, nms: float | None = None,
                batch_size: int = 32) -> list[Moment]: ...

    @overload
    def predict(self, video: VideoFeatures | np.ndarray | torch.Tensor, queries: Sequence[str],
                top_k: int = 5, *, duration: float | None = None, nms: float | None = None,
                batch_size: int = 32) -> list[list[Moment]]: ...

    def predict(self, video: VideoFeatures | np.ndarray | torch.Tensor,
                queries: str | Sequence[str], top_k: int = 5, *, duration: float | None = None,
                nms: float | None = None, batch_size: int = 32) -> list[Moment] | list[list[Moment]]:
        """Top ``top_k`` moments (seconds, best first, after NMS) for each query.

        Args:
            video: a :class:`VideoFeatures` from :meth:`encode_video`, or clip features
                ``[T, F]`` (numpy or torch) of the checkpoint's extractor; any ``T``.
            queries: one sentence (returns ``list[Moment]``) or a list of sentences (returns
                one ``list[Moment]`` per sentence).
            top_k: moments per query.
            duration: video length in seconds; needed for raw features unless the
                checkpoint's feature spec has ``clip_seconds`` (then ``T * clip_seconds``).
            nms: IoU threshold of the non-maximum suppression (default: the training config's).
            batch_size: queries scored per forward pass.
        """
        if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
            raise ValueError(f"top_k must be a positive integer, got {top_k!r}")
        cands = self.score(video, queries, duration=duration, batch_size=batch_size)
        out = cands.moments(int(top_k), self.nms if nms is None else float(nms))
        return out[0] if isinstance(queries, str) else out

    # -- raw video -------------------------------------------------------------------------
    def encode_video(self, path: str | os.PathLike[str], fps: float | None = None, *,
                     clip_seconds: float | None = None, backbone: str | None = None,
                     weights: str | os.PathLike[str] | None = None, batch_size: int = 32,
                     progress: bool = False) -> VideoFeatures:
        """Decode a video file and extract the clip features this checkpoint expects.

        ``backbone`` defaults to the checkpoint's extractor, ``clip_seconds`` to its clip
        length, ``fps`` to its frame rate when recorded, else 2. Raises ``ValueError`` when
        the checkpoint was trained on features that this extractor does not produce (name,
        dimension or clip length differ), before any decoding. Needs ``ms2d[video]``.
        """
        from .video.backbones import backbone_dim, create_backbone
        from .video.extract import extract_video

        spec = self.feature_spec
        name = backbone or str(spec.get("name", "unknown"))
        if backbone is None:
            problem = self.raw_video_problem()
            if problem:
                raise ValueError(problem)
        clip = float(clip_seconds or spec.get("clip_seconds") or 1.0)
        rate = float(fps or spec.get("fps") or 2.0)
        wanted = {"name": name, "dim": backbone_dim(name) or spec["dim"], "clip_seconds": clip}
        diffs = spec_mismatch(spec, wanted)
        if diffs:
            raise ValueError(self._extractor_mismatch(diffs))
        key = (name, str(weights or ""))
        if key not in self._backbones:
            self._backbones[key] = create_backbone(name, weights=weights, device=self.device)
        bb = self._backbones[key]
        got = {"name": bb.name, "dim": bb.dim, "fps": rate, "clip_seconds": clip}
        diffs = spec_mismatch(spec, got)
        if diffs:
            raise ValueError(self._extractor_mismatch(diffs))
        from tqdm.auto import tqdm

        with tqdm(desc=f"encode {Path(path).name}", unit="frame", disable=not progress) as bar:
            feats, duration, _ = extract_video(path, bb, fps=rate, clip_seconds=clip,
                                               batch_size=batch_size, on_frames=bar.update)
        return VideoFeatures(feats, duration, got, source=str(path))

    def raw_video_problem(self) -> str | None:
        """Why this checkpoint cannot search raw video files, or ``None`` when it can.

        A checkpoint can search video files when its features came from an extractor that
        ``ms2d extract`` runs (a backbone name, or ``custom:<file>``). Checkpoints trained on
        the simulated benchmark, or on features of an extractor ms2d does not have (C3D,
        I3D ...), rank moments only in features of that kind.
        """
        from .video.backbones import list_backbones

        spec = self.feature_spec
        name = str(spec.get("name", "unknown"))
        if name in list_backbones() or name.startswith("custom:"):
            return None
        dim = f"{spec['dim']}-d"
        if name == "simulated":
            what = (f"{dim} simulated features, which no video produces (the built-in "
                    "benchmark's stand-in for real features)")
        elif name in ("", "unknown"):
            what = f"{dim} features of an unrecorded extractor (data.feature_name was not set)"
        else:
            what = f"{dim} {name!r} features, which ms2d cannot extract from video files"
        return (
            f"this checkpoint was trained on {what}, so it cannot search video files: it ranks "
            "moments only in precomputed features of that kind (ms2d predict --features FILE "
            "--video-id VID). Fix: to search your own videos, extract their features with "
            "`ms2d extract` (default backbone efficientnet-lite0) and train on them: see "
            "docs/own-videos.md"
        )

    def _extractor_mismatch(self, diffs: list[str]) -> str:
        return (
            f"the extractor does not produce the features this checkpoint was trained on: "
            f"{'; '.join(diffs)}. The model would silently get different features. Fix: use "
            f"the checkpoint's extractor settings {self.feature_spec}, or a checkpoint trained "
            "on features from this extractor."
        )


def load(checkpoint: str | os.PathLike[str], device: str | torch.device = "auto", *,
         word_vectors: str | os.PathLike[str] | None = None,
         open_vocabulary: bool = True) -> Retriever:
    """Load a trained run folder or ``.pt`` checkpoint for inference (see :class:`Retriever`).

    ``device``: ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda:1"`` ...
    ``open_vocabulary`` / ``word_vectors``: see :meth:`Retriever.from_checkpoint`.
    """
    return Retriever.from_checkpoint(checkpoint, device, word_vectors=word_vectors,
                                     open_vocabulary=open_vocabulary)


def load_features(path: str | os.PathLike[str], video_id: str, *,
                  duration: float | None = None) -> VideoFeatures:
    """Clip features of ``video_id`` from a feature file or folder (any layout that
    :func:`ms2d.data.features.open_features` reads), with the duration stored by
    ``ms2d extract`` when present and the file's feature spec when it has one."""
    from .data.features import open_features
    from .video.extract import read_feature_spec

    with open_features(path) as store:
        feats = store.get(video_id)
        dim, flat = store.dim, store.layout == "flat-hdf5"
    if duration is None and flat:
        import h5py

        with h5py.File(path, "r") as f:
            d = f[video_id].attrs.get("duration")
            duration = float(d) if d is not None else None
    spec = read_feature_spec(path) or {"name": "unknown", "dim": dim, "clip_seconds": 0.0}
    return VideoFeatures(feats, duration, spec, source=f"{path}#{video_id}")


__all__ = ["CandidateScores", "Moment", "Retriever", "VideoFeatures", "load", "load_features",
           "spec_mismatch"]
