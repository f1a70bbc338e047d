"""The model's typed configuration: a plain dataclass, saved in every checkpoint as a dict."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass
class ModelConfig:
    """Every architecture knob. Defaults are the paper's settings (METHOD.md section 6).

    ``word_embeddings`` ("learnt", "frozen", "partial") says which rows of the word-embedding
    table train when pretrained word vectors initialise it; see its comment below.
    """

    feature_dim: int = 500  # input clip-feature dimension (C3D PCA 500 on ActivityNet)
    hidden: int = 512  # d_v = d_T = d
    vocab_size: int = 0  # set from the training vocabulary
    word_dim: int = 300  # GloVe 300-d
    text_encoder: str = "bilstm"  # "bilstm" (paper: 3-layer BiLSTM) or "bow" (mean of words)
    text_layers: int = 3
    scales: tuple[int, ...] = (64, 24, 4)  # N_j of the multi-scale maps (paper, ActivityNet)
    dense_until: int = 16  # maps larger than this are sampled sparsely (2D-TAN rule)
    fusion_norm: bool = True  # l2-normalise the Hadamard product over channels (paper)
    conv_layers: int = 8
    kernel: int = 5
    share_conv: bool = True  # one conv stack for all scales
    conv_impl: str = "auto"  # "dense", "diagonal"/"banded" (valid cells only), "auto" (where it pays)
    dropout: float = 0.1
    # Moments evaluation module (training only)
    top_k: int = 10
    caption_hidden: int = 1024
    caption_input: str = "visual_mean"  # "visual" (max-pooled F^j), "visual_mean" (span mean), "cross" (F_cro, the paper)
    caption_fusion: str = "concat"  # "concat" or "product"
    caption_shared_dropout: bool = True  # one dropout mask per query for all its candidates
    word_mask: float = 0.6  # share of teacher-forcing input words replaced by <mask>
    caption_complement: bool = False  # also caption the rest of the video (for contrast labels)
    caption_video: bool = False  # also reconstruct from the whole video (L_rec only, no label)
    explore: int = 10  # extra random candidates per scale (0 = only the top-K, the paper)
    # Word embeddings when data.word_vectors is given (GloVe ...): "learnt" (the vectors only
    # initialise the table, every row trains: the paper), "frozen" (the whole table stays as
    # initialised), "partial" (rows of words that have a pretrained vector stay fixed, the
    # others -- words the file lacks, <unk>, <mask> ... -- train). With "frozen" or "partial" a
    # query word never seen in training but present in the word vectors gets its vector at
    # inference (open vocabulary, docs/own-videos.md); with "learnt" it is <unk>.
    word_embeddings: str = "learnt"

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
        if "scales" in d:
            d["scales"] = tuple(int(s) for s in d["scales"])
        return cls(**d)


__all__ = ["ModelConfig"]
