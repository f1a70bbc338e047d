"""The assembled multi-scale 2D network (METHOD.md sections 1-5) in one readable forward."""

from __future__ import annotations

import torch
from torch import nn

from ..data.vocab import BOS, EOS, MASK, PAD
from .caption import CaptionModule
from .config import ModelConfig
from .diagonal import DiagonalPlan
from .encoders import TextEncoder, VideoEncoder
from .fusion import HadamardFusion, MaskedConvStack, ScoreHead
from .maps import build_map, candidate_mask, resample_weights

#: caption inputs that are a mean over the candidate's span of a sequence of segments
SPAN_INPUTS = ("visual_mean", "feature_mean")


class MS2D(nn.Module):
    """Video + sentence -> one masked score map per scale (and, in training, caption NLLs)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        if cfg.vocab_size <= len((PAD, BOS, EOS, MASK)):
            raise ValueError("ModelConfig.vocab_size must be set from the training vocabulary")
        if cfg.caption_complement and cfg.caption_input not in SPAN_INPUTS:
            raise ValueError("caption_complement needs caption_input='visual_mean' or 'feature_mean'")
        if cfg.caption_input not in ("visual", "cross", *SPAN_INPUTS):
            raise ValueError(f"unknown caption_input {cfg.caption_input!r}: 'visual', 'cross', "
                             "'visual_mean' or 'feature_mean'")
        if cfg.teacher == "contrast" and cfg.caption_input not in SPAN_INPUTS:
            raise ValueError("teacher='contrast' needs caption_input='visual_mean' or "
                             "'feature_mean'")
        self.cfg = cfg
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.word_dim, padding_idx=PAD)
        self.video = VideoEncoder(cfg)
        self.text = TextEncoder(cfg, self.embedding)
        self.fusion = HadamardFusion(cfg)
        n_stacks = 1 if cfg.share_conv else len(cfg.scales)
        self.convs = nn.ModuleList(  # stack i serves every scale, or scale i
            MaskedConvStack(cfg, list(cfg.scales) if cfg.share_conv else [n])
            for n in cfg.scales[:n_stacks])
        self.head = ScoreHead(cfg)
        self.caption = CaptionModule(cfg, self.embedding)

    def masks(self, device: torch.device | str) -> list[torch.Tensor]:
        return [candidate_mask(n, self.cfg.dense_until, device) for n in self.cfg.scales]

    def segments(self, feats: torch.Tensor, lengths: torch.Tensor) -> list[torch.Tensor]:
        """Clip features ``[B, T, F]`` -> projected segment features ``[B, N_j, d]`` per scale."""
        v = self.video(feats)
        return [resample_weights(lengths, n, feats.shape[1]).to(v.dtype) @ v for n in self.cfg.scales]

    def encode_video(self, feats: torch.Tensor, lengths: torch.Tensor) -> list[torch.Tensor]:
        """Clip features ``[B, T, F]`` -> one max-pooled 2D map ``[B, d, N_j, N_j]`` per scale."""
        return self.build_maps(self.segments(feats, lengths))

    def build_maps(self, seqs: list[torch.Tensor]) -> list[torch.Tensor]:
        return [build_map(s) * m for s, m in zip(seqs, self.masks(seqs[0].device))]

    def score_maps(self, vmaps: list[torch.Tensor], f_t: torch.Tensor) -> tuple[list, list]:
        """Fusion -> masked convs -> score head. Returns (logit maps, fused maps) per scale."""
        logits, fused = [], []
        for j, (vmap, mask) in enumerate(zip(vmaps, self.masks(f_t.device))):
            stack = self.convs[j if len(self.convs) > 1 else 0]
            plan = stack.plan(mask)
            if isinstance(plan, DiagonalPlan):  # fusion and convs on the same rows
                x = stack.forward_rows(self.fusion.fuse_rows(f_t, vmap, plan), mask, plan)
            else:
                x = stack(self.fusion(f_t, vmap, mask), mask, plan)
            fused.append(x)
            logits.append(self.head(x, mask))
        return logits, fused

    def forward(self, feats, lengths, words, word_lengths, *, captions: bool = False) -> dict:
        """Score every candidate; with ``captions=True`` also run the moments evaluation module.

        Returns ``{"logits": [B, N_j, N_j] per scale, "masks": [N_j, N_j] per scale}`` and, with
        captions, ``"cand_logits"``/``"nll"`` (lists of ``[B, K_j]``) and ``"cand_index"``
        (flat cell indices ``[B, K_j]``).
        """
        seqs = self.segments(feats, lengths)
        vmaps = self.build_maps(seqs)
        f_t = self.text(words, word_lengths)
        logits, fused = self.score_maps(vmaps, f_t)
        out = {"logits": logits, "masks": self.masks(feats.device)}
        if captions:
            kind = self.cfg.caption_input
            if kind == "feature_mean":  # the (normalised) clip features themselves, per scale
                x = self.video.normalize(feats)
                source = [resample_weights(lengths, n, feats.shape[1]).to(x.dtype) @ x
                          for n in self.cfg.scales]
            else:
                source = {"visual": vmaps, "cross": fused, "visual_mean": seqs}[kind]
            video_mean = source[0].mean(1) if kind in SPAN_INPUTS else None
            if self.cfg.teacher == "contrast":
                out.update(self.contrast_moments(source, logits, words, word_lengths, video_mean))
            else:
                out.update(self.evaluate_moments(source, logits, words, word_lengths, video_mean))
        return out

    def contrast_moments(self, source, logits, words, word_lengths, video_mean) -> dict:
        """The contrastive moments evaluation module (ms2d's own, not the paper's).

        The caption module learns from whole videos: it reconstructs the sentence from its own
        video (``video_nll``) and from another video of the batch (``negative_nll``; the loss
        asks for a margin between them). It then scores *every* valid candidate of every scale
        in a clean pass (no word masking, no dropout, no gradient): ``evidence`` = NLL of the
        sentence from the span minus NLL from the rest of the video (lower is better; zero for
        the whole video), so that a span holding the whole event and nothing else wins.
        """
        inputs, targets = self.caption_io(words, word_lengths)
        whole = video_mean[:, None]
        nll = self.caption(inputs, targets, torch.cat([whole, whole.roll(1, 0)], 1))
        out = {"video_nll": nll[:, :1], "negative_nll": nll[:, 1:]}
        clean, _ = self.caption_io(words, word_lengths, masked=False)
        was_training = self.caption.training
        self.caption.eval()
        cand_idx, cand_logits, evidence = [], [], []
        try:
            with torch.no_grad():
                for src, lg, mask in zip(source, logits, self.masks(words.device)):
                    idx = mask.flatten().nonzero()[:, 0][None].expand(lg.shape[0], -1)
                    both = torch.cat([span_mean(src, idx), complement_mean(src, idx)], 1)
                    ev = self.caption(clean, targets, both).chunk(2, 1)
                    evidence.append(ev[0] - ev[1])
                    cand_idx.append(idx)
                    cand_logits.append(lg.flatten(1).gather(1, idx))
        finally:
            self.caption.train(was_training)
        out.update({"cand_index": cand_idx, "cand_logits": cand_logits, "evidence": evidence})
        return out

    def select(self, logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Top-K valid cells by score (plus ``explore`` random valid cells in training, on maps
        with more than K valid cells): ``[B, K']``."""
        b = logits.shape[0]
        if self.cfg.explore < 0:  # every valid cell
            return mask.flatten().nonzero()[:, 0][None].expand(b, -1)
        flat = logits.detach().flatten(1)
        n_valid = int(mask.sum())
        k = min(self.cfg.top_k, n_valid)
        idx = flat.topk(k, dim=1).indices
        # where the top-K already hold every valid cell (a 4 x 4 map has 10), random extra
        # candidates would only repeat them: explore the larger maps only
        if self.cfg.explore > 0 and self.training and k < n_valid:
            valid = mask.flatten().nonzero()[:, 0]
            pick = torch.randint(len(valid), (b, self.cfg.explore), device=logits.device)
            idx = torch.cat([idx, valid[pick]], 1)
        return idx

    def evaluate_moments(self, source, logits, words, word_lengths, video_mean=None) -> dict:
        """Top-K per scale -> caption module -> per-candidate NLL.

        ``source`` per scale: a map ``[B, d, N, N]`` (the max-pooled ``F^j`` or the fused
        ``F_cro``) or, for ``caption_input="visual_mean"``, the segments ``[B, N, d]`` whose mean
        over each candidate's span is taken.
        """
        cand_idx, cand_logits, feats, comps = [], [], [], []
        for src, lg, mask in zip(source, logits, self.masks(words.device)):
            idx = self.select(lg, mask)
            cand_idx.append(idx)
            cand_logits.append(lg.flatten(1).gather(1, idx))
            if src.dim() == 3:
                feats.append(span_mean(src, idx))
                if self.cfg.caption_complement:
                    comps.append(complement_mean(src, idx))
                continue
            flat = src.flatten(2)  # [B, d, N*N]
            feats.append(flat.gather(2, idx[:, None].expand(-1, flat.shape[1], -1)).transpose(1, 2))
        sizes = [i.shape[1] for i in cand_idx]
        extra = []  # whole-video candidates after the spans: own video, then another video
        if self.cfg.caption_video or self.cfg.caption_negative:
            whole = (video_mean[:, None] if video_mean is not None else
                     source[0].flatten(2).amax(2)[:, None])  # [B, 1, d]
            if self.cfg.caption_video:  # the sentence describes its video: a grounded target
                extra.append(whole)
            if self.cfg.caption_negative:  # ... and not the next query's video
                extra.append(whole.roll(1, 0))
        inputs, targets = self.caption_io(words, word_lengths)
        n_comp = sum(c.shape[1] for c in comps)
        nll = self.caption(inputs, targets, torch.cat(feats + comps + extra, 1))
        n = sum(sizes)
        out = {"cand_index": cand_idx, "cand_logits": cand_logits,
               "nll": list(nll[:, :n].split(sizes, 1))}
        if comps:  # how well the rest of the video explains the sentence
            out["complement_nll"] = list(nll[:, n:n + n_comp].split(sizes, 1))
        rest = nll[:, n + n_comp:]
        if self.cfg.caption_video:
            out["video_nll"], rest = rest[:, :1], rest[:, 1:]
        if self.cfg.caption_negative:
            out["negative_nll"] = rest[:, :1]
        return out

    def caption_io(self, words: torch.Tensor, lengths: torch.Tensor, masked: bool = True
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher forcing: inputs ``<bos> w1 .. wL`` (some masked in training, unless
        ``masked=False``), targets ``w1 .. wL <eos>``."""
        b = words.shape[0]
        pad = words.new_full((b, 1), PAD)
        targets = torch.cat([words, pad], 1)
        targets[torch.arange(b, device=words.device), lengths] = EOS
        inputs = torch.cat([words.new_full((b, 1), BOS), words], 1)
        if masked and self.training and self.cfg.word_mask > 0:
            drop = torch.rand(inputs.shape, device=words.device) < self.cfg.word_mask
            drop[:, 0] = False
            inputs = inputs.masked_fill(drop & (inputs != PAD), MASK)
        return inputs, targets


def span_mean(seq: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Mean of ``seq [B, N, d]`` over the spans of flat cell indices ``idx [B, K]`` -> ``[B, K, d]``."""
    n = seq.shape[1]
    cs = torch.cat([seq.new_zeros(seq.shape[0], 1, seq.shape[2]), seq.cumsum(1)], 1)
    x, y = idx // n, idx % n
    d = seq.shape[2]
    hi = cs.gather(1, (y + 1)[..., None].expand(-1, -1, d))
    lo = cs.gather(1, x[..., None].expand(-1, -1, d))
    return (hi - lo) / (y - x + 1).clamp(min=1)[..., None].to(seq.dtype)


def complement_mean(seq: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Mean of ``seq [B, N, d]`` outside each candidate's span. The whole video has no rest: its
    "complement" is the video mean itself, so that its contrast (span against rest) is zero,
    neither better nor worse than a span that explains the sentence as well as its rest."""
    n = seq.shape[1]
    x, y = idx // n, idx % n
    length = (y - x + 1)[..., None].to(seq.dtype)
    inside = span_mean(seq, idx) * length
    total = seq.sum(1, keepdim=True)
    rest = (total - inside) / (n - length).clamp(min=1)
    return torch.where(length >= n, total / n, rest)
