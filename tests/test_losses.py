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


def test_best_reconstruction_loss_takes_the_best_candidate_per_scale():
    from ms2d.losses import best_reconstruction_loss

    wl = torch.tensor([3, 1])  # 4 and 2 predicted tokens
    nll = [torch.tensor([[8.0, 4.0], [2.0, 6.0]]), torch.tensor([[12.0], [4.0]])]
    got = best_reconstruction_loss(nll, wl)
    # scale 0: min per word 1.0 and 1.0 -> 1.0; scale 1: 3.0 and 2.0 -> 2.5; mean 1.75
    assert torch.isclose(got, torch.tensor(1.75))
    g = torch.tensor([[8.0, 4.0]], requires_grad=True)
    best_reconstruction_loss([g], torch.tensor([3])).backward()
    assert g.grad.tolist() == [[0.0, 0.25]]  # only the best candidate learns


def test_teacher_window_is_the_lowest_evidence_candidate_over_scales():
    from ms2d.train.loop import teacher_window

    # scale 8: cells (1, 2) and (0, 7); scale 4: cell (2, 3)
    idx = [torch.tensor([[1 * 8 + 2, 0 * 8 + 7]]), torch.tensor([[2 * 4 + 3]])]
    win = teacher_window([torch.tensor([[5.0, 3.0]]), torch.tensor([[4.0]])], idx, (8, 4))
    assert torch.allclose(win, torch.tensor([[0.0, 1.0]]))
    win = teacher_window([torch.tensor([[1.0, 3.0]]), torch.tensor([[4.0]])], idx, (8, 4))
    assert torch.allclose(win, torch.tensor([[1 / 8, 3 / 8]]))
