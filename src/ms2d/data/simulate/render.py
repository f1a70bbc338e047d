"""From a centred latent clip signal to the clip features a world hands out.

Every simulated video is first built as a *latent* signal ``x [T, L]``: per-video scene, slow
drift, i.i.d. noise and the events' appearances, each a component of known norm, times
``sqrt(L)`` so that one unit-norm component has about unit standard deviation per dimension.
The world's *feature kind* then decides what a user's feature file would hold:

* ``gaussian``: ``x`` itself (centred, Gaussian-like, half the values negative);
* ``relu``: ``scale * max(gain * x + bias, 0)`` with a fixed per-dimension ``bias`` drawn once per
  world: non-negative like averaged post-ReLU CNN activations (I3D, VGG fc7). A positive mean
  bias gives dense features with a large component shared by every clip of every video (I3D
  averages: mean about 0.27, std about 0.17); a negative one sparse features (VGG);
* ``pca``: the ``relu`` features of a wider latent projected to ``dim`` by a fixed random
  orthonormal basis with a decaying spectrum, *not* centred: anisotropic features with negative
  values and a shared offset, like the 500-d PCA of C3D fc7 distributed for ActivityNet.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

FEATURE_KINDS = ("gaussian", "relu", "pca")


@dataclass(frozen=True)
class Renderer:
    kind: str
    latent_dim: int
    dim: int
    gain: float = 1.0
    scale: float = 1.0
    bias: np.ndarray | None = None  # [latent_dim]
    projection: np.ndarray | None = None  # [latent_dim, dim]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """``x [T, latent_dim]`` (float64) -> features ``[T, dim]`` (float32)."""
        if self.kind == "gaussian":
            return x.astype(np.float32)
        h = np.maximum(self.gain * x + self.bias, 0.0) * self.scale
        if self.kind == "pca":
            h = h @ self.projection
        return h.astype(np.float32)


def make_renderer(kind: str, dim: int, rng: np.random.Generator, *, gain: float = 1.0,
                  bias_mean: float = 0.0, bias_std: float = 0.0, scale: float = 1.0,
                  source_dim: int = 0) -> Renderer:
    """The world's fixed feature map. ``rng`` is the world's own generator (drawn from only for
    ``relu`` and ``pca``, so a ``gaussian`` world's draws are unchanged)."""
    if kind not in FEATURE_KINDS:
        raise ValueError(f"unknown feature kind {kind!r}; known: {', '.join(FEATURE_KINDS)}")
    if kind == "gaussian":
        return Renderer(kind, dim, dim)
    latent = source_dim if kind == "pca" else dim
    if latent < 1:
        raise ValueError("a 'pca' world needs pca_source_dim >= 1")
    bias = bias_mean + bias_std * rng.standard_normal(latent)
    projection = None
    if kind == "pca":
        q, _ = np.linalg.qr(rng.standard_normal((latent, max(dim, 1))))
        if dim > latent:  # more outputs than sources: random columns, unit norm
            q = rng.standard_normal((latent, dim)) / math.sqrt(latent)
        spectrum = 1.0 / np.sqrt(np.arange(1, dim + 1))
        projection = q[:, :dim] * (spectrum / math.sqrt(np.mean(spectrum**2)))
    return Renderer(kind, latent, dim, gain=gain, scale=scale, bias=bias, projection=projection)


def envelope(t0: np.ndarray, t1: np.ndarray, start: float, end: float, ramp: float) -> np.ndarray:
    """Mean event strength over each clip ``[t0, t1)`` (8 sub-samples per clip), ramping up over
    the first and down over the last ``ramp`` fraction of the event."""
    sub = (np.arange(8) + 0.5) / 8.0
    t = t0[:, None] + (t1 - t0)[:, None] * sub[None, :]  # [T, 8]
    u = (t - start) / max(end - start, 1e-9)
    inside = (u >= 0) & (u <= 1)
    env = np.clip(np.minimum(u, 1.0 - u) / ramp, 0.0, 1.0) if ramp > 0 else np.ones_like(u)
    return np.where(inside, env, 0.0).mean(1)


def scene_cuts(rng: np.random.Generator, centre: np.ndarray, n_cuts: int, dim: int,
               scene_std: float) -> np.ndarray:
    """A piecewise-constant change of scene: ``n_cuts`` cut times, a new scene vector after each
    (the difference to the first scene is returned, ``[T, dim]``)."""
    out = np.zeros((len(centre), dim))
    if n_cuts <= 0 or len(centre) < 2:
        return out
    cuts = np.sort(rng.uniform(centre[0], centre[-1], n_cuts))
    base = np.zeros(dim)
    for c in cuts:
        new = rng.standard_normal(dim) * (scene_std / math.sqrt(dim))
        out[centre >= c] += new - base
        base = new
    return out


def background(rng: np.random.Generator, centre: np.ndarray, dim: int, scene_std: float,
               drift_std: float, drift_periods: tuple[float, float], noise_std: float
               ) -> np.ndarray:
    """Scene + slow drift + i.i.d. noise, ``[T, dim]``, unscaled (unit norm = 1)."""
    n = len(centre)
    x = np.broadcast_to(rng.standard_normal(dim) * (scene_std / math.sqrt(dim)), (n, dim)).copy()
    n_sin = 3
    periods = rng.uniform(*drift_periods, n_sin)
    phases = rng.uniform(0, 2 * math.pi, n_sin)
    dirs = rng.standard_normal((n_sin, dim)) * (drift_std * math.sqrt(2.0 / (n_sin * dim)))
    x += np.sin(2 * math.pi * centre[:, None] / periods[None, :] + phases[None, :]) @ dirs
    x += rng.standard_normal((n, dim)) * (noise_std / math.sqrt(dim))
    return x


def feature_stats(feats: list[np.ndarray]) -> dict:
    """Mean, std, share of negative values and the shared component's share of the energy
    (``|mean clip|^2 / mean |clip|^2``) of a list of ``[T, D]`` arrays."""
    x = np.concatenate(feats, 0).astype(np.float64)
    mu = x.mean(0)
    return {"mean": round(float(x.mean()), 4), "std": round(float(x.std()), 4),
            "negative": round(float((x < 0).mean()), 4), "zero": round(float((x == 0).mean()), 4),
            "shared_energy": round(float((mu**2).sum() / (x**2).sum(1).mean()), 4)}
