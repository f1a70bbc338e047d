"""Multi-scale 2D temporal maps: resampling, candidate masks and max-pooled maps.

Everything is tensor ops. The masks depend only on the map size and are cached.
"""

from __future__ import annotations

from functools import lru_cache

import torch


def resample_weights(lengths: torch.Tensor, n: int, t_max: int) -> torch.Tensor:
    """Averaging matrices ``[B, n, t_max]`` that pool each video's clips into ``n`` segments.

    Segment ``i`` of a video with ``T`` clips averages clips ``floor(i*T/n) .. floor((i+1)*T/n)-1``
    and always at least clip ``floor(i*T/n)``: a video shorter than ``n`` clips repeats clips
    rather than leaving empty segments.
    """
    lengths = lengths.to(torch.float64).clamp(min=1)
    i = torch.arange(n, device=lengths.device, dtype=torch.float64)
    start = torch.floor(i[None, :] * lengths[:, None] / n)  # [B, n]
    end = torch.floor((i[None, :] + 1) * lengths[:, None] / n)
    end = torch.maximum(end, start + 1)
    t = torch.arange(t_max, device=lengths.device, dtype=torch.float64)
    w = ((t[None, None, :] >= start[..., None]) & (t[None, None, :] < end[..., None])).float()
    return w / w.sum(-1, keepdim=True)


@lru_cache(maxsize=64)
def _candidate_mask_cpu(n: int, dense_until: int) -> torch.Tensor:
    x = torch.arange(n)[:, None]
    y = torch.arange(n)[None, :]
    offset = y - x
    mask = offset >= 0
    if n <= dense_until:
        return mask
    # 2D-TAN sparse sampling: every moment spanning up to `dense_until` segments; for longer
    # ones the stride doubles each time the span doubles (offsets 16-31 stride 2, 32-63 stride
    # 4, ... for dense_until=16), with start and end+1 on multiples of the stride.
    level = torch.where(
        offset >= dense_until,
        torch.floor(torch.log2(offset.clamp(min=1).double() / dense_until)).long() + 1,
        torch.zeros_like(offset),
    )
    stride = 2**level
    return mask & (x % stride == 0) & ((offset + 1) % stride == 0)


def candidate_mask(n: int, dense_until: int = 16, device: torch.device | str = "cpu") -> torch.Tensor:
    """Bool ``[n, n]`` mask of the candidate moments ``(x, y)``, ``x <= y``, of one scale."""
    mask = _candidate_mask_cpu(n, dense_until)
    return mask.clone() if torch.device(device).type == "cpu" else mask.to(device)


def renorm_map(mask: torch.Tensor, kernel: int) -> torch.Tensor:
    """``[1, 1, N, N]`` for a bool ``[N, N]`` mask: ``k*k / (valid cells under the kernel)`` on
    valid cells, 0 elsewhere (the masked convolutions' partial-convolution rescaling)."""
    m = mask.to("cpu", torch.float32)[None, None]
    count = torch.nn.functional.conv2d(m, torch.ones(1, 1, kernel, kernel), padding=kernel // 2)
    scale = torch.where(count > 0, kernel * kernel / count.clamp(min=1), torch.zeros_like(count))
    return scale * m


def build_map(seq: torch.Tensor) -> torch.Tensor:
    """Max-pooled 2D map: ``seq [B, N, d] -> [B, d, N, N]`` with ``map[x, y] = max(seq[x..y])``.

    Cells with ``x > y`` are zero. A running max along the diagonal offsets: ``N`` tensor ops.
    """
    b, n, d = seq.shape
    out = seq.new_zeros(b, d, n, n)
    cur = seq.transpose(1, 2)  # [B, d, N]; cur[..., x] = max(seq[x .. x+k])
    idx = torch.arange(n, device=seq.device)
    for k in range(n):
        m = n - k
        out[:, :, idx[:m], idx[:m] + k] = cur[:, :, :m]
        if k + 1 < n:
            cur = torch.maximum(cur[:, :, : m - 1], seq.transpose(1, 2)[:, :, k + 1 :])
    return out


def cell_times(n: int, duration: torch.Tensor) -> torch.Tensor:
    """Seconds of every cell: ``[B, n, n, 2]`` with cell ``(x, y) -> [x*D/n, (y+1)*D/n]``."""
    i = torch.arange(n, device=duration.device, dtype=torch.float32)
    start = i[:, None].expand(n, n) / n
    end = (i[None, :].expand(n, n) + 1) / n
    frac = torch.stack([start, end], -1)  # [n, n, 2]
    return frac[None] * duration.float()[:, None, None, None]
