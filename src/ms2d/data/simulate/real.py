"""Simulated clip features for the *real* annotation files (Charades-STA, ActivityNet Captions).

The real datasets' video features are multi-GB downloads that are often unavailable; their
annotation files are small. This module writes a feature file, in the layout of the real one,
for every video of a list of real :class:`~ms2d.data.records.Query` records, so that the exact
public-dataset commands (``ms2d train --dataset charades-sta ...``) can be run end to end and
shown to learn. ``docs/datasets.md`` ("Simulated features for the real annotations") tells the
story; in short:

* **Words.** Each sentence is tokenized (:func:`ms2d.data.text.tokenize`); its *content words*
  are the tokens minus a small stopword list (articles, pronouns, auxiliaries, prepositions,
  the subjects "person"/"someone", ...). Each content word is reduced to a crude stem
  (``opens``/``opening``/``opened`` -> ``open``) so that inflections look alike, and every stem
  gets a fixed random latent code drawn from an RNG keyed by ``seed`` and a stable hash
  (BLAKE2b) of the stem: the same word has the same code in every run, split and file.
* **Appearance.** The *verb-ish* word is the first content word ending in ``-ing``/``-ed``
  (else the first content word), the *noun-ish* word the first content word after it. The
  sentence's event appearance is a nonlinear function of their codes: a fixed random 2-layer
  tanh MLP over ``[verb code, noun code, context]`` (the context is the mean elementwise product
  of the other content words' codes with the verb and noun codes), plus pure verb x noun
  product dimensions, projected to ``dim`` by a fixed random orthonormal basis and normalised to
  unit norm. It is not a sum of word-wise parts.
* **Videos.** ``T = max(1, round(duration * clips_per_second))`` clips. Each clip is a per-video
  background vector + slow drift (low-frequency sinusoids) + Gaussian noise, and every sentence
  of the video adds its appearance (perturbed a little per instance, strength 0.8-1.2) inside
  its own ground-truth window with short ramps; overlapping windows add up. The scales match
  the built-in simulator (:mod:`ms2d.data.simulate`): unit-norm event, background norm 1.0,
  drift 0.3, noise 0.6, everything times ``sqrt(dim)``.

Everything is deterministic for a seed, and a video's features depend only on the seed, its id,
its duration and its own (sentence, window) pairs, not on which other videos are written.

Public API: :func:`simulate_features`, :func:`content_words`, :func:`stem`,
:func:`word_code`, :func:`sentence_appearance`, :func:`num_clips`, :data:`STOPWORDS`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ... import __version__
from ...files import atomic_path
from ..records import DataError, Query
from ..text import tokenize
from .grammar import SimConfig
from .render import Renderer, background, envelope, feature_stats, make_renderer, scene_cuts
from .worlds import world_config

__all__ = [
    "LAYOUTS",
    "STOPWORDS",
    "content_words",
    "num_clips",
    "sentence_appearance",
    "simulate_features",
    "stem",
    "word_code",
]

LAYOUTS = ("flat", "grouped")
_FORMAT = "ms2d-simulated-real-features-1"

#: Tokens that carry no visual content: articles, pronouns, auxiliaries, conjunctions,
#: prepositions/particles and the generic subjects of Charades-STA sentences.
STOPWORDS: frozenset[str] = frozenset(
    """
    a an the this that these those some any another other
    person persons someone somebody people
    i you he she it we they me him us them his her hers its our their your my
    is are was were be been being am do does did has have had will would can could
    then and or but so while as also again just still there here now when where who which what
    to of in on at by for with from into onto over under up down out off about around through
    after before away back along across against behind near next toward towards than
    very too s t
    """.split()
)

# parameters of the generative story (see the module docstring)
_CODE_DIM = 16  # width of a word's latent code
_HIDDEN = 64  # hidden width of the random tanh MLP
_GAIN = 2.5  # pre-activation scale of the tanh (larger: more nonlinear)
_CONTEXT_GAIN = 0.7  # weight of the context input of the MLP
_SEM_DIM = 32  # MLP output width
_INTER_DIM = 16  # pure verb x noun product dimensions
_INTER_WEIGHT = 0.35  # share of the appearance energy in the product dimensions
_MC_SAMPLES = 4096  # Monte Carlo samples that centre and scale the appearance parts

# RNG stream ids
_S_WORLD, _S_WORD, _S_VIDEO, _S_EVENT, _S_BASIS = 0, 1, 2, 3, 4


# --------------------------------------------------------------------------------------------
# words


def _hash_words(text: str) -> list[int]:
    """A stable 128-bit hash of ``text`` as four 32-bit words (an RNG seed fragment)."""
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()
    return [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]


_UNDOUBLE = set("bdgmnprt")


def stem(word: str) -> str:
    """A crude suffix-stripping stem, so that inflections share a latent code.

    >>> [stem(w) for w in ("opens", "opening", "opened", "open")]
    ['open', 'open', 'open', 'open']
    >>> [stem(w) for w in ("putting", "puts", "put", "closes", "closing", "close")]
    ['put', 'put', 'put', 'clos', 'clos', 'clos']
    """
    w = word
    if len(w) >= 6 and w.endswith("ing"):
        w = w[:-3]
    elif len(w) >= 5 and w.endswith(("ied", "ies")):
        w = w[:-3] + "y"
    elif len(w) >= 5 and w.endswith("ed"):
        w = w[:-2]
    elif len(w) >= 5 and w.endswith("es") and (w[-3] in "sxz" or w[-4:-2] in ("ch", "sh")):
        w = w[:-2]
    elif len(w) >= 4 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    if len(w) >= 4 and w[-1] == w[-2] and w[-1] in _UNDOUBLE:
        w = w[:-1]  # putting -> putt -> put, grabbed -> grabb -> grab
    if len(w) >= 4 and w.endswith("e"):
        w = w[:-1]  # close / closing / closed -> clos
    return w


def content_words(sentence: str) -> list[str]:
    """The tokens of ``sentence`` that are not in :data:`STOPWORDS`, in order (unstemmed).

    A sentence made only of stopwords falls back to all its tokens; one with no token at all to
    the stripped, lower-cased sentence itself.
    """
    tokens = tokenize(sentence)
    words = [t for t in tokens if t not in STOPWORDS]
    if words:
        return words
    if tokens:
        return tokens
    return [sentence.strip().lower() or "<empty>"]


# frequent words that end like a verb form but are not one
_NOT_VERBS = frozenset(
    "thing things something anything nothing everything ceiling clothing building evening "
    "morning ring king string swing bed red shed sled".split()
)


def _verbish(word: str) -> bool:
    return word not in _NOT_VERBS and (
        (len(word) >= 5 and word.endswith("ing")) or (len(word) >= 4 and word.endswith("ed"))
    )


def _roles(words: Sequence[str]) -> tuple[str, str, list[str]]:
    """(verb-ish, noun-ish, other content words) of a non-empty content-word list, as stems."""
    vi = next((i for i, w in enumerate(words) if _verbish(w)), 0)
    ni = vi + 1 if vi + 1 < len(words) else (0 if vi > 0 else vi)
    verb, noun = stem(words[vi]), stem(words[ni])
    rest = []
    for i, w in enumerate(words):
        s = stem(w)
        if i not in (vi, ni) and s not in (verb, noun) and s not in rest:
            rest.append(s)
    return verb, noun, rest


@lru_cache(maxsize=65536)
def _code(key: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng([seed, _S_WORD, *_hash_words(key)])
    code = rng.standard_normal(_CODE_DIM)
    code.flags.writeable = False
    return code


def word_code(word: str, seed: int = 0) -> np.ndarray:
    """The fixed latent code (length 16) of ``word``'s stem for ``seed`` (a copy)."""
    return _code(stem(word.lower()), int(seed)).copy()


# --------------------------------------------------------------------------------------------
# the world: the fixed random functions from word codes to appearances


@dataclass(frozen=True)
class _World:
    w1: np.ndarray  # [3c, H]
    b1: np.ndarray  # [H]
    w2: np.ndarray  # [H, S]
    mlp_mean: np.ndarray  # [S]
    mlp_rms: float
    pa: np.ndarray  # [c, I]
    po: np.ndarray  # [c, I]
    inter_rms: float


def _context(a: np.ndarray, o: np.ndarray, ctx: np.ndarray) -> np.ndarray:
    """Mean elementwise product of the other words' codes ``ctx [..., K, c]`` with the verb and
    noun codes (``[..., c]``); zeros when there are none (K = 0)."""
    if ctx.shape[-2] == 0:
        return np.zeros_like(a)
    return ((a[..., None, :] + o[..., None, :]) * ctx).mean(-2) / math.sqrt(2.0)


def _mlp(world: _World, a: np.ndarray, o: np.ndarray, context: np.ndarray) -> np.ndarray:
    x = np.concatenate([a, o, _CONTEXT_GAIN * context], axis=-1)
    return np.tanh(x @ world.w1 + world.b1) @ world.w2


@lru_cache(maxsize=8)
def _world(seed: int) -> _World:
    rng = np.random.default_rng([seed, _S_WORLD])
    c, h = _CODE_DIM, _HIDDEN
    w1 = rng.standard_normal((3 * c, h)) * (_GAIN / math.sqrt(2 * c))
    b1 = rng.standard_normal(h) * 0.5
    w2 = rng.standard_normal((h, _SEM_DIM)) / math.sqrt(h)
    pa = rng.standard_normal((c, _INTER_DIM)) / math.sqrt(c)
    po = rng.standard_normal((c, _INTER_DIM)) / math.sqrt(c)

    # Monte Carlo over random words: centre the MLP part (a common component would make every
    # event look alike) and scale both parts to unit RMS norm.
    mc = np.random.default_rng([seed, _S_WORLD, 1])
    a = mc.standard_normal((_MC_SAMPLES, c))
    o = mc.standard_normal((_MC_SAMPLES, c))
    ctx = mc.standard_normal((_MC_SAMPLES, 2, c))
    has_ctx = mc.random(_MC_SAMPLES) < 0.5
    context = np.where(has_ctx[:, None], _context(a, o, ctx), 0.0)
    tmp = _World(w1, b1, w2, np.zeros(_SEM_DIM), 1.0, pa, po, 1.0)
    mlp = _mlp(tmp, a, o, context)
    mean = mlp.mean(0)
    mlp_rms = float(np.sqrt(((mlp - mean) ** 2).sum(-1).mean()))
    inter = (a @ pa) * (o @ po)
    inter_rms = float(np.sqrt((inter**2).sum(-1).mean()))
    return _World(w1, b1, w2, mean, max(mlp_rms, 1e-12), pa, po, max(inter_rms, 1e-12))


@lru_cache(maxsize=8)
def _basis(seed: int, dim: int) -> np.ndarray:
    """Fixed random projection ``[dim, S]`` of the semantic space (orthonormal if dim >= S)."""
    s = _SEM_DIM + _INTER_DIM
    basis = np.random.default_rng([seed, _S_BASIS, dim]).standard_normal((dim, s))
    if dim >= s:
        basis, _ = np.linalg.qr(basis)
    else:
        basis /= math.sqrt(dim)
    basis.flags.writeable = False
    return basis


@lru_cache(maxsize=8)
def _word_maps(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Fixed linear maps ``[c, S]`` of a verb-ish and a noun-ish code (word-wise appearances)."""
    rng = np.random.default_rng([seed, _S_WORLD, 3])
    s = _SEM_DIM + _INTER_DIM
    return (rng.standard_normal((_CODE_DIM, s)) / math.sqrt(_CODE_DIM),
            rng.standard_normal((_CODE_DIM, s)) / math.sqrt(_CODE_DIM))


def _semantic(sentence: str, seed: int, appearance: str = "compositional") -> np.ndarray:
    """The sentence's point in the semantic space. ``compositional``: a nonlinear function of
    the verb-ish and noun-ish codes and the other content words; ``additive``: the mean of the
    content words' codes, mapped linearly; ``dominant``: mostly the noun-ish word."""
    verb, noun, rest = _roles(content_words(sentence))
    if appearance == "additive":
        codes = np.array([_code(w, seed) for w in dict.fromkeys([verb, noun, *rest])])
        wv, wn = _word_maps(seed)
        return (codes @ (wv + wn) / math.sqrt(2)).sum(0) / math.sqrt(len(codes))
    if appearance == "dominant":
        wv, wn = _word_maps(seed)
        return _code(noun, seed) @ wn + 0.3 * (_code(verb, seed) @ wv)
    world = _world(seed)
    a, o = _code(verb, seed), _code(noun, seed)
    ctx = np.array([_code(w, seed) for w in rest]).reshape(len(rest), _CODE_DIM)
    mlp = (_mlp(world, a, o, _context(a, o, ctx)) - world.mlp_mean) / world.mlp_rms
    inter = (a @ world.pa) * (o @ world.po) / world.inter_rms
    return np.concatenate([mlp * math.sqrt(1 - _INTER_WEIGHT), inter * math.sqrt(_INTER_WEIGHT)])


def _unit(x: np.ndarray) -> np.ndarray:
    return x / max(float(np.linalg.norm(x)), 1e-12)


def sentence_appearance(sentence: str, dim: int, seed: int = 0) -> np.ndarray:
    """The unit-norm event appearance (length ``dim``, before the ``sqrt(dim)`` feature scale
    and the per-instance perturbation) of a sentence."""
    if dim < 1:
        raise ValueError(f"dim must be >= 1, got {dim}")
    return _unit(_basis(int(seed), int(dim)) @ _semantic(sentence, int(seed)))


# --------------------------------------------------------------------------------------------
# videos


def num_clips(duration: float, clips_per_second: float) -> int:
    """Clips of a video: ``max(1, round(duration * clips_per_second))``."""
    return max(1, int(round(float(duration) * float(clips_per_second))))


def _distractor_sentences(rng: np.random.Generator, sentences: Sequence[str], n: int
                          ) -> list[str]:
    """``n`` unannotated events for a video: each shares one content word with one of the
    video's own sentences and takes another word from a fixed list (hard negatives that depend
    on the video alone)."""
    out = []
    for _ in range(n):
        words = content_words(sentences[int(rng.integers(len(sentences)))])
        keep = words[int(rng.integers(len(words)))]
        other = _DISTRACTOR_WORDS[int(rng.integers(len(_DISTRACTOR_WORDS)))]
        out.append(f"{other} {keep}" if rng.random() < 0.5 else f"{keep} {other}")
    return out


_DISTRACTOR_WORDS = tuple(
    "holding opening closing walking sitting standing eating drinking washing cleaning "
    "phone door window chair table towel bag box bed floor cup laptop book shoes".split())


def _video_features(
    vid: str,
    duration: float,
    events: Sequence[tuple[str, tuple[float, float]]],
    dim: int,
    clips_per_second: float,
    seed: int,
    world: SimConfig | None = None,
) -> np.ndarray:
    world = world or world_config("classic")
    latent = world.pca_source_dim if world.features == "pca" else dim
    n = num_clips(duration, clips_per_second)
    edges = np.linspace(0.0, duration, n + 1)
    t0, t1 = edges[:-1], edges[1:]
    centre = (t0 + t1) / 2

    rng = np.random.default_rng([seed, _S_VIDEO, *_hash_words(vid)])
    x = background(rng, centre, latent, world.scene_std, world.drift_std,
                   world.drift_period_range, world.noise_std)
    events = list(events)
    extra = np.random.default_rng([seed, _S_VIDEO, 1, *_hash_words(vid)])
    lo, hi = world.distractors
    n_distractors = int(extra.integers(lo, hi + 1)) if hi > 0 and events else 0
    for sentence in _distractor_sentences(extra, [e[0] for e in events], n_distractors):
        frac = float(extra.uniform(0.1, 0.4))
        start = float(extra.uniform(0.0, 1.0 - frac)) * duration
        events.append((sentence, (start, start + frac * duration)))
    lo, hi = world.scene_changes
    if hi > 0:
        x += scene_cuts(extra, centre, int(extra.integers(lo, hi + 1)), latent, world.scene_std)

    basis = _basis(seed, latent)
    s = basis.shape[1]
    for sentence, (start, end) in events:
        # per-instance draws keyed by the event itself: independent of the other events' order
        erng = np.random.default_rng(
            [seed, _S_EVENT, *_hash_words(vid), *_hash_words(f"{start!r} {end!r} {sentence}")]
        )
        sem = _semantic(sentence, seed, world.appearance)
        jitter = erng.standard_normal(s) * (world.appearance_jitter * float(np.linalg.norm(sem))
                                            / math.sqrt(s))
        signal = _unit(basis @ (sem + jitter)) * erng.uniform(*world.strength_range)
        x += envelope(t0, t1, start, end, world.ramp_fraction)[:, None] * signal[None, :]
    return _renderer(world, dim, seed)(x * math.sqrt(latent))


@lru_cache(maxsize=8)
def _renderer(world: SimConfig, dim: int, seed: int) -> Renderer:
    return make_renderer(world.features, dim, np.random.default_rng([seed, _S_WORLD, 2]),
                         gain=world.relu_gain, bias_mean=world.relu_bias[0],
                         bias_std=world.relu_bias[1], scale=world.relu_scale,
                         source_dim=world.pca_source_dim)


def _group(queries: Iterable[Query]) -> tuple[dict[str, dict], dict[str, int]]:
    """Queries -> ``vid -> {"duration", "events": [(sentence, window), ...]}`` (deduplicated)."""
    videos: dict[str, dict] = {}
    counts = {"pairs": 0, "events": 0, "duplicates": 0, "no_window": 0}
    for q in queries:
        counts["pairs"] += 1
        v = videos.setdefault(q.vid, {"duration": float(q.duration), "events": [], "seen": set()})
        if not math.isclose(v["duration"], float(q.duration), rel_tol=1e-9, abs_tol=1e-6):
            raise DataError(
                f"video {q.vid!r} has two durations ({v['duration']!r} and {q.duration!r}) in the "
                "given queries. Fix: simulate one dataset at a time / make the durations agree."
            )
        if q.window is None:
            counts["no_window"] += 1
            continue
        s, e = (min(max(float(t), 0.0), v["duration"]) for t in q.window)
        key = (q.sentence.strip(), s, e)
        if key in v["seen"]:
            counts["duplicates"] += 1
            continue
        v["seen"].add(key)
        if e > s:
            v["events"].append((q.sentence.strip(), (s, e)))
            counts["events"] += 1
    for v in videos.values():
        del v["seen"]
    return videos, counts


def simulate_features(
    queries: Sequence[Query],
    out_path: str | os.PathLike[str],
    *,
    layout: str,
    dim: int,
    clips_per_second: float,
    seed: int = 0,
    world: str | SimConfig = "classic",
    dataset_key: str = "c3d_features",
    overwrite: bool = False,
    progress: bool = True,
) -> dict:
    """Write simulated features for every video of ``queries`` to the HDF5 file ``out_path``.

    ``world`` (a name of ``ms2d.data.simulate.WORLDS`` or a :class:`SimConfig`) sets the
    feature kind, the way a sentence becomes appearance, the background, noise, scene cuts and
    the unannotated distractor events; ``dim`` the width of the written features.

    ``layout="flat"``: one float32 dataset ``[T, dim]`` per video id at the root (Charades-STA
    I3D style); ``layout="grouped"``: one group per video id holding the dataset
    ``dataset_key`` (ActivityNet C3D style). ``T = max(1, round(duration * clips_per_second))``.
    Typical values: Charades-STA ``dim=1024`` (I3D) with ``clips_per_second=1.0`` (the real I3D
    files have about 6 clips/s, 4-frame clips at 24 fps; 1 clip/s keeps the file small, the
    model pools to its map size anyway), ActivityNet ``dim=500`` (C3D) with
    ``clips_per_second=0.5`` (the real C3D features have about 2 per second).

    Every (sentence, window) pair of a video is added in its window (identical pairs once;
    queries without a window add nothing). The root attribute ``ms2d_simulation`` holds the
    parameters as JSON. The file is written to a temporary file next to ``out_path`` and moved
    into place atomically. Raises ``FileExistsError`` if ``out_path`` exists, unless
    ``overwrite``. Returns summary stats (videos, pairs, events, clips, bytes, ...).
    """
    import h5py
    from tqdm import tqdm

    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    cfg = world_config(world) if isinstance(world, str) else world
    dim, seed = int(dim), int(seed)
    if dim < 1:
        raise ValueError(f"dim must be >= 1, got {dim}")
    if not (clips_per_second > 0 and math.isfinite(clips_per_second)):
        raise ValueError(f"clips_per_second must be a finite number > 0, got {clips_per_second!r}")
    if layout == "grouped" and (not dataset_key or "/" in dataset_key):
        raise ValueError(f"dataset_key must be a non-empty name without '/', got {dataset_key!r}")
    out = Path(out_path)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} already exists; pass overwrite=True (--overwrite) to replace it")
    if out.exists() and out.is_dir():
        raise FileExistsError(f"{out} is a directory; give a file path ending in .hdf5")
    videos, counts = _group(queries)
    if not videos:
        raise DataError("no queries given: nothing to simulate")
    for vid in videos:
        if not vid or "/" in vid or vid in (".", ".."):
            raise DataError(f"video id {vid!r} cannot be an HDF5 name")

    params = {
        "format": _FORMAT,
        "version": __version__,
        "layout": layout,
        "dim": dim,
        "clips_per_second": float(clips_per_second),
        "seed": seed,
        "world": cfg.world,
        **({"dataset_key": dataset_key} if layout == "grouped" else {}),
    }
    clips = 0
    sample: list[np.ndarray] = []
    with atomic_path(out) as tmp:
        with h5py.File(tmp, "w") as h5:
            h5.attrs["ms2d_simulation"] = json.dumps(params, sort_keys=True)
            for vid in tqdm(sorted(videos), desc="simulate-features", unit="video",
                            disable=not progress):
                v = videos[vid]
                feats = _video_features(vid, v["duration"], v["events"], dim,
                                        clips_per_second, seed, cfg)
                if len(sample) < 64:
                    sample.append(feats)
                clips += feats.shape[0]
                if layout == "flat":
                    h5.create_dataset(vid, data=feats, track_times=False)
                else:
                    h5.create_group(vid).create_dataset(dataset_key, data=feats,
                                                        track_times=False)
    return {
        **params,
        "path": str(out),
        "videos": len(videos),
        **counts,
        "clips": clips,
        "mean_clips": round(clips / len(videos), 2),
        "features": feature_stats(sample),
        "bytes": out.stat().st_size,
    }
