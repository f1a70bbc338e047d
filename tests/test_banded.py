"""The banded convolution equals the dense convolution on the mask's cells, values and gradients."""

import pytest
import torch
import torch.nn.functional as F

from ms2d.models.config import ModelConfig
from ms2d.models.fusion import MaskedConvStack
from ms2d.models.maps import candidate_mask
from ms2d.ops import conv_plan_for
from ms2d.ops.banded import banded_conv2d, plan_banded
from ms2d.ops.diagonal import DiagonalPlan
from ms2d.ops.stack import AUTO_MAX_WORK


def _random_mask(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, n, generator=g) < 0.3).triu()


CASES = [
    # (mask, kernel): 2D-TAN masks dense and sparse, odd sizes, kernel larger than the map, random
    (candidate_mask(64), 9), (candidate_mask(64), 5), (candidate_mask(24), 5),
    (candidate_mask(16), 5), (candidate_mask(33), 3), (candidate_mask(4), 5),
    (candidate_mask(1), 3), (_random_mask(20, 0), 5), (_random_mask(13, 1), 7),
    (torch.zeros(6, 6, dtype=torch.bool), 3),
]


@pytest.mark.parametrize("mask,kernel", CASES, ids=lambda v: str(v) if isinstance(v, int) else
                         f"n{v.shape[0]}-{int(v.sum())}")
def test_banded_matches_dense_values_and_gradients(mask, kernel):
    torch.manual_seed(0)
    n = mask.shape[0]
    x = torch.randn(2, 5, n, n, dtype=torch.float64, requires_grad=True)  # not zero off the mask
    w = torch.randn(4, 5, kernel, kernel, dtype=torch.float64, requires_grad=True)
    g = torch.randn(2, 4, n, n, dtype=torch.float64)
    dense = F.conv2d(x, w, padding=kernel // 2) * mask
    banded = banded_conv2d(x, w, mask)
    assert banded.shape == dense.shape
    assert torch.allclose(banded, dense, atol=1e-10)
    assert (banded[:, :, ~mask] == 0).all()
    gd = torch.autograd.grad((dense * g).sum(), (x, w))
    gb = torch.autograd.grad((banded * g).sum(), (x, w))
    for a, b in zip(gd, gb):
        assert torch.allclose(a, b, atol=1e-9)


def test_plan_covers_every_valid_cell_once_and_skips_most_of_a_sparse_map():
    mask = candidate_mask(64)
    plan = plan_banded(mask, 9)
    cols = plan.cols
    strip_cells = plan.strip_out[plan.strip_out < plan.rows * cols]  # drop the trash slot
    written = torch.cat([strip_cells, plan.cell_out])
    assert written.unique().numel() == written.numel() == int(mask.sum())
    r, c = written // cols, written % cols
    assert mask[r, c].all()
    assert 0.27 < plan.work < 0.45  # the dense convolution computes all 4096 cells
    assert plan_banded(mask, 9) is plan  # cached


def test_auto_picks_a_sparse_conv_only_where_it_saves_work():
    plan = conv_plan_for("auto", candidate_mask(64), 9)  # 2D-TAN N=64: 27 % valid
    assert isinstance(plan, DiagonalPlan) and plan.work <= AUTO_MAX_WORK
    assert conv_plan_for("auto", candidate_mask(16), 5) is None  # dense triangle: not worth it
    assert conv_plan_for("auto", candidate_mask(64).to("meta"), 9) is None  # measured: CPU, CUDA
    assert isinstance(conv_plan_for("auto", candidate_mask(64), 5, bf16=True), DiagonalPlan)
    assert conv_plan_for("banded", candidate_mask(16), 5) is not None
    assert conv_plan_for("dense", candidate_mask(64), 9) is None
    with pytest.raises(ValueError, match="conv_impl"):
        conv_plan_for("sparse", candidate_mask(8), 3)
    with pytest.raises(ValueError, match="conv_impl"):
        MaskedConvStack(ModelConfig(hidden=4, conv_impl="sparse"))


@pytest.mark.parametrize("impl", ["banded", "diagonal", "auto"])
def test_masked_conv_stack_same_with_sparse_and_dense(impl):
    torch.manual_seed(0)
    cfg = dict(hidden=6, conv_layers=3, kernel=5, dropout=0.0)
    dense = MaskedConvStack(ModelConfig(**cfg, conv_impl="dense")).double()
    other = MaskedConvStack(ModelConfig(**cfg, conv_impl=impl)).double()
    other.load_state_dict(dense.state_dict())
    mask = candidate_mask(40)
    x = (torch.randn(2, 6, 40, 40, dtype=torch.float64) * mask).requires_grad_()
    yd, yo = dense(x, mask), other(x, mask)
    assert torch.allclose(yd, yo, atol=1e-10)
    yd.square().sum().backward()
    # the input's gradient on the mask only: the diagonal conv reads x there only (the model's
    # fused map is masked, so nothing upstream sees the difference)
    gd = [p.grad.clone() for p in dense.parameters()] + [x.grad * mask]
    x.grad = None
    yo.square().sum().backward()
    go = [p.grad for p in other.parameters()] + [x.grad * mask]
    for a, b in zip(gd, go):
        assert torch.allclose(a, b, atol=1e-8)


def test_banded_under_bf16_autocast_runs_and_stays_close():
    torch.manual_seed(0)
    mask = candidate_mask(40)
    x = (torch.randn(1, 8, 40, 40) * mask).requires_grad_()
    w = (torch.randn(8, 8, 5, 5) * 0.1).requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = banded_conv2d(x, w, mask)
    assert y.dtype == torch.bfloat16
    y.float().sum().backward()
    ref = F.conv2d(x.detach(), w.detach(), padding=2) * mask
    assert torch.allclose(y.float(), ref, atol=0.1, rtol=0.05)
    assert x.grad.dtype == torch.float32 and w.grad.dtype == torch.float32
