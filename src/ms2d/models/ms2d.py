"""The assembled multi-scale 2D network (METHOD.md sections 1-5) in one readable forward.

The student (maps, fusion, convs, score head) is the paper's. The teacher that turns (video,
sentence) pairs into pseudo-labels is either the paper's moments evaluation module
(``teacher="caption"``: :mod:`ms2d.models.caption`) or ms2d's own appearance teacher
(``teacher="appearance"``: :mod:`ms2d.models.appearance`).
"""

from __future__ import annotations

import torch
from torch import nn

from ..data.vocab import BOS, EOS, MASK, PAD
from ..losses import standardise
from .appearance import CrossFitTeachers, contrast
from .caption import CaptionModule
from .config import ModelConfig
from .encoders import TextEncoder, VideoEncoder
from .fusion import HadamardFusion, MaskedConvStack, ScoreHead
from .maps import candidate_mask, resample_weights, span_map


class MS2D(nn.Module):
    """Video + sentence -> one masked score map per scale (and, in training, the teacher's
    evidence for candidates)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        if cfg.vocab_size <= len((PAD, BOS, EOS, MASK)):
            raise ValueError("ModelConfig.vocab_size must be set from the training vocabulary")
        cfg.validate()
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
        if cfg.teacher == "appearance":
            self.appearance = CrossFitTeachers(cfg, self.embedding)
        else:
            self.caption = CaptionModule(cfg, self.embedding)

    def masks(self, device: torch.device | str) -> list[torch.Tensor]:
        return [candidate_mask(n, self.cfg.dense_until, device) for n in self.cfg.scales]

    def segments(self, feats: torch.Tensor, lengths: torch.Tensor) -> list[torch.Tensor]:
        """Clip features ``[B, T, F]`` -> projected segment features ``[B, N_j, d]`` per scale."""
        v = self.video(feats)
        return [resample_weights(lengths, n, feats.shape[1]).to(v.dtype) @ v for n in self.cfg.scales]

    def encode_video(self, feats: torch.Tensor, lengths: torch.Tensor) -> list[torch.Tensor]:
        """Clip features ``[B, T, F]`` -> one 2D map ``[B, d, N_j, N_j]`` per scale (max-pooled,
        contrast or split cells, per scale: :meth:`map_pools`)."""
        return self.build_maps(self.segments(feats, lengths))

    def map_pools(self) -> list[str]:
        """The cell of each scale's map (``model.map_pool``; ``coarse-both``: max-pooled cells on
        the largest map, split cells on the smaller ones)."""
        pool = self.cfg.map_pool
        if pool != "coarse-both":
            return [pool] * len(self.cfg.scales)
        return ["max" if n == max(self.cfg.scales) else "both" for n in self.cfg.scales]

    def build_maps(self, seqs: list[torch.Tensor]) -> list[torch.Tensor]:
        masks = self.masks(seqs[0].device)
        return [span_map(s, p) * m for s, p, m in zip(seqs, self.map_pools(), masks)]

    def score_maps(self, vmaps: list[torch.Tensor], f_t: torch.Tensor) -> tuple[list, list]:
        """Fusion -> masked convs -> score head. Returns (logit maps, fused maps) per scale."""
        logits, fused = [], []
        for j, (vmap, mask) in enumerate(zip(vmaps, self.masks(f_t.device))):
            stack = self.convs[j if len(self.convs) > 1 else 0]
            x = stack.run_after(self.fusion.per_cell(f_t), vmap, mask)
            fused.append(x)
            logits.append(self.head(x, mask))
        return logits, fused

    def forward(self, feats, lengths, words, word_lengths, *, captions: bool = False,
                video: torch.Tensor | None = None) -> dict:
        """Score every candidate; with ``captions=True`` also run the teacher.

        Returns ``{"logits": [B, N_j, N_j] per scale, "masks": [N_j, N_j] per scale}`` and, with
        the teacher (``video``: each query's video as an integer, for the appearance teacher's
        folds), ``"cand_index"`` (flat cell indices ``[B, K_j]`` per scale),
        ``"cand_logits"`` (the student's logits there) and ``"evidence"`` (the teacher's, lower
        is better; the caption teacher: summed word NLLs, with gradient, that ``L_rec``
        averages) or, for the appearance teacher, ``"appearance_loss"``.
        """
        seqs = self.segments(feats, lengths)
        vmaps = self.build_maps(seqs)
        f_t = self.text(words, word_lengths)
        logits, fused = self.score_maps(vmaps, f_t)
        out = {"logits": logits, "masks": self.masks(feats.device)}
        if captions and self.cfg.teacher == "appearance":
            segs = self.standard_segments(feats, lengths)
            if video is None:  # no video ids: every query its own video
                video = torch.arange(len(feats), device=feats.device)
            out.update(self.appearance_moments(segs, logits, words, word_lengths, video))
        elif captions:
            source = {"visual": vmaps, "cross": fused, "visual_mean": seqs}[self.cfg.caption_input]
            out.update(self.evaluate_moments(source, logits, words, word_lengths))
        return out

    def select(self, logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Top-K valid cells by score (plus ``explore`` random valid cells in training, on maps
        with more than K valid cells): ``[B, K']``."""
        b = logits.shape[0]
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

    def evaluate_moments(self, source, logits, words, word_lengths) -> dict:
        """The paper's moments evaluation module: top-K per scale -> caption module ->
        per-candidate summed word NLL (``evidence``).

        ``source`` per scale: a map ``[B, d, N, N]`` (the fused ``F_cro``, the paper, or the
        max-pooled ``F^j``) or, for ``caption_input="visual_mean"``, the segments ``[B, N, d]``
        whose mean over each candidate's span is taken.
        """
        cand_idx, cand_logits, feats = [], [], []
        for src, lg, mask in zip(source, logits, self.masks(words.device)):
            idx = self.select(lg, mask)
            cand_idx.append(idx)
            cand_logits.append(lg.flatten(1).gather(1, idx))
            if src.dim() == 3:
                feats.append(span_mean(src, idx))
                continue
            flat = src.flatten(2)  # [B, d, N*N]
            feats.append(flat.gather(2, idx[:, None].expand(-1, flat.shape[1], -1)).transpose(1, 2))
        inputs, targets = self.caption_io(words, word_lengths)
        nll = self.caption(inputs, targets, torch.cat(feats, 1))
        sizes = [i.shape[1] for i in cand_idx]
        return {"cand_index": cand_idx, "cand_logits": cand_logits,
                "evidence": list(nll.split(sizes, 1))}

    def appearance_moments(self, segs, logits, words, word_lengths, video) -> dict:
        """The appearance teachers (:mod:`ms2d.models.appearance`): their loss on the whole
        videos (``appearance_loss``) and the ``evidence`` for every valid cell (lower is better)
        of the teacher that did not learn from the query's video. ``segs``: the standardised clip
        features resampled to each scale, ``[B, N_j, F]``."""
        loss, g = self.appearance(words, word_lengths, segs[0].mean(1), video)
        cand_idx, cand_logits, evidence = [], [], []
        direction = g.detach()
        for seq, lg, mask in zip(segs, logits, self.masks(words.device)):
            idx = mask.flatten().nonzero()[:, 0][None].expand(lg.shape[0], -1)
            evidence.append(-contrast(seq, idx, direction))
            cand_idx.append(idx)
            cand_logits.append(lg.flatten(1).gather(1, idx))
        return {"cand_index": cand_idx, "cand_logits": cand_logits, "evidence": evidence,
                "appearance_loss": loss}

    def standard_segments(self, feats: torch.Tensor, lengths: torch.Tensor) -> list[torch.Tensor]:
        """The standardised clip features resampled to each scale, ``[B, N_j, F]``: what the
        appearance teacher reads."""
        x = self.video.normalize(feats)
        return [resample_weights(lengths, n, feats.shape[1]).to(x.dtype) @ x
                for n in self.cfg.scales]

    def appearance_contrast(self, segs: list[torch.Tensor], words: torch.Tensor,
                            word_lengths: torch.Tensor) -> list[torch.Tensor]:
        """The appearance teachers' (mean) contrast, higher is better, for every valid cell of
        every scale: ``[B, C_j]`` per scale in cell order. ``segs`` from
        :meth:`standard_segments`; a batch of 1 serves every query (one video, many queries)."""
        direction = self.appearance.predict(words, word_lengths)
        out = []
        for seq, mask in zip(segs, self.masks(words.device)):
            idx = mask.flatten().nonzero()[:, 0][None].expand(len(direction), -1)
            out.append(contrast(seq.expand(len(direction), -1, -1), idx, direction))
        return out

    def flat_student(self, logits: list[torch.Tensor]) -> torch.Tensor:
        """The student's logits of every valid cell of every scale, ``[B, C]`` in
        :func:`ms2d.inference.candidate_table` order."""
        masks = self.masks(logits[0].device)
        return torch.cat([lg[:, m] for lg, m in zip(logits, masks)], 1)

    def flat_teacher(self, segs: list[torch.Tensor], words: torch.Tensor,
                     word_lengths: torch.Tensor) -> torch.Tensor:
        """:meth:`appearance_contrast` of every valid cell of every scale, ``[B, C]`` in
        :func:`ms2d.inference.candidate_table` order (higher is better)."""
        return torch.cat(self.appearance_contrast(segs, words, word_lengths), 1)

    def candidate_scores(self, logits: list[torch.Tensor], feats: torch.Tensor,
                         lengths: torch.Tensor, words: torch.Tensor, word_lengths: torch.Tensor,
                         segs: list[torch.Tensor] | None = None) -> torch.Tensor:
        """The ranking score of every valid cell of every scale, ``[B, C]`` in
        :func:`ms2d.inference.candidate_table` order, from the student's ``logits``.

        With ``inference_teacher = 0`` (the paper) the student's sigmoid scores; above 0
        ``sigmoid((1 - w) z(student logit) + w z(teacher contrast))``, each ``z`` standardised
        over the query's candidates (a ranking score in (0, 1), not a calibrated probability).
        ``feats [1 or B, T, F]``; ``segs``: their :meth:`standard_segments` when the caller
        already has them (one video scored for many batches of queries)."""
        student = self.flat_student(logits)
        w = self.cfg.inference_teacher
        if w == 0:
            return torch.sigmoid(student)
        if segs is None:
            segs = self.standard_segments(feats, lengths)
        teacher = self.flat_teacher(segs, words, word_lengths)
        return torch.sigmoid((1 - w) * standardise(student.float())
                             + w * standardise(teacher.float()))

    @torch.no_grad()
    def teacher_evidence(self, feats, lengths, words, word_lengths) -> list[torch.Tensor]:
        """The teacher's evidence (lower is better) for *every* valid cell of every scale,
        ``[B, C_j]`` per scale in cell order, in eval mode: what the teacher thinks of each
        candidate, for checking it against the ground truth (``scripts/teacher_check.py``)."""
        was = self.training
        self.eval()
        try:
            if self.cfg.teacher == "appearance":  # reads the clips, not the student's maps
                segs = self.standard_segments(feats, lengths)
                return [-c for c in self.appearance_contrast(segs, words, word_lengths)]
            seqs = self.segments(feats, lengths)
            vmaps = self.build_maps(seqs)
            logits, fused = self.score_maps(vmaps, self.text(words, word_lengths))
            masks = self.masks(feats.device)
            source = {"visual": vmaps, "cross": fused, "visual_mean": seqs}[self.cfg.caption_input]
            inputs, targets = self.caption_io(words, word_lengths)
            out = []
            for src, mask in zip(source, masks):
                idx = mask.flatten().nonzero()[:, 0][None].expand(len(feats), -1)
                if src.dim() == 3:
                    cand = span_mean(src, idx)
                else:
                    flat = src.flatten(2)
                    cand = flat.gather(2, idx[:, None].expand(-1, flat.shape[1], -1)).transpose(1, 2)
                out.append(self.caption(inputs, targets, cand))
            return out
        finally:
            self.train(was)

    def caption_io(self, words: torch.Tensor, lengths: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher forcing: inputs ``<bos> w1 .. wL`` (a share ``word_mask`` of them masked in
        training), targets ``w1 .. wL <eos>``."""
        b = words.shape[0]
        pad = words.new_full((b, 1), PAD)
        targets = torch.cat([words, pad], 1)
        targets[torch.arange(b, device=words.device), lengths] = EOS
        inputs = torch.cat([words.new_full((b, 1), BOS), words], 1)
        if self.training and self.cfg.word_mask > 0:
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
