"""The diagonal convolution (ms2d.ops.diagonal) equals the dense masked convolution."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ms2d.models.maps import candidate_mask
from ms2d.ops.banded import banded_conv2d, plan_banded
from ms2d.ops.diagonal import diagonal_conv2d, from_rows, plan_diagonal, to_rows


def _dense(x, w, mask):
    return F.conv2d(x * mask, w, padding=w.shape[-1] // 2) * mask


def _check(mask: torch.Tensor, kernel: int, cin: int = 3, cout: int = 4, batch: int = 2) -> None:
    n = mask.shape[0]
    g = torch.Generator().manual_seed(n * 100 + kernel)
    x = torch.randn(batch, cin, n, n, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(cout, cin, kernel, kernel, generator=g, dtype=torch.float64, requires_grad=True)
    up = torch.randn(batch, cout, n, n, generator=g, dtype=torch.float64)
    ref = _dense(x, w, mask)
    dx_ref, dw_ref = torch.autograd.grad((ref * up).sum(), [x, w])
    out = diagonal_conv2d(x, w, mask)
    assert out.shape == ref.shape and out.dtype == torch.float64
    assert torch.allclose(out, ref, atol=1e-10)
    assert not out[:, :, ~mask].any()  # constant zero off the mask
    dx, dw = torch.autograd.grad((out * up).sum(), [x, w])
    assert torch.allclose(dw, dw_ref, atol=1e-9)
    assert torch.allclose(dx * mask, dx_ref * mask, atol=1e-9)
    assert not dx[:, :, ~mask].any()  # x is read on the mask only


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 16, 17, 24, 33, 64])
@pytest.mark.parametrize("kernel", [3, 5, 9])
def test_equals_dense_on_2dtan_masks(n, kernel):
    _check(candidate_mask(n), kernel)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equals_dense_on_random_masks(seed):
    g = torch.Generator().manual_seed(seed)
    mask = torch.rand(21, 21, generator=g) < 0.35  # no full diagonal, cells below it too
    _check(mask, 5)
    _check(torch.triu(torch.ones(12, 12, dtype=torch.bool)) | mask[:12, :12], 7)


def test_zero_mask_and_gradcheck():
    _check(torch.zeros(6, 6, dtype=torch.bool), 3)
    mask = candidate_mask(20, dense_until=4)
    x = torch.randn(1, 2, 20, 20, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, w: diagonal_conv2d(x, w, mask), (x, w))


def test_plan_shape_at_n64():
    plan = plan_diagonal(candidate_mask(64), 9)
    assert plan.band == 16  # the 2D-TAN band: every moment of up to 16 segments
    assert plan.work < 0.24  # 23 % of the dense conv's cell-taps (banded strips: 38 %)
    assert plan_diagonal(candidate_mask(64), 9) is plan  # cached per (mask, kernel)
    # every off-band pair really is a valid -> valid pair
    valid_rows = plan.valid_rows.bool()
    assert valid_rows[plan.pair_out].all() and valid_rows[plan.pair_in].all()


def test_rows_round_trip():
    mask = candidate_mask(40)
    x = torch.randn(2, 3, 40, 40) * mask
    plan = plan_diagonal(mask, 5)
    rows = to_rows(x, plan)
    assert rows.shape == (plan.rows, 2, 3)
    assert torch.equal(from_rows(rows, plan), x)
    assert not rows[~plan.valid_rows.bool()].any()


@pytest.mark.parametrize("plan, conv", [(plan_diagonal, diagonal_conv2d), (plan_banded, banded_conv2d)])
def test_bad_arguments(plan, conv):  # both sparse convolutions share the plan cache's checks
    with pytest.raises(ValueError, match="odd kernel"):
        plan(candidate_mask(8), 4)
    with pytest.raises(ValueError, match="square"):
        plan(torch.ones(3, 4, dtype=torch.bool), 3)
    with pytest.raises(ValueError, match="does not match"):
        conv(torch.zeros(1, 2, 5, 5), torch.zeros(2, 2, 3, 3), candidate_mask(6))


def test_float32_under_bf16_autocast():
    mask = candidate_mask(32)
    x = torch.randn(1, 8, 32, 32) * mask
    w = torch.randn(8, 8, 5, 5) * 0.1
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = diagonal_conv2d(x, w, mask)
    assert out.dtype == torch.float32
    assert torch.allclose(out, _dense(x, w, mask), atol=1e-4)


def test_bf16_operands_with_float32_sums(monkeypatch):
    """The path a GPU takes under bf16 autocast (bf16 operands, float32 results; CUDA's
    ``addmm(out_dtype=...)``), on a CPU: the products emulated in float32 from the bf16
    operands, the dtype plumbing (saved operands, gradients' dtypes) as on the GPU."""
    import ms2d.ops.diagonal as dg

    assert not dg.mixed_products("cpu", torch.bfloat16)  # a CPU keeps float32 products
    used = []

    def acc_mm(out, a, b):
        used.append(a.dtype)
        out.add_(a.float() @ b.float())

    def mm(out, a, b):
        used.append(a.dtype)
        out.copy_(a.float() @ b.float())

    monkeypatch.setattr(dg, "_acc_mm", acc_mm)
    monkeypatch.setattr(dg, "_mm", mm)
    monkeypatch.setattr(dg, "_operand_dtype", lambda x, acc: torch.bfloat16)
    mask = candidate_mask(64)
    g = torch.Generator().manual_seed(3)
    x = (torch.randn(2, 16, 64, 64, generator=g) * mask).requires_grad_()
    w = (torch.randn(16, 16, 5, 5, generator=g) * 0.05).requires_grad_()
    up = torch.randn(2, 16, 64, 64, generator=g)
    out = diagonal_conv2d(x, w, mask)
    assert out.dtype == torch.float32 and set(used) == {torch.bfloat16}
    dx, dw = torch.autograd.grad((out * up).sum(), [x, w])
    assert dx.dtype == dw.dtype == torch.float32
    ref = _dense(x, w, mask)
    dx_ref, dw_ref = torch.autograd.grad((ref * up).sum(), [x, w])
    for a, b in [(out, ref), (dx * mask, dx_ref * mask), (dw, dw_ref)]:
        err = float((a - b).norm() / b.norm())
        assert 1e-5 < err < 2e-2  # bf16 operands: not float32's error, not more than bf16's


def test_tap_major_weights_same_values_gradients_and_checkpoints():
    from ms2d.models.config import ModelConfig
    from ms2d.models.fusion import MaskedConvStack
    from ms2d.ops import TapMajorConv2d

    torch.manual_seed(0)
    cfg = ModelConfig(hidden=6, conv_layers=2, kernel=5, dropout=0.0, conv_impl="diagonal")
    plain = MaskedConvStack(cfg).double()  # no scales given: standard layout
    taps = MaskedConvStack(cfg, [64]).double()  # diagonal on every scale it serves: tap-major
    assert isinstance(taps.layers[0], TapMajorConv2d)
    assert not isinstance(MaskedConvStack(ModelConfig(hidden=6, kernel=5), [64, 24]).layers[0],
                          TapMajorConv2d)  # N=24 runs dense: standard layout
    assert set(taps.state_dict()) == set(plain.state_dict())  # checkpoints do not change
    taps.load_state_dict(plain.state_dict())
    for a, b in zip(plain.layers, taps.layers):
        assert torch.equal(a.weight, b.weight) and b.weight_taps.is_contiguous()
    mask = candidate_mask(64)
    x = (torch.randn(2, 6, 64, 64, dtype=torch.float64) * mask).requires_grad_()
    yp, yt = plain(x, mask), taps(x, mask)
    assert torch.allclose(yp, yt, atol=1e-12)
    yp.square().sum().backward()
    yt.square().sum().backward()
    for a, b in zip(plain.layers, taps.layers):
        k = a.weight.shape[-1]
        g = b.weight_taps.grad.view(k, k, 6, 6).permute(3, 2, 0, 1)
        assert torch.allclose(a.weight.grad, g, atol=1e-9)
        assert torch.allclose(a.bias.grad, b.bias.grad, atol=1e-9)
    # a tap-major stack's checkpoint loads into a standard one, also through torch.save
    back = MaskedConvStack(ModelConfig(hidden=6, conv_layers=2, kernel=5, dropout=0.0,
                                       conv_impl="dense")).double()
    back.load_state_dict(taps.state_dict())
    assert torch.allclose(back(x, mask), yt, atol=1e-10)
    assert all(v.is_contiguous() for v in taps.state_dict().values())
    conv = torch.nn.Conv2d(3, 4, 3, padding=1)
    tm = TapMajorConv2d(conv)
    z = torch.randn(1, 3, 5, 5)
    assert torch.allclose(tm(z), conv(z), atol=1e-6)  # its own forward: a dense conv
    with pytest.raises(ValueError, match="same-padded"):
        TapMajorConv2d(torch.nn.Conv2d(3, 4, 3))


def test_stack_on_rows_equals_the_per_layer_map_path_bit_for_bit():
    """The stack converts to rows once and runs every layer on rows (diagonal_conv_rows); the
    result is the same float32 numbers as converting around every layer (diagonal_conv2d)."""
    from ms2d.models.config import ModelConfig
    from ms2d.models.fusion import MaskedConvStack
    from ms2d.ops import renorm_factor
    from ms2d.ops.diagonal import diagonal_conv_rows

    torch.manual_seed(0)
    cfg = ModelConfig(hidden=8, conv_layers=3, kernel=5, dropout=0.0, conv_impl="diagonal")
    stack = MaskedConvStack(cfg, [48])
    mask = candidate_mask(48)
    x = (torch.randn(2, 8, 48, 48) * mask).requires_grad_()
    out = stack(x, mask)
    scale, valid = renorm_factor(mask, 5), mask.float()
    ref = x
    for conv in stack.layers:  # the per-layer map path
        ref = F.relu(diagonal_conv2d(ref, conv.weight, mask) * scale + conv.bias[:, None, None] * valid)
    assert torch.equal(out, ref)
    up = torch.randn_like(out)
    g_out = torch.autograd.grad((out * up).sum(), [x, *stack.parameters()])
    g_ref = torch.autograd.grad((ref * up).sum(), [x, *stack.parameters()])
    for a, b in zip(g_out, g_ref):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-6)
    plan = plan_diagonal(mask, 5)
    with pytest.raises(ValueError, match="rows"):
        diagonal_conv_rows(torch.zeros(plan.rows - 1, 1, 8), stack.layers[0].weight, plan)


def test_fusion_on_rows_equals_fusion_on_the_map():
    """A diagonal stack runs the fusion on its rows (only the mask's cells): the same numbers,
    values and gradients, as the fusion on the map."""
    from ms2d.models.config import ModelConfig
    from ms2d.models.fusion import HadamardFusion, MaskedConvStack

    torch.manual_seed(0)
    cfg = ModelConfig(hidden=6, conv_layers=0, kernel=5, conv_impl="diagonal")
    fusion, no_layers = HadamardFusion(cfg).double(), MaskedConvStack(cfg)
    mask = candidate_mask(48)
    vmap = (torch.randn(2, 6, 48, 48, dtype=torch.float64) * mask).requires_grad_()
    text = torch.randn(2, 6, dtype=torch.float64, requires_grad=True)
    ref = fusion(text, vmap, mask)
    out = no_layers.run_after(fusion.per_cell(text), vmap, mask)
    assert torch.allclose(out, ref, atol=1e-12)
    assert not out[:, :, ~mask].any()
    up = torch.randn_like(ref)
    g_ref = torch.autograd.grad((ref * up).sum(), [text, vmap, *fusion.parameters()])
    g_out = torch.autograd.grad((out * up).sum(), [text, vmap, *fusion.parameters()])
    assert torch.allclose(g_ref[1] * mask, g_out[1], atol=1e-10)  # vmap: read on the mask
    for a, b in zip(g_ref[:1] + g_ref[2:], g_out[:1] + g_out[2:]):
        assert torch.allclose(a, b, atol=1e-10)


def test_fusion_rows_fed_to_the_stack_equal_the_map_round_trip_bit_for_bit():
    """``run_after`` hands the fusion's rows straight to the conv stack (no from_rows/to_rows
    between them): the same float32 numbers, values and gradients, as going through the map."""
    from ms2d.models.config import ModelConfig
    from ms2d.models.fusion import HadamardFusion, MaskedConvStack

    torch.manual_seed(0)
    cfg = ModelConfig(hidden=8, conv_layers=2, kernel=5, dropout=0.0, conv_impl="diagonal")
    fusion, stack = HadamardFusion(cfg), MaskedConvStack(cfg, [48])
    mask = candidate_mask(48)
    plan = stack.plan(mask)
    vmap = (torch.randn(2, 8, 48, 48) * mask).requires_grad_()
    text = torch.randn(2, 8, requires_grad=True)

    def fused_rows():
        rows = fusion.on_cells(text, to_rows(vmap, plan))
        return rows * plan.row_mask(rows.dtype)

    out = stack.run_after(fusion.per_cell(text), vmap, mask)
    ref = stack(from_rows(fused_rows(), plan), mask, plan)  # via the map
    assert torch.equal(out, ref)
    params = [text, vmap, *fusion.parameters(), *stack.parameters()]
    up = torch.randn_like(out)
    for a, b in zip(torch.autograd.grad((out * up).sum(), params),
                    torch.autograd.grad((ref * up).sum(), params)):
        assert torch.equal(a, b)
    no_layers = MaskedConvStack(ModelConfig(hidden=8, conv_layers=0, conv_impl="diagonal"))
    assert torch.equal(no_layers.run_after(fusion.per_cell(text), vmap, mask),
                       from_rows(fused_rows(), plan))


@pytest.mark.parametrize("impl", ["dense", "banded"])
def test_run_after_on_the_map_is_the_fusion_then_the_stack_bit_for_bit(impl):
    """Where the stack does not run on rows, ``run_after`` is the fusion on the map and then
    the stack's forward (compiled where the stack is)."""
    from ms2d.models.config import ModelConfig
    from ms2d.models.fusion import HadamardFusion, MaskedConvStack

    torch.manual_seed(0)
    cfg = ModelConfig(hidden=8, conv_layers=2, kernel=5, dropout=0.0, conv_impl=impl)
    fusion, stack = HadamardFusion(cfg), MaskedConvStack(cfg, [48])
    mask = candidate_mask(48)
    vmap = torch.randn(2, 8, 48, 48) * mask
    text = torch.randn(2, 8)
    assert torch.equal(stack.run_after(fusion.per_cell(text), vmap, mask),
                       stack(fusion(text, vmap, mask), mask))
