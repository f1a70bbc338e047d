"""The masked convolution over 2D temporal maps: a map and its mask in, a map out.

:class:`MaskedConvStack` is the entry point; ``conv_impl`` chooses how a layer computes (dense,
or on the mask's cells only: :mod:`~ms2d.ops.diagonal`, :mod:`~ms2d.ops.banded`). The plans
(:mod:`~ms2d.ops.plans`) and the diagonal convolution's row layout stay inside this package:
a step that must run in the stack's layout is handed over as a :class:`PerCell`.
"""

from .diagonal import TapMajorConv2d
from .plans import renorm_factor
from .stack import (
    CONV_IMPLS,
    ConvPlan,
    MaskedConvStack,
    PerCell,
    check_conv_impl,
    conv_plan_for,
    masked_conv,
)

__all__ = ["CONV_IMPLS", "ConvPlan", "MaskedConvStack", "PerCell", "TapMajorConv2d",
           "check_conv_impl", "conv_plan_for", "masked_conv", "renorm_factor"]
