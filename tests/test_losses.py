"""Pseudo-label rules, RG-BCE, reconstruction and full-supervision losses."""

import pytest
import torch

from ms2d.losses import (
    full_supervision_loss,
    pseudo_labels,
    reconstruction_loss,
    rg_bce,
    scaled_iou_targets,
)


def test_paper_rule_thresholds():
    # shares l = nll / sum: 0.05 (< l_min -> 1), 0.25 (-> 0.75), 0.7 (>= l_max -> 0)
    nll = torch.tensor([[1.0, 5.0, 14.0]])
    y = pseudo_labels(nll, "paper", 0.1, 0.7)
    assert torch.allclose(y, torch.tensor([[1.0, 0.75, 0.0]]))


def test_paper_rule_exactly_at_bounds():
    nll = torch.tensor([[1.0, 9.0], [7.0, 3.0]])  # shares 0.1, 0.9 / 0.7, 0.3
    y = pseudo_labels(nll, "paper", 0.1, 0.7)
    assert torch.allclose(y, torch.tensor([[0.9, 0.0], [0.0, 0.7]]))


def test_paper_rule_is_nearly_flat_for_k10():
    """The known weakness METHOD.md names: with K=10 every share is about 0.1."""
    nll = torch.tensor([[20.0, 21, 22, 23, 24, 25, 26, 27, 28, 29]])
    y = pseudo_labels(nll, "paper")
    assert y.min() > 0.87 and y.max() <= 1.0


def test_rank_and_softmax_rules():
    nll = torch.tensor([[3.0, 1.0, 2.0]])
    assert torch.allclose(pseudo_labels(nll, "rank"), torch.tensor([[0.0, 1.0, 0.5]]))
    s = pseudo_labels(nll, "softmax")
    assert s[0, 1] == 1 and s[0, 0] < s[0, 2] < 1
    assert torch.equal(pseudo_labels(torch.tensor([[4.0]]), "rank"), torch.ones(1, 1))
    with pytest.raises(ValueError, match="unknown label rule"):
        pseudo_labels(nll, "nope")


def test_labels_carry_no_gradient():
    nll = torch.tensor([[3.0, 1.0]], requires_grad=True)
    assert not pseudo_labels(nll, "paper").requires_grad


def test_rg_bce_and_reconstruction():
    logits = torch.tensor([[0.0, 0.0]])
    assert rg_bce(logits, torch.tensor([[1.0, 0.0]])).item() == pytest.approx(0.6931, abs=1e-4)
    nll = torch.tensor([[4.0, 8.0]])  # 3 words + <eos> = 4 predicted tokens
    assert reconstruction_loss(nll, torch.tensor([3])).item() == pytest.approx(1.5)


def test_full_supervision_targets_and_mask():
    iou = torch.tensor([0.2, 0.5, 0.75, 1.0])
    assert torch.allclose(scaled_iou_targets(iou), torch.tensor([0.0, 0.0, 0.5, 1.0]))
    logits = torch.zeros(1, 2, 2)
    mask = torch.tensor([[True, True], [False, True]])
    loss = full_supervision_loss(logits, torch.ones(1, 2, 2), mask)
    assert loss.item() == pytest.approx(0.6931, abs=1e-4)


def test_evidence_labels_are_absolute_per_query():
    from ms2d.losses import pseudo_labels

    evidence = torch.tensor([[0.0, -1.0, -3.0, 1.0], [5.0, 5.0, 6.0, 4.0]])
    y = pseudo_labels(evidence, "evidence", temperature=2.0)
    assert torch.allclose(y.max(1).values, torch.ones(2))  # the best candidate gets 1
    assert y[0].argmax() == 2 and y[1].argmax() == 3  # lower evidence is better
    z = -(evidence[0] - evidence[0].mean()) / evidence[0].std()
    assert torch.allclose(y[0], torch.exp(2.0 * (z - z.max())), atol=1e-6)
    # shifting or scaling a query's evidence does not change its labels
    assert torch.allclose(pseudo_labels(3 * evidence + 7, "evidence", temperature=2.0), y,
                          atol=1e-6)

