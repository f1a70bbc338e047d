"""Every model stage: shapes, masks, and the assembled forward pass."""

import pytest
import torch

from ms2d.models import MS2D, create_model, list_models, model_config
from ms2d.models.config import ModelConfig
from ms2d.models.fusion import MaskedConvStack
from ms2d.models.maps import build_map, candidate_mask, cell_times, resample_weights, span_map
from ms2d.ops import renorm_factor

TINY = dict(feature_dim=12, hidden=16, vocab_size=30, word_dim=8, text_layers=3, scales=(8, 4),
            conv_layers=2, kernel=3, top_k=4, caption_hidden=16, dropout=0.0,
            explore=0)


def _batch(b=3, t=20, f=12, lengths=(20, 5, 2), words=((5, 6, 7), (8, 9), (10,))):
    torch.manual_seed(0)
    w = torch.zeros(b, max(len(x) for x in words), dtype=torch.long)
    for i, x in enumerate(words):
        w[i, : len(x)] = torch.tensor(x)
    return torch.randn(b, t, f), torch.tensor(lengths), w, torch.tensor([len(x) for x in words])


def test_candidate_mask_dense_and_sparse():
    m = candidate_mask(8)
    assert m.shape == (8, 8) and m.sum() == 36  # every x <= y
    assert not m.tril(-1).any()
    big = candidate_mask(64)
    assert big.sum() == 1104  # 2D-TAN sampling: about 27 % of the cells
    assert big.diagonal().all()  # every one-segment moment
    assert big[0, 63] and not big[1, 63]  # long moments start on the stride
    assert candidate_mask(16).sum() == 136  # up to 16: dense


def _build_map_by_autograd(seq: torch.Tensor) -> torch.Tensor:
    """build_map as plain tensor ops, differentiated by autograd (the code before the hand-written backward)."""
    b, n, d = seq.shape
    out = seq.new_zeros(b, d, n, n)
    cur = seq.transpose(1, 2)
    idx = torch.arange(n)
    for k in range(n):
        out[:, :, idx[: n - k], idx[: n - k] + k] = cur
        if k + 1 < n:
            cur = torch.maximum(cur[:, :, : n - k - 1], seq.transpose(1, 2)[:, :, k + 1 :])
    return out


@pytest.mark.parametrize("n", [1, 2, 7, 16, 33])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_build_map_backward_equals_autograd_bit_for_bit(n, dtype):
    """The hand-written backward gives autograd's gradient exactly, ties (split half and half,
    as torch.maximum's) included: integer-valued inputs tie often."""
    g = torch.Generator().manual_seed(n)
    for seq0 in (torch.randint(0, 4, (3, n, 5), generator=g).to(dtype),
                 torch.randn(3, n, 5, generator=g, dtype=dtype)):
        up = torch.randn(3, 5, n, n, generator=g, dtype=dtype)
        a, b = seq0.clone().requires_grad_(), seq0.clone().requires_grad_()
        out_a, out_b = _build_map_by_autograd(a), build_map(b)
        assert torch.equal(out_a, out_b)
        (out_a * up).sum().backward()
        (out_b * up).sum().backward()
        assert torch.equal(a.grad, b.grad)
    seq = torch.randn(2, min(n, 6), 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(build_map, (seq,))


def test_build_map_is_max_over_span_and_zero_below_diagonal():
    seq = torch.randn(2, 6, 4)
    m = build_map(seq)
    assert m.shape == (2, 4, 6, 6)
    for x in range(6):
        for y in range(6):
            if x <= y:
                assert torch.allclose(m[:, :, x, y], seq[:, x : y + 1].max(1).values)
            else:
                assert (m[:, :, x, y] == 0).all()


@pytest.mark.parametrize("n", [1, 2, 6])
def test_span_map_contrast_by_brute_force(n):
    """Every cell (x, y) of the contrast map against its span computed directly: the span's
    mean minus the rest's, 0 for the whole video and below the diagonal; gradients flow."""
    seq = torch.randn(2, n, 3, dtype=torch.float64, requires_grad=True)
    assert torch.equal(span_map(seq, "max"), build_map(seq))
    m = span_map(seq, "contrast")
    assert m.shape == (2, 3, n, n)
    for x in range(n):
        for y in range(n):
            if x > y:
                assert (m[:, :, x, y] == 0).all()
                continue
            rest = torch.cat([seq[:, :x], seq[:, y + 1 :]], 1)
            want = seq[:, x : y + 1].mean(1) - rest.mean(1) if rest.shape[1] else 0 * seq[:, 0]
            assert torch.allclose(m[:, :, x, y], want)
    assert torch.autograd.gradcheck(lambda s: span_map(s, "contrast"), (seq,))
    with pytest.raises(ValueError, match="unknown map pooling"):
        span_map(seq, "median")


def test_span_map_both_splits_the_channels_between_max_and_contrast():
    """``both``: the first half of the channels max-pooled, the second half contrast cells (an
    odd width gives the contrast half the extra channel); gradients reach every channel."""
    seq = torch.randn(2, 5, 5, dtype=torch.float64, requires_grad=True)
    m = span_map(seq, "both")
    assert m.shape == (2, 5, 5, 5)
    assert torch.equal(m[:, :2], build_map(seq[:, :, :2]))
    assert torch.allclose(m[:, 2:], span_map(seq[:, :, 2:], "contrast"))
    m.sum().backward()
    assert (seq.grad.abs().sum((0, 1)) > 0).all()


def test_coarse_both_keeps_max_cells_on_the_largest_map_only():
    """``coarse-both``: the largest map (the single-scale ablation's only map) keeps the paper's
    max-pooled cells, every smaller map gets split cells, so the ablation is unchanged."""
    cfg = ModelConfig(vocab_size=20, scales=(8, 4, 2), hidden=6, word_dim=4, caption_hidden=4,
                      text_layers=1, conv_layers=1, kernel=3, map_pool="coarse-both")
    model = create_model("ms2d", cfg)
    assert model.map_pools() == ["max", "both", "both"]
    seqs = [torch.randn(2, n, 6) for n in cfg.scales]
    maps = model.build_maps(seqs)
    masks = model.masks("cpu")
    assert torch.equal(maps[0], span_map(seqs[0], "max") * masks[0])
    for seq, m, mask in zip(seqs[1:], maps[1:], masks[1:]):
        assert torch.allclose(m, span_map(seq, "both") * mask)
        assert not torch.allclose(m, span_map(seq, "max") * mask)
    assert create_model("ms2d-single-scale", cfg).map_pools() == ["max"]


def test_resample_weights_average_bins_and_short_videos():
    w = resample_weights(torch.tensor([8, 3]), 4, 8)
    assert w.shape == (2, 4, 8)
    assert torch.allclose(w.sum(-1), torch.ones(2, 4))
    assert torch.allclose(w[0, 0, :2], torch.tensor([0.5, 0.5]))
    # a video of 3 clips on a 4-segment map repeats clips, never leaves an empty segment
    assert (w[1, :, 3:] == 0).all() and (w[1].max(-1).values == 1).all()


def test_cell_times_cover_duration():
    t = cell_times(4, torch.tensor([8.0]))
    assert t[0, 0, 3].tolist() == [0.0, 8.0] and t[0, 1, 1].tolist() == [2.0, 4.0]


def test_renorm_factor_and_masked_convs_keep_invalid_cells_zero():
    mask = candidate_mask(5)
    f = renorm_factor(mask, 3)
    assert (f[0, 0][~mask] == 0).all() and f[0, 0, 2, 2] == pytest.approx(9 / 6)
    stack = MaskedConvStack(ModelConfig(**{**TINY, "hidden": 4}))
    y = stack(torch.randn(2, 4, 5, 5) * mask, mask)
    assert (y[:, :, ~mask] == 0).all()


@pytest.mark.parametrize("kind", ["bilstm", "bow"])
def test_forward_shapes_masks_and_captions(kind):
    model = MS2D(ModelConfig(**TINY, text_encoder=kind))
    feats, lengths, words, wl = _batch()
    out = model(feats, lengths, words, wl, captions=True)
    for n, lg, m in zip((8, 4), out["logits"], out["masks"]):
        assert lg.shape == (3, n, n)
        assert (lg[:, ~m] <= -1e4 + 1).all()  # invalid cells can never be ranked
    assert [x.shape for x in out["evidence"]] == [(3, 4), (3, 4)]
    assert all((x > 0).all() for x in out["evidence"])
    # the selected candidates are the top-K valid cells
    top = out["logits"][0].flatten(1).topk(4).indices
    assert torch.equal(out["cand_index"][0], top)


def test_video_shorter_than_map_and_single_clip():
    model = MS2D(ModelConfig(**TINY))
    feats, _, words, wl = _batch()
    out = model(feats, torch.tensor([1, 2, 3]), words, wl)
    assert all(torch.isfinite(lg).all() for lg in out["logits"])


def test_padding_does_not_change_scores():
    model = MS2D(ModelConfig(**TINY)).eval()
    feats, lengths, words, wl = _batch()
    a = model(feats[:1, :5], torch.tensor([5]), words[:1], wl[:1])["logits"][0]
    padded = torch.cat([feats[:1, :5], torch.randn(1, 15, 12)], 1)
    b = model(padded, torch.tensor([5]), words[:1], wl[:1])["logits"][0]
    assert torch.allclose(a, b, atol=1e-5)


def test_explore_adds_random_candidates_in_training_only():
    model = MS2D(ModelConfig(**{**TINY, "explore": 3}))
    feats, lengths, words, wl = _batch()
    out = model(feats, lengths, words, wl, captions=True)
    assert out["evidence"][0].shape == (3, 7)
    # the 4 x 4 map has 10 valid cells: top-4 + 3 random; a map whose valid cells all fit in
    # the top-K gets no random extras (they would only repeat candidates)
    assert out["evidence"][1].shape == (3, 7)
    small = MS2D(ModelConfig(**{**TINY, "explore": 3, "top_k": 10}))
    assert small(feats, lengths, words, wl, captions=True)["evidence"][1].shape == (3, 10)
    model.eval()
    assert model(feats, lengths, words, wl, captions=True)["evidence"][0].shape == (3, 4)


def test_caption_io_teacher_forcing():
    model = MS2D(ModelConfig(**TINY, word_mask=0.0)).eval()
    words = torch.tensor([[5, 6, 7], [8, 0, 0]])
    inputs, targets = model.caption_io(words, torch.tensor([3, 1]))
    assert inputs.tolist() == [[2, 5, 6, 7], [2, 8, 0, 0]]
    assert targets.tolist() == [[5, 6, 7, 3], [8, 3, 0, 0]]


def test_registry_and_config_round_trip():
    assert {"ms2d", "ms2d-single-scale", "bow-linear"} <= set(list_models())
    single = model_config("ms2d-single-scale", ModelConfig(**TINY))
    assert single.scales == (8,)
    bow = create_model("bow-linear", ModelConfig(**TINY))
    assert bow.cfg.conv_layers == 0 and bow.cfg.text_encoder == "bow"
    cfg = ModelConfig(**TINY)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown model"):
        create_model("nope")
    with pytest.raises(ValueError, match="unknown model config keys"):
        ModelConfig.from_dict({"hiden": 3})


def test_separate_conv_stacks_per_scale():
    model = MS2D(ModelConfig(**TINY, share_conv=False))
    assert len(model.convs) == 2


def test_tiny_model_golden_output():
    torch.manual_seed(0)
    model = MS2D(ModelConfig(**TINY)).eval()
    feats, lengths, words, wl = _batch()
    out = model(feats, lengths, words, wl)
    s = torch.sigmoid(out["logits"][1][:, out["masks"][1]])
    assert s.shape == (3, 10)
    assert torch.all((s > 0) & (s < 1))
    torch.manual_seed(0)
    again = MS2D(ModelConfig(**TINY)).eval()(feats, lengths, words, wl)
    assert torch.equal(out["logits"][0], again["logits"][0])


@pytest.mark.parametrize("source", ["visual_mean", "visual", "cross"])
def test_caption_inputs(source):
    model = MS2D(ModelConfig(**{**TINY, "caption_input": source}))
    feats, lengths, words, wl = _batch()
    out = model(feats, lengths, words, wl, captions=True)
    assert [x.shape for x in out["evidence"]] == [(3, 4), (3, 4)]
    assert all((x > 0).all() for x in out["evidence"])  # summed word NLLs


def test_span_mean_matches_slices():
    from ms2d.models.ms2d import span_mean

    seq = torch.randn(2, 5, 3)
    idx = torch.tensor([[0 * 5 + 2, 3 * 5 + 3], [1 * 5 + 4, 0]])
    got = span_mean(seq, idx)
    assert torch.allclose(got[0, 0], seq[0, 0:3].mean(0), atol=1e-6)
    assert torch.allclose(got[0, 1], seq[0, 3], atol=1e-6)
    assert torch.allclose(got[1, 0], seq[1, 1:5].mean(0), atol=1e-6)


@pytest.mark.parametrize("teacher,rule", [("caption", "paper"), ("caption", "rank"),
                                          ("appearance", "evidence")])
def test_weak_objective_reports_its_parts_and_learns(teacher, rule):
    from ms2d.config import resolve
    from ms2d.objective import compute_loss

    norm = "standard" if teacher == "appearance" else "none"
    cfg = resolve(None, [f"model.teacher={teacher}", f"model.feature_norm={norm}",
                         f"train.label_rule={rule}"])
    cfg.model = ModelConfig(**{**TINY, "teacher": teacher, "feature_norm": norm})
    model = MS2D(cfg.model)
    feats, lengths, words, wl = _batch()
    batch = {"feats": feats, "lengths": lengths, "words": words, "word_lengths": wl}
    loss, parts = compute_loss(model, batch, cfg)
    assert torch.isfinite(loss) and set(parts) == {"rgbce", "rgbce_const", "rec"}
    loss.backward()
    assert model.head.proj.weight.grad.abs().sum() > 0  # the student learns from the labels
    teacher_params = model.appearance if teacher == "appearance" else model.caption
    assert sum(p.grad.abs().sum() for p in teacher_params.parameters()
               if p.grad is not None) > 0  # and so does the teacher


def test_appearance_teacher_scores_every_cell_by_its_contrast():
    from ms2d.models.appearance import contrast

    seq = torch.randn(1, 4, 3)
    direction = torch.randn(1, 3)
    idx = torch.tensor([[1 * 4 + 2, 0 * 4 + 3, 2 * 4 + 2]])  # span 1..2, whole video, cell 2
    got = contrast(seq, idx, direction)
    p = seq[0] @ direction[0]
    assert torch.allclose(got[0, 0], p[1:3].mean() - p[[0, 3]].mean(), atol=1e-6)
    assert got[0, 1] == 0  # the whole video: no rest, no contrast
    assert torch.allclose(got[0, 2], p[2] - p[[0, 1, 3]].mean(), atol=1e-6)
    cfg = ModelConfig(**{**TINY, "teacher": "appearance", "feature_norm": "standard"})
    model = MS2D(cfg)
    feats, lengths, words, wl = _batch()
    out = model(feats, lengths, words, wl, captions=True)
    n_valid = [int(m.sum()) for m in out["masks"]]
    assert [x.shape[1] for x in out["evidence"]] == n_valid  # every valid cell, not a top-K
    assert out["appearance_loss"].requires_grad and not out["evidence"][0].requires_grad
    evidence = model.teacher_evidence(feats, lengths, words, wl)
    assert [x.shape for x in evidence] == [x.shape for x in out["evidence"]]


def test_bow_appearance_teacher_is_linear_in_the_words_and_leaves_the_embeddings_alone():
    cfg = ModelConfig(**{**TINY, "teacher": "appearance", "feature_norm": "standard",
                         "teacher_text": "bow"})
    model = MS2D(cfg)
    teacher = model.appearance.teachers[0]
    words = torch.tensor([[5, 6, 0], [6, 5, 0], [5, 0, 0]])
    lengths = torch.tensor([2, 2, 1])
    assert torch.equal(teacher(words, lengths), torch.zeros(3, 12))  # starts at the mean video
    with torch.no_grad():
        teacher.words.weight.normal_()
        teacher.words.weight[0] = 0  # padding
        teacher.bias.normal_()
    got = teacher(words, lengths)
    w, b = teacher.words.weight, teacher.bias
    assert torch.allclose(got[0], w[5] + w[6] + b, atol=1e-6)
    assert torch.allclose(got[0], got[1], atol=1e-6)  # a bag: the order does not matter
    assert torch.allclose(got[2], w[5] + b, atol=1e-6)
    beyond = teacher(torch.tensor([[5, 30]]), torch.tensor([2]))  # an open-vocabulary id
    assert torch.allclose(beyond[0], got[2], atol=1e-6)  # a word it never learnt adds nothing
    feats, lengths, words, wl = _batch()
    out = model(feats, lengths, words, wl, captions=True, video=torch.arange(3))
    out["appearance_loss"].backward()
    assert model.appearance.teachers[1].words.weight.grad.abs().sum() > 0
    grad = model.embedding.weight.grad
    assert grad is None or grad.abs().sum() == 0  # the student's embeddings: its own loss only


def test_bow_appearance_teacher_recovers_an_additive_appearance():
    from ms2d.models.appearance import CrossFitTeachers

    torch.manual_seed(0)
    cfg = ModelConfig(**{**TINY, "teacher": "appearance", "feature_norm": "standard",
                         "teacher_text": "bow", "teacher_folds": 1})
    teachers = CrossFitTeachers(cfg, torch.nn.Embedding(30, 8))
    truth = torch.randn(30, 12)
    words = torch.stack([torch.randint(4, 17, (64,)), torch.randint(17, 30, (64,))], 1)
    target = truth[words].sum(1)  # an action word plus an object word
    opt = torch.optim.Adam(teachers.parameters(), lr=0.05)
    for _ in range(300):
        loss, _ = teachers(words, torch.full((64,), 2), target, torch.zeros(64, dtype=torch.long))
        opt.zero_grad()
        loss.backward()
        opt.step()
    fresh = torch.tensor([[4, 29], [16, 17]])
    pred = teachers.predict(fresh, torch.tensor([2, 2]))
    cos = torch.nn.functional.cosine_similarity(pred, truth[fresh].sum(1))
    assert loss < 0.05 and (cos > 0.9).all(), (loss, cos)


def test_inference_teacher_mixes_the_teachers_ranking_into_the_students():
    from ms2d.inference import candidate_table

    feats, lengths, words, wl = _batch()

    def scores(w):
        torch.manual_seed(0)
        cfg = ModelConfig(**{**TINY, "teacher": "appearance", "feature_norm": "standard",
                             "inference_teacher": w})
        model = MS2D(cfg).eval()
        with torch.no_grad():
            logits = model(feats, lengths, words, wl)["logits"]
            return model, logits, model.candidate_scores(logits, feats, lengths, words, wl)

    model, logits, paper = scores(0.0)
    student = torch.cat([lg[:, m] for lg, m in zip(logits, model.masks("cpu"))], 1)
    assert torch.equal(paper, torch.sigmoid(student))  # 0: the student's scores alone
    frac, _ = candidate_table(model.cfg.scales, model.masks("cpu"))
    assert paper.shape == (3, len(frac))
    teacher = -torch.cat(scores(1.0)[0].teacher_evidence(feats, lengths, words, wl), 1)
    assert torch.equal(scores(1.0)[2].argmax(1), teacher.argmax(1))  # 1: the teacher's ranking

    def z(x):
        return (x - x.mean(1, keepdim=True)) / x.std(1, keepdim=True)

    mixed = scores(0.6)[2]
    assert torch.allclose(mixed, torch.sigmoid(0.4 * z(student) + 0.6 * z(teacher)), atol=1e-5)
    assert ((mixed > 0) & (mixed < 1)).all()
    one_video = model.candidate_scores([lg[:1].expand(2, -1, -1) for lg in logits], feats[:1],
                                       lengths[:1], words[:2], wl[:2])
    assert one_video.shape == (2, len(frac))  # a video's features serve many queries


def test_inference_teacher_needs_the_appearance_teacher():
    from ms2d.settings import ConfigError

    with pytest.raises(ConfigError, match="inference_teacher=0.5 needs model.teacher=appearance"):
        ModelConfig(**{**TINY, "inference_teacher": 0.5}).validate()


def test_caption_shared_dropout_masks_are_per_query():
    from ms2d.models.caption import CaptionModule

    def nlls(shared: bool) -> torch.Tensor:
        torch.manual_seed(0)
        cfg = ModelConfig(**{**TINY, "dropout": 0.5, "caption_shared_dropout": shared})
        cap = CaptionModule(cfg, torch.nn.Embedding(30, 8)).train()
        inputs = torch.randint(5, 30, (2, 6))
        same = torch.randn(2, 1, 16).expand(2, 5, 16)  # five identical candidates per query
        return cap(inputs, inputs, same)

    shared, independent = nlls(True), nlls(False)
    # one mask per query: identical candidates get identical NLLs (labels rank features only)
    assert torch.allclose(shared, shared[:, :1].expand_as(shared))
    assert not torch.allclose(shared[0], shared[1])  # queries still get different masks
    assert not torch.allclose(independent, independent[:, :1].expand_as(independent))

