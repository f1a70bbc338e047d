"""The simulated benchmark of a grammar world (sentences from a tiny grammar of actions and objects).

A deterministic generator of a weakly supervised video moment retrieval dataset written in the
same formats as the real ones (ActivityNet Captions style annotation JSON, Charades-STA style
"flat" HDF5 features), so the same loaders read both. ``docs/simulator.md`` tells the generative
story, every parameter and why each difficulty exists.

In short: a video is a sequence of clip feature vectors made of a per-video scene vector, slow
drift, i.i.d. clip noise, and 3-5 *events*. An event type is an (action, object) pair; its visual
appearance is a *nonlinear* function of the pair (a random tanh MLP over latent action/object
codes plus pure action x object product dimensions), so it is not a sum of word-wise parts. Each
video is queried by 2-3 sentences, each about a different event; the other events are hard
negatives that share the action or the object with a queried event, never both.

Public API: :class:`SimConfig`, :func:`simulate`, :func:`event_appearance`,
:func:`bow_linear_residual`, and the vocabulary tables :data:`ACTIONS` and :data:`OBJECTS`.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import h5py
import numpy as np
from tqdm import tqdm

from ... import __version__
from ...files import atomic_path
from .moments import MOMENT_SOURCES, draw_count, draw_duration, draw_window
from .render import (
    FEATURE_KINDS,
    Renderer,
    background,
    envelope,
    feature_stats,
    make_renderer,
    scene_cuts,
)

__all__ = [
    "ACTIONS",
    "OBJECTS",
    "OUTPUT_FILES",
    "SPLITS",
    "SimConfig",
    "bow_linear_residual",
    "event_appearance",
    "simulate",
]

SPLITS = ("train", "val", "test")
OUTPUT_FILES = (
    "train.json",
    "val.json",
    "test.json",
    "features.hdf5",
    "events.json",
    "simulation.json",
)
_SPLIT_STREAM = {"train": 1, "val": 2, "test": 3}  # 0 is the "world" stream
_FORMAT = "ms2d-simulation-1"
APPEARANCES = ("compositional", "additive", "dominant")

# --------------------------------------------------------------------------------------------
# Vocabulary (a tiny grammar with synonyms and paraphrases).
# --------------------------------------------------------------------------------------------

# canonical action name -> synonymous verbs, each as (base, -ing, past, past participle).
ACTIONS: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    "open": (
        ("open", "opening", "opened", "opened"),
        ("unlock", "unlocking", "unlocked", "unlocked"),
    ),
    "close": (
        ("close", "closing", "closed", "closed"),
        ("shut", "shutting", "shut", "shut"),
    ),
    "pick up": (
        ("pick up", "picking up", "picked up", "picked up"),
        ("grab", "grabbing", "grabbed", "grabbed"),
        ("take", "taking", "took", "taken"),
    ),
    "put down": (
        ("put down", "putting down", "put down", "put down"),
        ("set down", "setting down", "set down", "set down"),
        ("place", "placing", "placed", "placed"),
    ),
    "hold": (
        ("hold", "holding", "held", "held"),
        ("grasp", "grasping", "grasped", "grasped"),
    ),
    "throw": (
        ("throw", "throwing", "threw", "thrown"),
        ("toss", "tossing", "tossed", "tossed"),
    ),
    "wash": (
        ("wash", "washing", "washed", "washed"),
        ("rinse", "rinsing", "rinsed", "rinsed"),
    ),
    "wipe": (
        ("wipe", "wiping", "wiped", "wiped"),
        ("dust", "dusting", "dusted", "dusted"),
    ),
    "look at": (
        ("look at", "looking at", "looked at", "looked at"),
        ("stare at", "staring at", "stared at", "stared at"),
        ("watch", "watching", "watched", "watched"),
    ),
    "fix": (
        ("fix", "fixing", "fixed", "fixed"),
        ("repair", "repairing", "repaired", "repaired"),
    ),
    "push": (
        ("push", "pushing", "pushed", "pushed"),
        ("shove", "shoving", "shoved", "shoved"),
    ),
    "carry": (
        ("carry", "carrying", "carried", "carried"),
        ("bring", "bringing", "brought", "brought"),
    ),
    "touch": (
        ("touch", "touching", "touched", "touched"),
        ("tap", "tapping", "tapped", "tapped"),
    ),
    "shake": (
        ("shake", "shaking", "shook", "shaken"),
        ("jiggle", "jiggling", "jiggled", "jiggled"),
    ),
}

# canonical object name -> synonymous nouns.
OBJECTS: dict[str, tuple[str, ...]] = {
    "door": ("door", "doorway"),
    "cup": ("cup", "mug"),
    "laptop": ("laptop", "computer"),
    "book": ("book", "notebook"),
    "box": ("box", "carton"),
    "bag": ("bag", "backpack"),
    "phone": ("phone", "cellphone", "smartphone"),
    "towel": ("towel",),
    "pillow": ("pillow", "cushion"),
    "shoe": ("shoe", "sneaker"),
    "bottle": ("bottle",),
    "window": ("window",),
    "blanket": ("blanket", "quilt"),
    "chair": ("chair",),
}

SUBJECTS = ("a person", "someone", "the man", "a woman", "person")
ADVERBS_BEFORE = ("then", "quickly", "slowly", "carefully")
ADVERBS_AFTER = ("quickly", "slowly", "again", "carefully")

# Paraphrase templates. Fields: subj, base, ing, past, pp (past participle), obj, a_obj
# ("a"/"an" + obj), adv_pre, adv_post.
TEMPLATES = (
    "{subj} {past} the {obj}.",
    "{subj} is {ing} {a_obj}.",
    "the {obj} is {pp} by {subj}.",
    "{subj} {past} {a_obj} {adv_post}.",
    "{subj} {adv_pre} {past} the {obj}.",
    "{subj} begins to {base} the {obj}.",
    "then {subj} {past} the {obj}.",
    "{subj} is seen {ing} the {obj}.",
)
ACTIONS_LIST = tuple(ACTIONS)
OBJECTS_LIST = tuple(OBJECTS)
_A_INDEX = {a: i for i, a in enumerate(ACTIONS_LIST)}
_O_INDEX = {o: i for i, o in enumerate(OBJECTS_LIST)}


def _article(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun


# --------------------------------------------------------------------------------------------
# Configuration.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SimConfig:
    """Every knob of the simulated benchmark (see ``docs/simulator.md``).

    Ranges are ``(low, high)`` tuples, inclusive. Ratios are fractions of the video duration.
    """

    seed: int = 0
    """Master seed; every random draw derives from it (world, each split, each video)."""
    num_videos_train: int = 1200
    """Training videos (the split is by video)."""
    num_videos_val: int = 200
    """Validation videos."""
    num_videos_test: int = 1500
    """Test videos: about 3,500 pairs, so that the test split resolves a 1-point difference
    between two models (a paired difference of R@1 on 700 pairs has a standard error of about
    1.5 points; docs/simulator.md). Videos are drawn one by one from their own generators, so
    more test videos leave the training and validation splits byte-identical."""
    feature_dim: int = 256
    """D, the width of a clip feature vector."""
    clip_seconds: float = 1.0
    """Seconds of video per clip: T = max(1, round(duration / clip_seconds))."""

    # appearance of event types
    code_dim: int = 12
    """Width of the latent code of each action and of each object."""
    mlp_hidden: int = 64
    """Hidden width of the fixed random 2-layer tanh MLP that maps (action, object) codes."""
    mlp_gain: float = 3.0
    """Pre-activation scale of the MLP's tanh layer; larger means more nonlinear interaction."""
    semantic_dim: int = 24
    """Output width of the MLP (the nonlinear part of the appearance)."""
    interaction_dim: int = 8
    """Extra dimensions carrying a pure action x object product signal (no main effects)."""
    interaction_weight: float = 0.6
    """Share of the appearance energy in the pure-interaction dimensions (0..1)."""
    appearance_jitter: float = 0.2
    """Per-event-instance perturbation of the appearance (relative norm) in its subspace."""

    # videos
    duration_median: float = 28.0
    """Median video duration in seconds (lognormal)."""
    duration_sigma: float = 0.3
    """Log-space spread of the duration."""
    duration_range: tuple[float, float] = (12.0, 80.0)
    """Durations are redrawn until they fall in this range (a truncated lognormal)."""
    scene_std: float = 1.0
    """Expected norm of the per-video scene/background vector added to every clip."""
    drift_std: float = 0.3
    """Expected norm of the slow temporal drift (a few low-frequency sinusoids)."""
    drift_period_range: tuple[float, float] = (20.0, 90.0)
    """Periods (seconds) of the drift sinusoids."""
    noise_std: float = 0.6
    """Expected norm of the i.i.d. Gaussian clip noise, relative to a unit-norm event signal."""
    feature_scale: float | None = None
    """Global multiplier of the latent signal; ``None`` means sqrt(latent width), so that a
    unit-norm component has about unit per-dimension standard deviation."""

    # what a feature file holds (ms2d.data.simulate.render)
    world: str = "classic"
    """Name of the world this config was made from (``WORLDS``); informational."""
    features: str = "gaussian"
    """Feature kind: ``gaussian`` (centred latent), ``relu`` (non-negative, post-ReLU-like) or
    ``pca`` (a decaying-spectrum projection of wider ``relu`` features)."""
    relu_gain: float = 1.0
    """``relu``/``pca``: features = relu_scale * max(relu_gain * latent + bias, 0)."""
    relu_bias: tuple[float, float] = (0.0, 0.0)
    """``relu``/``pca``: mean and spread of the fixed per-dimension bias (positive: dense
    features with a large shared component; negative: sparse features)."""
    relu_scale: float = 1.0
    """``relu``/``pca``: output multiplier."""
    pca_source_dim: int = 0
    """``pca``: width of the ``relu`` features that are projected to ``feature_dim``."""
    appearance: str = "compositional"
    """How an (action, object) pair becomes appearance: ``compositional`` (a nonlinear function
    with pure interaction dimensions), ``additive`` (action part + object part) or
    ``dominant`` (mostly the object; the action barely visible)."""
    moments: str = "grammar"
    """Where durations, sentence counts and moments come from: ``grammar`` (the lognormal story
    below) or the statistics of ``charades`` / ``activitynet`` training annotations (moments may
    overlap; ``distractors`` extra events per video)."""
    distractors: tuple[int, int] = (0, 0)
    """Unqueried events per video with ``charades``/``activitynet`` moments and in
    ``simulate-features`` (the grammar story uses ``events_per_video``)."""
    scene_changes: tuple[int, int] = (0, 0)
    """Cuts per video, each switching to a new scene vector (norm ``scene_std``)."""

    # events and queries
    events_per_video: tuple[int, int] = (3, 5)
    """Number of events in a video (queried events + distractors)."""
    queries_per_video: tuple[int, int] = (2, 3)
    """Number of sentences per video, each about a different event (at most events - 1)."""
    moment_ratio_median: float = 0.25
    """Median event length as a fraction of the video duration (lognormal)."""
    moment_ratio_sigma: float = 0.45
    """Log-space spread of the event length ratio."""
    moment_ratio_range: tuple[float, float] = (0.08, 0.6)
    """Event length ratios are redrawn until they fall in this range."""
    min_event_seconds: float = 2.0
    """No event is shorter than this."""
    max_coverage: float = 0.9
    """At most this fraction of a video is covered by events (the rest is background)."""
    hard_negative_prob: float = 1.0
    """Probability that a distractor shares the action or the object with a queried event (the
    first distractor of every video always does); otherwise it is a random other event type."""
    ramp_fraction: float = 0.1
    """The event signal ramps up over the first and down over the last this fraction."""
    strength_range: tuple[float, float] = (0.8, 1.2)
    """Per-instance strength of the event signal."""

    def __post_init__(self) -> None:
        def need(cond: bool, msg: str) -> None:
            if not cond:
                raise ValueError(f"SimConfig: {msg}")

        for name in ("num_videos_train", "num_videos_val", "num_videos_test"):
            need(getattr(self, name) >= 0, f"{name} must be >= 0")
        for name in ("feature_dim", "code_dim", "mlp_hidden", "semantic_dim"):
            need(getattr(self, name) >= 1, f"{name} must be >= 1")
        need(self.interaction_dim >= 0, "interaction_dim must be >= 0")
        need(0.0 <= self.interaction_weight <= 1.0, "interaction_weight must be in [0, 1]")
        need(
            self.interaction_dim > 0 or self.interaction_weight == 0.0,
            "interaction_weight must be 0 when interaction_dim is 0",
        )
        need(self.clip_seconds > 0, "clip_seconds must be > 0")
        need(self.duration_median > 0 and self.duration_sigma >= 0, "bad duration parameters")
        need(0 < self.duration_range[0] <= self.duration_range[1], "bad duration_range")
        need(0 < self.drift_period_range[0] <= self.drift_period_range[1], "bad drift_period_range")
        for name in ("scene_std", "drift_std", "noise_std", "appearance_jitter", "mlp_gain"):
            need(getattr(self, name) >= 0, f"{name} must be >= 0")
        need(self.feature_scale is None or self.feature_scale > 0, "feature_scale must be > 0")
        lo, hi = self.events_per_video
        need(2 <= lo <= hi, "events_per_video must satisfy 2 <= low <= high")
        need(hi <= len(ACTIONS) * len(OBJECTS), "events_per_video too large")
        qlo, qhi = self.queries_per_video
        need(1 <= qlo <= qhi, "queries_per_video must satisfy 1 <= low <= high")
        rlo, rhi = self.moment_ratio_range
        need(0 < rlo <= rhi < 1, "moment_ratio_range must satisfy 0 < low <= high < 1")
        need(
            self.moment_ratio_median > 0 and self.moment_ratio_sigma >= 0,
            "bad moment ratio parameters",
        )
        need(self.min_event_seconds >= 0, "min_event_seconds must be >= 0")
        need(0 < self.max_coverage <= 1, "max_coverage must be in (0, 1]")
        need(
            2 * self.min_event_seconds <= self.max_coverage * self.duration_range[0],
            "min_event_seconds too long for the shortest video",
        )
        need(0 <= self.hard_negative_prob <= 1, "hard_negative_prob must be in [0, 1]")
        need(0 <= self.ramp_fraction <= 0.5, "ramp_fraction must be in [0, 0.5]")
        need(0 < self.strength_range[0] <= self.strength_range[1], "bad strength_range")
        need(self.features in FEATURE_KINDS,
             f"features must be one of {', '.join(FEATURE_KINDS)}, got {self.features!r}")
        need(self.features != "pca" or self.pca_source_dim >= 1,
             "features='pca' needs pca_source_dim >= 1")
        need(self.relu_gain > 0 and self.relu_scale > 0, "relu_gain and relu_scale must be > 0")
        need(self.appearance in APPEARANCES,
             f"appearance must be one of {', '.join(APPEARANCES)}, got {self.appearance!r}")
        need(self.moments in MOMENT_SOURCES,
             f"moments must be one of {', '.join(MOMENT_SOURCES)}, got {self.moments!r}")
        need(0 <= self.distractors[0] <= self.distractors[1], "bad distractors range")
        need(0 <= self.scene_changes[0] <= self.scene_changes[1], "bad scene_changes range")

    @property
    def latent_dim(self) -> int:
        """Width of the latent signal (``pca_source_dim`` for ``pca``, else ``feature_dim``)."""
        return self.pca_source_dim if self.features == "pca" else self.feature_dim

    @property
    def scale(self) -> float:
        """The resolved ``feature_scale``."""
        if self.feature_scale is None:
            return math.sqrt(self.latent_dim)
        return float(self.feature_scale)

    def resolved(self) -> SimConfig:
        """A copy with every ``None`` default replaced by its value."""
        return replace(self, feature_scale=self.scale)

    def num_videos(self, split: str) -> int:
        return int(getattr(self, f"num_videos_{split}"))

    def to_dict(self) -> dict:
        d = asdict(self.resolved())
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict) -> SimConfig:
        """Inverse of :meth:`to_dict` (unknown keys are an error)."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"SimConfig: unknown field(s) {unknown}")
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items()})


# --------------------------------------------------------------------------------------------
# The world: appearance of every event type (fixed for a seed).
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _World:
    actions: tuple[str, ...]
    objects: tuple[str, ...]
    appearance: np.ndarray  # [A, O, L] unit-norm event signals in the latent space
    basis: np.ndarray  # [L, S] projection of the semantic space into the latent space
    render: Renderer  # latent -> the world's features


def _unit(x: np.ndarray, axis: int = -1) -> np.ndarray:
    n = np.linalg.norm(x, axis=axis, keepdims=True)
    return x / np.maximum(n, 1e-12)


def _build_world(config: SimConfig) -> _World:
    rng = np.random.default_rng([config.seed, 0])
    actions, objects = tuple(ACTIONS), tuple(OBJECTS)
    na, no, c = len(actions), len(objects), config.code_dim

    # latent codes, centred over items so that product features have no main effects
    a_code = rng.standard_normal((na, c))
    o_code = rng.standard_normal((no, c))
    a_code -= a_code.mean(0)
    o_code -= o_code.mean(0)
    a_code /= a_code.std()
    o_code /= o_code.std()

    # fixed random 2-layer tanh MLP on the concatenated codes
    h = config.mlp_hidden
    w1 = rng.standard_normal((2 * c, h)) * (config.mlp_gain / math.sqrt(2 * c))
    b1 = rng.standard_normal(h) * 0.5
    w2 = rng.standard_normal((h, config.semantic_dim)) / math.sqrt(h)
    pair_in = np.concatenate(
        [np.repeat(a_code[:, None, :], no, 1), np.repeat(o_code[None, :, :], na, 0)], axis=-1
    )  # [A, O, 2c]
    mlp = np.tanh(pair_in @ w1 + b1) @ w2  # [A, O, semantic_dim]
    mlp -= mlp.mean((0, 1))
    parts = [mlp / max(float(np.sqrt((mlp**2).sum(-1).mean())), 1e-12)]
    weights = [1.0 - config.interaction_weight]

    if config.interaction_dim > 0:
        pa = rng.standard_normal((c, config.interaction_dim)) / math.sqrt(c)
        po = rng.standard_normal((c, config.interaction_dim)) / math.sqrt(c)
        inter = (a_code @ pa)[:, None, :] * (o_code @ po)[None, :, :]  # exactly double-centred
        parts.append(inter / max(float(np.sqrt((inter**2).sum(-1).mean())), 1e-12))
        weights.append(config.interaction_weight)

    sem = np.concatenate([p * math.sqrt(w) for p, w in zip(parts, weights)], axis=-1)
    s = sem.shape[-1]
    if config.appearance != "compositional":  # word-wise parts (own stream: the rest unchanged)
        wrng = np.random.default_rng([config.seed, 0, 1])
        ua = a_code @ wrng.standard_normal((c, s)) / math.sqrt(c)  # [A, S]
        vo = o_code @ wrng.standard_normal((c, s)) / math.sqrt(c)  # [O, S]
        w_action = 1.0 if config.appearance == "additive" else 0.3
        sem = w_action * ua[:, None, :] + vo[None, :, :]
        sem -= sem.mean((0, 1))
    latent = config.latent_dim
    basis = rng.standard_normal((latent, s))
    if latent >= s:
        basis, _ = np.linalg.qr(basis)  # orthonormal columns: norms are preserved
    else:
        basis /= math.sqrt(latent)
    appearance = _unit(sem @ basis.T)  # [A, O, L]
    render = make_renderer(
        config.features, config.feature_dim, np.random.default_rng([config.seed, 0, 2]),
        gain=config.relu_gain, bias_mean=config.relu_bias[0], bias_std=config.relu_bias[1],
        scale=config.relu_scale, source_dim=config.pca_source_dim)
    return _World(actions, objects, appearance, basis, render)


def event_appearance(config: SimConfig | None = None) -> dict[tuple[str, str], np.ndarray]:
    """The unit-norm visual signal (length ``feature_dim``, before ``feature_scale``) of every
    event type, keyed by canonical ``(action, object)`` names (``ACTIONS`` x ``OBJECTS``)."""
    world = _build_world(config or SimConfig())
    return {
        (a, o): world.appearance[i, j].copy()
        for i, a in enumerate(world.actions)
        for j, o in enumerate(world.objects)
    }


def bow_linear_residual(config: SimConfig | None = None) -> float:
    """Relative residual of the best additive (bag-of-words) fit of the event appearances.

    Fits ``appearance(a, o) ~ u_a + v_o`` by least squares over all event types and returns
    ``||residual|| / ||appearance - mean||``: 0 would mean the appearance is a sum of word-wise
    parts, 1 that words alone explain nothing.
    """
    world = _build_world(config or SimConfig())
    na, no, d = world.appearance.shape
    y = world.appearance.reshape(na * no, d)
    x = np.zeros((na * no, na + no))
    for i in range(na):
        for j in range(no):
            x[i * no + j, i] = 1.0
            x[i * no + j, na + j] = 1.0
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    resid = y - x @ coef
    return float(np.linalg.norm(resid) / np.linalg.norm(y - y.mean(0)))


# --------------------------------------------------------------------------------------------
# One video.
# --------------------------------------------------------------------------------------------


def _truncated_lognormal(
    rng: np.random.Generator, median: float, sigma: float, lo: float, hi: float
) -> float:
    for _ in range(1000):
        v = float(median * math.exp(sigma * rng.standard_normal()))
        if lo <= v <= hi:
            return v
    return float(min(max(median, lo), hi))


def _num_clips(duration: float, clip_seconds: float) -> int:
    return max(1, int(round(duration / clip_seconds)))


def _sentence(rng: np.random.Generator, action: str, obj: str) -> str:
    base, ing, past, pp = ACTIONS[action][rng.integers(len(ACTIONS[action]))]
    noun = OBJECTS[obj][rng.integers(len(OBJECTS[obj]))]
    template = TEMPLATES[rng.integers(len(TEMPLATES))]
    return template.format(
        subj=SUBJECTS[rng.integers(len(SUBJECTS))],
        base=base,
        ing=ing,
        past=past,
        pp=pp,
        obj=noun,
        a_obj=_article(noun),
        adv_pre=ADVERBS_BEFORE[rng.integers(len(ADVERBS_BEFORE))],
        adv_post=ADVERBS_AFTER[rng.integers(len(ADVERBS_AFTER))],
    )


def _choose_pairs(
    rng: np.random.Generator, config: SimConfig, n_events: int, n_queries: int
) -> list[tuple[int, int]]:
    """Queried pairs first, then distractors sharing exactly one word-group with a query."""
    na, no = len(ACTIONS), len(OBJECTS)
    flat = rng.choice(na * no, size=n_queries, replace=False)
    pairs = [(int(f // no), int(f % no)) for f in flat]
    used = set(pairs)
    for k in range(n_events - n_queries):
        hard = k == 0 or rng.random() < config.hard_negative_prob
        cand: list[tuple[int, int]] = []
        if hard:
            qa, qo = pairs[int(rng.integers(n_queries))]
            if rng.random() < 0.5:  # same action, other object
                cand = [(qa, j) for j in range(no) if (qa, j) not in used]
            else:  # same object, other action
                cand = [(i, qo) for i in range(na) if (i, qo) not in used]
        if not cand:
            cand = [(i, j) for i in range(na) for j in range(no) if (i, j) not in used]
        pick = cand[int(rng.integers(len(cand)))]
        pairs.append(pick)
        used.add(pick)
    return pairs


def _event_lengths(
    rng: np.random.Generator, config: SimConfig, duration: float, n_events: int, n_queries: int
) -> list[float]:
    """Lengths (seconds) of the queried events, then of the distractors (possibly fewer)."""
    budget = config.max_coverage * duration
    rlo, rhi = config.moment_ratio_range

    def draw() -> float:
        r = _truncated_lognormal(
            rng, config.moment_ratio_median, config.moment_ratio_sigma, rlo, rhi
        )
        return max(r * duration, config.min_event_seconds)

    queries = [draw() for _ in range(n_queries)]
    for _ in range(1000):  # the queried moments and one minimal distractor must fit
        if sum(queries) + config.min_event_seconds <= budget:
            break
        queries = [draw() for _ in range(n_queries)]
    else:  # pragma: no cover - only with extreme configs
        room = budget - config.min_event_seconds
        queries = [room / n_queries] * n_queries

    room = budget - sum(queries)
    distractors = [draw() for _ in range(n_events - n_queries)]
    while True:  # shrink distractors into the remaining room; drop some if too many
        total = sum(distractors)
        if total > room:
            distractors = [d * room / total for d in distractors]
        if len(distractors) == 1 or min(distractors) >= config.min_event_seconds:
            break
        distractors.pop()
    distractors = [max(d, min(config.min_event_seconds, room)) for d in distractors]
    return queries + distractors


def _story(rng: np.random.Generator, config: SimConfig) -> dict:
    """The annotation-level content of one video (no features)."""
    if config.moments != "grammar":
        return _sampled_story(rng, config)
    duration = round(
        _truncated_lognormal(
            rng, config.duration_median, config.duration_sigma, *config.duration_range
        ),
        2,
    )
    elo, ehi = config.events_per_video
    qlo, qhi = config.queries_per_video
    n_events = int(rng.integers(elo, ehi + 1))
    n_queries = min(int(rng.integers(qlo, qhi + 1)), n_events - 1)
    pairs = _choose_pairs(rng, config, n_events, n_queries)
    lengths = _event_lengths(rng, config, duration, n_events, n_queries)
    pairs = pairs[: len(lengths)]

    # random temporal order; the free time is split uniformly (K+1 gaps ~ Dirichlet(1, ..., 1))
    order = rng.permutation(len(lengths))
    gaps = rng.dirichlet(np.ones(len(lengths) + 1)) * max(duration - sum(lengths), 0.0)
    spans: list[tuple[float, float] | None] = [None] * len(lengths)
    t = 0.0
    for slot, idx in enumerate(order):
        t += float(gaps[slot])
        spans[idx] = (t, t + lengths[idx])
        t += lengths[idx]

    return _finish_story(rng, config, duration, pairs, spans, n_queries)


def _sampled_story(rng: np.random.Generator, config: SimConfig) -> dict:
    """A video whose duration, sentence count and moments follow a real dataset's statistics
    (``moments.json``); moments are drawn independently, so they may overlap."""
    name = config.moments
    duration = round(draw_duration(rng, name, *config.duration_range), 2)
    qlo, qhi = config.queries_per_video
    n_queries = draw_count(rng, name, qlo, qhi)
    n_events = n_queries + int(rng.integers(config.distractors[0], config.distractors[1] + 1))
    pairs = _choose_pairs(rng, config, max(n_events, n_queries + 1), n_queries)[:n_events]
    spans = []
    for _ in pairs:
        start, length = draw_window(rng, name)
        length = max(length * duration, min(config.min_event_seconds, duration))
        begin = min(start * duration, duration - length)
        spans.append((begin, begin + length))
    return _finish_story(rng, config, duration, pairs, spans, n_queries)


def _finish_story(rng: np.random.Generator, config: SimConfig, duration: float, pairs: list,
                  spans: list, n_queries: int) -> dict:
    slo, shi = config.strength_range
    events = []
    for k, ((ai, oi), span) in enumerate(zip(pairs, spans)):
        assert span is not None
        start = min(max(round(span[0], 2), 0.0), duration)
        end = min(max(round(span[1], 2), 0.0), duration)
        if end <= start:  # only possible through rounding of tiny events
            start, end = max(0.0, round(end - 0.01, 2)), end if end > 0 else 0.01
        events.append(
            {
                "action": ACTIONS_LIST[ai],
                "object": OBJECTS_LIST[oi],
                "start": start,
                "end": end,
                "strength": round(float(rng.uniform(slo, shi)), 4),
                "queried": k < n_queries,
            }
        )

    # sentences for the queried events, reported in temporal order
    queried = sorted((e for e in events if e["queried"]), key=lambda e: (e["start"], e["end"]))
    sentences = [_sentence(rng, e["action"], e["object"]) for e in queried]
    events.sort(key=lambda e: (e["start"], e["end"]))
    for e in events:
        e["query"] = next((i for i, q in enumerate(queried) if q is e), None)
        del e["queried"]
    return {
        "duration": duration,
        "timestamps": [[q["start"], q["end"]] for q in queried],
        "sentences": sentences,
        "events": events,
    }


def _features(
    rng: np.random.Generator, config: SimConfig, world: _World, story: dict, extra=None
) -> np.ndarray:
    """The clip features of one video. ``rng`` draws the classic story's scene, drift, noise and
    event jitter (in this order, as always); ``extra`` (a second generator) the scene cuts."""
    duration = story["duration"]
    d = config.latent_dim
    n = _num_clips(duration, config.clip_seconds)
    edges = np.linspace(0.0, duration, n + 1)
    t0, t1 = edges[:-1], edges[1:]
    centre = (t0 + t1) / 2
    x = background(rng, centre, d, config.scene_std, config.drift_std,
                   config.drift_period_range, config.noise_std)
    s = world.basis.shape[1]
    for e in story["events"]:
        base = world.appearance[_A_INDEX[e["action"]], _O_INDEX[e["object"]]]
        jitter = world.basis @ rng.standard_normal(s) * (config.appearance_jitter / math.sqrt(s))
        signal = _unit(base + jitter) * e["strength"]
        env = envelope(t0, t1, e["start"], e["end"], config.ramp_fraction)
        x += env[:, None] * signal[None, :]
    lo, hi = config.scene_changes
    if hi > 0 and extra is not None:
        x += scene_cuts(extra, centre, int(extra.integers(lo, hi + 1)), d, config.scene_std)
    return world.render(x * config.scale)


# --------------------------------------------------------------------------------------------
# Writing.
# --------------------------------------------------------------------------------------------


def _write_json(path: Path, obj, indent: int | None = None) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=indent, ensure_ascii=False)
            f.write("\n")


def simulate(
    out_dir: str | os.PathLike,
    config: SimConfig | None = None,
    *,
    overwrite: bool = False,
    progress: bool = True,
) -> dict:
    """Generate the simulated benchmark into ``out_dir`` and return its summary stats.

    Writes ``train.json``/``val.json``/``test.json`` (ActivityNet Captions format),
    ``features.hdf5`` (one float32 ``[T, D]`` dataset per video at the root),
    ``events.json`` (every event, distractors included) and ``simulation.json`` (config, seed,
    version, stats). Deterministic for a config. Raises ``FileExistsError`` if ``out_dir``
    already holds any of these files, unless ``overwrite``.
    """
    config = (config or SimConfig()).resolved()
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a directory")
    existing = [n for n in OUTPUT_FILES if (out / n).exists()]
    if existing and not overwrite:
        raise FileExistsError(
            f"{out} already holds {', '.join(existing)}; pass overwrite=True "
            "(ms2d simulate --overwrite) to replace them"
        )
    out.mkdir(parents=True, exist_ok=True)

    world = _build_world(config)
    annotations: dict[str, dict] = {s: {} for s in SPLITS}
    all_events: dict[str, dict] = {}
    total = sum(config.num_videos(s) for s in SPLITS)
    sample: list[np.ndarray] = []  # the first videos' features, for the feature statistics
    with (
        atomic_path(out / "features.hdf5") as tmp_h5,
        h5py.File(tmp_h5, "w") as h5,
        tqdm(total=total, desc="simulate", unit="video", disable=not progress) as bar,
    ):
        for split in SPLITS:
            stream = _SPLIT_STREAM[split]
            for i in range(config.num_videos(split)):
                vid = f"sim_{split}_{i:05d}"
                story = _story(np.random.default_rng([config.seed, stream, i, 0]), config)
                feats = _features(
                    np.random.default_rng([config.seed, stream, i, 1]), config, world, story,
                    np.random.default_rng([config.seed, stream, i, 2]),
                )
                if len(sample) < 64:
                    sample.append(feats)
                h5.create_dataset(vid, data=feats, track_times=False)
                annotations[split][vid] = {
                    "duration": story["duration"],
                    "timestamps": story["timestamps"],
                    "sentences": story["sentences"],
                }
                all_events[vid] = {
                    "split": split,
                    "duration": story["duration"],
                    "num_clips": int(feats.shape[0]),
                    "events": story["events"],
                }
                bar.update(1)

    for split in SPLITS:
        _write_json(out / f"{split}.json", annotations[split])
    _write_json(out / "events.json", all_events)

    stats = _stats(config, annotations)
    stats["features"] = feature_stats(sample) if sample else {}
    meta = {
        "format": _FORMAT,
        "version": __version__,
        "seed": config.seed,
        "config": config.to_dict(),
        "stats": stats,
        "files": {
            "annotations": {s: f"{s}.json" for s in SPLITS},
            "features": "features.hdf5",
            "events": "events.json",
        },
    }
    _write_json(out / "simulation.json", meta, indent=2)
    return stats


def _stats(config: SimConfig, annotations: dict[str, dict]) -> dict:
    durations, ratios, vocab = [], [], set()
    for split in SPLITS:
        for rec in annotations[split].values():
            durations.append(rec["duration"])
            for (s, e), sent in zip(rec["timestamps"], rec["sentences"]):
                ratios.append((e - s) / rec["duration"])
                vocab.update(sent.rstrip(".").split())
    return {
        "world": config.world,
        "videos": {s: len(annotations[s]) for s in SPLITS} | {"total": len(durations)},
        "pairs": {s: sum(len(r["sentences"]) for r in annotations[s].values()) for s in SPLITS}
        | {"total": len(ratios)},
        "mean_duration": round(float(np.mean(durations)), 4) if durations else 0.0,
        "mean_moment_ratio": round(float(np.mean(ratios)), 4) if ratios else 0.0,
        "vocabulary_size": len(vocab),
        "event_types": len(ACTIONS) * len(OBJECTS),
        "bow_linear_residual": round(bow_linear_residual(config), 4),
    }
