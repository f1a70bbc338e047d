"""Multi-scale 2D temporal maps: resampling, candidate masks, max-pooled and contrast maps.

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


def build_map(seq: torch.Tensor) -> torch.Tensor:
    """Max-pooled 2D map: ``seq [B, N, d] -> [B, d, N, N]`` with ``map[x, y] = max(seq[x..y])``.

    Cells with ``x > y`` are zero. A running max along the diagonal offsets: ``N`` tensor ops,
    each diagonal written through a strided view. The backward (:class:`_BuildMap`) walks the
    diagonals back once, with the gradients autograd would give the same ops (ties split half
    and half, as ``torch.maximum``'s), summed in the same order; autograd itself kept a full-map
    copy of the gradient per diagonal (``N`` x the map: 5 s at N=128, batch 4, 512 channels).
    """
    return _BuildMap.apply(seq)


class _BuildMap(torch.autograd.Function):
    @staticmethod
    def forward(ctx, seq: torch.Tensor) -> torch.Tensor:
        b, n, d = seq.shape
        st = seq.transpose(1, 2)  # [B, d, N]
        out = seq.new_zeros(b, d, n, n)
        cur = st  # cur[..., x] = max(seq[x .. x+k])
        for k in range(n):
            out.diagonal(k, 2, 3).copy_(cur)
            if k + 1 < n:
                cur = torch.maximum(cur[:, :, : n - k - 1], st[:, :, k + 1 :])
        ctx.save_for_backward(seq, out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        seq, out = ctx.saved_tensors
        n = seq.shape[1]
        st = seq.transpose(1, 2)
        acc = torch.zeros_like(st)  # the gradient of st, summed from the last diagonal down
        g_self = None  # the gradient the running max of diagonal k+1 sends to diagonal k
        for k in range(n - 1, -1, -1):
            m = n - k
            g = grad.diagonal(k, 2, 3)  # the gradient of diagonal k's values (a view)
            if g_self is not None:
                g = torch.cat([g[:, :, : m - 1] + g_self, g[:, :, m - 1 :]], 2)
            if k == 0:
                return (acc + g).transpose(1, 2)
            # diagonal k = maximum(a: diagonal k-1 without its last cell, b: st[k:])
            a, bb = out.diagonal(k - 1, 2, 3)[:, :, :m], st[:, :, k:]
            half = torch.where(a == bb, g / 2, g)
            g_self = half.masked_fill(a < bb, 0)
            acc[:, :, k:] += half.masked_fill(a > bb, 0)
        return acc.transpose(1, 2)  # n == 0


def span_minus_rest(inside: torch.Tensor, total: torch.Tensor, length: torch.Tensor,
                    n: int) -> torch.Tensor:
    """``mean(span) - mean(rest of the video)`` from a span's sum ``inside``, the video's sum
    ``total`` and the span's ``length`` in segments out of ``n``; 0 for the whole video. The one
    definition of contrast that the contrast map cells and the appearance teacher share."""
    rest = (total - inside) / (n - length).clamp(min=1)
    return torch.where(length >= n, torch.zeros_like(inside), inside / length - rest)


def span_map(seq: torch.Tensor, pool: str = "max") -> torch.Tensor:
    """The 2D map of ``seq [B, N, d]`` -> ``[B, d, N, N]``, cell ``(x, y)`` from ``seq[x..y]``.

    ``max``: the max-pooled map of the paper (:func:`build_map`). ``contrast`` (ms2d's own):
    the span's mean segment minus the mean of the rest of the video (0 for the whole video),
    the quantity the appearance teacher scores along its direction, from prefix sums (slower
    than :func:`build_map`: several full-size maps, docs/design.md). ``both`` (ms2d's own):
    the first half of the channels max-pooled, the second half contrast cells, so that the
    same projection feeds both summaries. Cells with ``x > y`` are zero.
    """
    if pool == "max":
        return build_map(seq)
    if pool == "both":
        half = seq.shape[2] // 2
        return torch.cat([build_map(seq[:, :, :half]), span_map(seq[:, :, half:], "contrast")], 1)
    if pool != "contrast":
        raise ValueError(f"unknown map pooling {pool!r}: max, contrast or both")
    b, n, d = seq.shape
    cs = torch.cat([seq.new_zeros(b, 1, d), seq.cumsum(1)], 1).transpose(1, 2)  # [B, d, N+1]
    i = torch.arange(n, device=seq.device)
    x, y = i[:, None].expand(n, n), i[None, :].expand(n, n)
    valid = y >= x
    y = torch.maximum(x, y)
    length = (y - x + 1).to(seq.dtype)
    inside = cs[:, :, y + 1] - cs[:, :, x]  # [B, d, N, N]
    out = span_minus_rest(inside, cs[:, :, -1:, None], length, n)
    return out * valid.to(seq.dtype)


def cell_times(n: int, duration: torch.Tensor) -> torch.Tensor:
    """Seconds of every cell: ``[B, n, n, 2]`` with cell ``(x, y) -> [x*D/n, (y+1)*D/n]``."""
    i = torch.arange(n, device=duration.device, dtype=torch.float32)
    start = i[:, None].expand(n, n) / n
    end = (i[None, :].expand(n, n) + 1) / n
    frac = torch.stack([start, end], -1)  # [n, n, 2]
    return frac[None] * duration.float()[:, None, None, None]
