"""The model's typed configuration: a plain dataclass, saved in every checkpoint as a dict.

A field whose values are limited is declared with :func:`ms2d.settings.setting` (its allowed
values or range next to its default); :meth:`ModelConfig.validate` checks every field.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from ..settings import check_fields, raise_problems, setting

#: upper bounds that catch a typo (an extra zero or two) before torch tries to allocate it
MAX_WIDTH = 65_536  # feature, hidden, word and caption widths
MAX_MAP = 1_024  # map sizes N (a 1024 x 1024 map per query is already beyond any GPU)


def _odd(k: int) -> str | None:
    return None if k % 2 == 1 else "must be odd (the maps are convolved with same padding)"


@dataclass
class ModelConfig:
    """Every architecture knob. The defaults are the paper's method and settings (METHOD.md):
    the moments evaluation module as the paper states it (``teacher="caption"``: the caption
    module reads ``F_cro`` of the top-K candidates only, no word masking), raw clip features.
    ms2d's own weak supervision is ``teacher="appearance"`` with ``feature_norm="standard"``
    and ``teacher_text="bow"`` (the ``appearance`` preset; docs/design.md).
    ``map_pool="contrast"`` (the span's mean against the rest of the video) and ``"both"`` (half
    of the channels max-pooled, half contrast) and ``"coarse-both"`` (max-pooled cells on the
    largest map, split cells on the smaller ones; set by the ``appearance`` preset) are ms2d's
    own map cells, measured beside the paper's max-pooled cells in docs/design.md.

    ``word_embeddings`` ("learnt", "frozen", "partial") says which rows of the word-embedding
    table train when pretrained word vectors initialise it; see its comment below.
    """

    # input clip-feature dimension (C3D PCA 500 on ActivityNet)
    feature_dim: int = setting(500, min=1, max=MAX_WIDTH)
    hidden: int = setting(512, min=1, max=MAX_WIDTH)  # d_v = d_T = d
    vocab_size: int = setting(0, min=0)  # set from the training vocabulary
    word_dim: int = setting(300, min=1, max=MAX_WIDTH)  # GloVe 300-d
    # bilstm (the paper: a 3-layer BiLSTM) or bow (mean of the words)
    text_encoder: str = setting("bilstm", choices=("bilstm", "bow"))
    text_layers: int = setting(3, min=1, max=100)
    # N_j of the multi-scale maps (paper, ActivityNet)
    scales: tuple[int, ...] = setting((64, 24, 4), nonempty=True, min=1, max=MAX_MAP)
    # how a map cell (x, y) summarises segments x..y: max (max-pooling, the paper) or contrast
    # (ms2d's own: the span's mean minus the rest of the video's mean, 0 for the whole video)
    # or both (half of the channels each) or coarse-both (max on the largest map, both on the
    # smaller ones, so the single-scale ablation keeps the paper's cells; the appearance preset)
    map_pool: str = setting("max", choices=("max", "contrast", "both", "coarse-both"))
    dense_until: int = setting(16, min=1)  # maps larger than this are sampled sparsely (2D-TAN rule)
    fusion_norm: bool = True  # l2-normalise the Hadamard product over channels (paper)
    conv_layers: int = setting(8, min=0, max=1000)
    kernel: int = setting(5, min=1, max=MAX_MAP, check=_odd)
    share_conv: bool = True  # one conv stack for all scales
    # dense; diagonal / banded (valid cells only); auto (sparse where it pays)
    conv_impl: str = setting("auto", choices=("auto", "dense", "diagonal", "banded"))
    dropout: float = setting(0.1, min=0, lt=1)
    # none (the paper) or standard: every feature dimension standardised with the training
    # split's clip statistics, kept in the checkpoint (raw I3D / C3D features share a large
    # component across all clips)
    feature_norm: str = setting("none", choices=("none", "standard"))
    # The weak learner's teacher (training only): caption (the paper's moments evaluation
    # module) or appearance (ms2d's own: ms2d.models.appearance)
    teacher: str = setting("caption", choices=("caption", "appearance"))
    # appearance teacher: teachers learning from all folds but their own (1: no cross-fitting)
    teacher_folds: int = setting(4, min=1, max=16)
    # appearance teacher: its share of the ranking at inference (0: the student's scores
    # alone, the paper). Above 0 a candidate's score is sigmoid((1 - w) z(student logit) +
    # w z(teacher contrast)), each z standardised over the query's candidates: the trained
    # teacher is in the checkpoint (docs/design.md). Only read for weak supervision.
    inference_teacher: float = setting(0.0, min=0, max=1)
    # the teacher's width: the caption module's LSTMs (paper 1024), the appearance teacher's
    caption_hidden: int = setting(1024, min=1, max=MAX_WIDTH)
    # appearance teacher: how it reads a sentence. lstm (a BiLSTM over the word embeddings the
    # student shares, a linear read-out) or bow (linear in the bag of words: one learnt
    # appearance direction per word, summed, plus a bias; set by the appearance preset and so
    # by every user-facing preset; measured against lstm in docs/design.md)
    teacher_text: str = setting("lstm", choices=("lstm", "bow"))
    # caption teacher only:
    top_k: int = setting(10, min=1)  # K candidates per scale
    # cross (F_cro, the paper), visual (max-pooled F^j), visual_mean (span mean of the segments)
    caption_input: str = setting("cross", choices=("cross", "visual", "visual_mean"))
    caption_fusion: str = setting("concat", choices=("concat", "product"))
    caption_shared_dropout: bool = False  # one dropout mask per query for all its candidates
    # share of teacher-forcing input words replaced by <mask> (0: the paper)
    word_mask: float = setting(0.0, min=0, max=1)
    # extra random candidates per scale beside the top-K (0: the paper)
    explore: int = setting(0, min=0, max=100_000)
    # Word embeddings when data.word_vectors is given (GloVe ...): "learnt" (the vectors only
    # initialise the table, every row trains: the paper), "frozen" (the whole table stays as
    # initialised), "partial" (rows of words that have a pretrained vector stay fixed, the
    # others -- words the file lacks, <unk>, <mask> ... -- train). With "frozen" or "partial" a
    # query word never seen in training but present in the word vectors gets its vector at
    # inference (open vocabulary, docs/own-videos.md); with "learnt" it is <unk>.
    word_embeddings: str = setting("learnt", choices=("learnt", "frozen", "partial"))

    def problems(self, section: str = "model") -> list[str]:
        """One message per field (or pair of fields) that is not allowed."""
        problems = check_fields(self, section)
        if self.teacher == "appearance" and self.feature_norm != "standard":
            problems.append(f"{section}.teacher=appearance needs {section}.feature_norm=standard "
                            f"(it predicts the standardised clip features; got "
                            f"{self.feature_norm!r})")
        if self.inference_teacher > 0 and self.teacher != "appearance":
            problems.append(f"{section}.inference_teacher={self.inference_teacher} needs "
                            f"{section}.teacher=appearance (the caption teacher's evidence is not "
                            "used at inference); set it to 0")
        return problems

    def validate(self) -> ModelConfig:
        """Raise :class:`ms2d.settings.ConfigError` naming every field that is not allowed;
        return the config itself when all are fine."""
        raise_problems(self.problems())
        return self

    def to_dict(self) -> dict:
        d = asdict(self)
        d["scales"] = list(self.scales)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        d = dict(d)
        if isinstance(d.get("scales"), (list, tuple)):
            d["scales"] = tuple(d["scales"])
        return cls(**d).validate()


__all__ = ["ModelConfig"]
