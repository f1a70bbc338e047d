"""The family of simulated worlds: named generative stories that differ where real data differ.

Each world is a :class:`SimConfig` preset. ``ms2d simulate --world NAME`` writes its benchmark
(sentences from the grammar); ``ms2d simulate-features --world NAME`` renders the same kind of
features for the real Charades-STA / ActivityNet Captions annotations. ``docs/simulator.md``
tells each story and why it exists.

| world | features | dim | a sentence becomes appearance | moments | other |
|---|---|---|---|---|---|
| ``classic`` | centred Gaussian | 256 | compositional (nonlinear, pure interactions) | grammar | hard-negative distractors |
| ``i3d`` | non-negative, dense, large shared component | 1024 | compositional | Charades-STA statistics | 0-2 scene cuts |
| ``c3d`` | 500-d PCA of non-negative features (anisotropic, offset) | 500 | additive (action + object) | ActivityNet statistics | 2 s clips, strong slow drift |
| ``vgg`` | non-negative, sparse | 4096 | dominant (mostly the object) | grammar | noisy, 1-3 scene cuts |
"""

from __future__ import annotations

from dataclasses import fields, replace

from .grammar import SimConfig

#: world name -> the SimConfig fields it sets (the rest are SimConfig's defaults)
WORLDS: dict[str, dict] = {
    "classic": {},
    "i3d": dict(
        features="relu", feature_dim=1024, relu_gain=0.15, relu_bias=(0.35, 0.15),
        relu_scale=0.75, appearance="compositional", moments="charades",
        duration_range=(8.0, 80.0), queries_per_video=(1, 4), distractors=(1, 2),
        scene_changes=(0, 2),
    ),
    "c3d": dict(
        features="pca", feature_dim=500, pca_source_dim=1024, relu_gain=0.5,
        relu_bias=(0.3, 0.3), appearance="additive", moments="activitynet", clip_seconds=2.0,
        duration_range=(20.0, 240.0), queries_per_video=(2, 5), distractors=(1, 2),
        drift_std=0.6, drift_period_range=(40.0, 200.0),
    ),
    "vgg": dict(
        features="relu", feature_dim=4096, relu_gain=1.0, relu_bias=(-0.8, 0.5),
        appearance="dominant", noise_std=0.9, scene_changes=(1, 3), distractors=(1, 2),
    ),
}


def list_worlds() -> list[str]:
    return list(WORLDS)


def world_config(name: str = "classic", **overrides) -> SimConfig:
    """The :class:`SimConfig` of world ``name``, with ``overrides`` (SimConfig fields) on top."""
    if name not in WORLDS:
        import difflib

        close = difflib.get_close_matches(name, WORLDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown world {name!r}{hint}; known: {', '.join(WORLDS)}")
    known = {f.name for f in fields(SimConfig)}
    bad = sorted(set(overrides) - known)
    if bad:
        raise ValueError(f"unknown SimConfig field(s) {bad}")
    return replace(SimConfig(world=name, **WORLDS[name]), **overrides)
