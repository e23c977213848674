"""Equivariant normalizations of [N, K, C] features (K = (lmax+1)^2 coefficients, C channels).

All use eps = 1e-5 and scale each degree l with a learned per-channel weight; only degree 0 is
centred and gets a bias, so rotations commute with the norm.

A norm that divides a group of degrees by that group's own RMS is not smooth where the group vanishes:
at a site with cubic symmetry every feature of degree 1, 2 and 3 is exactly 0, so ``layer_norm`` (each
degree alone) and ``layer_norm_sh`` at lmax 2 or 3 (degrees > 0 together) divide by sqrt(eps) and
amplify any symmetry-breaking perturbation about 300-fold. ``rms_norm_sh`` and ``layer_norm_sh_floored``
include the degree-0 spread in the divisor of degrees > 0 and stay smooth (docs/training.md).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from eqv2.so3.layout import CoefficientLayout

NORM_TYPES = ("layer_norm", "layer_norm_sh", "rms_norm_sh", "layer_norm_sh_floored")
EPS = 1e-5


class EquivariantLayerNorm(nn.Module):
    """``layer_norm``: per degree l, x_l / sqrt(mean_c mean_m x_l^2 + eps) * w_l (l = 0 centred, + b)."""

    def __init__(self, lmax: int, channels: int) -> None:
        super().__init__()
        self.lmax = lmax
        self.affine_weight = nn.Parameter(torch.ones(lmax + 1, channels))
        self.affine_bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        outputs = []
        for l in range(self.lmax + 1):
            block = x[:, l * l : (l + 1) ** 2]  # [N, 2l+1, C]
            if l == 0:
                block = block - block.mean(dim=2, keepdim=True)
            norm = block.pow(2).mean(dim=1, keepdim=True).mean(dim=2, keepdim=True)
            block = block * (norm + EPS).rsqrt() * self.affine_weight[l]
            if l == 0:
                block = block + self.affine_bias
            outputs.append(block)
        return torch.cat(outputs, dim=1)


def _degree_balance(lmax: int, first_degree: int) -> Tensor:
    """[K'] weights 1 / ((2l+1) * number of degrees) for degrees first_degree..lmax."""
    num_degrees = lmax + 1 - first_degree
    degrees = CoefficientLayout(lmax, lmax).full_degrees()[first_degree**2 :].to(torch.float64)
    return 1.0 / ((2 * degrees + 1) * num_degrees)


class SeparableLayerNorm(nn.Module):
    """``layer_norm_sh``: LayerNorm on degree 0; degrees l > 0 share one RMS over l, m and c.

    n = mean_c sum_{l>0} sum_m x_lm^2 / ((2l+1) lmax);  y_l = x_l / sqrt(n + eps) * w_l.

    With ``floored=True`` (``layer_norm_sh_floored``, an eqv2 option) the degree-0 variance over channels,
    v_0 = mean_c (x_0 - mean_c x_0)^2, is added under the root: y_l = x_l / sqrt(n + v_0 + eps) * w_l.
    Degrees > 0 are then scaled relative to the scalars and never divided by a vanishing norm, so the
    output is smooth where all degrees > 0 vanish (sites of cubic symmetry at lmax < 4).
    """

    def __init__(self, lmax: int, channels: int, floored: bool = False) -> None:
        super().__init__()
        self.floored = floored
        self.lmax = lmax
        self.scalar_norm = nn.LayerNorm(channels, eps=EPS)
        self.affine_weight = nn.Parameter(torch.ones(lmax, channels))
        self.register_buffer("degree_balance", _degree_balance(lmax, 1)[:, None], persistent=False)
        self.register_buffer("degree_of", CoefficientLayout(lmax, lmax).full_degrees()[1:] - 1, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        scalars = self.scalar_norm(x[:, :1])
        if self.lmax == 0:
            return scalars
        tensors = x[:, 1:]
        norm = (tensors.pow(2) * self.degree_balance.to(x.dtype)).sum(dim=1, keepdim=True).mean(dim=2, keepdim=True)
        if self.floored:
            norm = norm + x[:, :1].var(dim=2, unbiased=False, keepdim=True)
        tensors = tensors * (norm + EPS).rsqrt() * self.affine_weight[self.degree_of]
        return torch.cat([scalars, tensors], dim=1)


class RMSNormSH(nn.Module):
    """``rms_norm_sh``: degree 0 centred, then one RMS over all degrees balanced by 1/((2l+1)(lmax+1)).

    y_lm = x_lm / sqrt(n + eps) * w_l (+ b at l = 0).
    """

    def __init__(self, lmax: int, channels: int) -> None:
        super().__init__()
        self.affine_weight = nn.Parameter(torch.ones(lmax + 1, channels))
        self.affine_bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("degree_balance", _degree_balance(lmax, 0)[:, None], persistent=False)
        self.register_buffer("degree_of", CoefficientLayout(lmax, lmax).full_degrees(), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        scalars = x[:, :1] - x[:, :1].mean(dim=2, keepdim=True)
        x = torch.cat([scalars, x[:, 1:]], dim=1)
        norm = (x.pow(2) * self.degree_balance.to(x.dtype)).sum(dim=1, keepdim=True).mean(dim=2, keepdim=True)
        x = x * (norm + EPS).rsqrt() * self.affine_weight[self.degree_of]
        return torch.cat([x[:, :1] + self.affine_bias, x[:, 1:]], dim=1)


def equivariant_norm(norm_type: str, lmax: int, channels: int) -> nn.Module:
    """The norm named ``norm_type`` (one of `NORM_TYPES`)."""
    if norm_type not in NORM_TYPES:
        raise ValueError(f"norm_type must be one of {NORM_TYPES}, got {norm_type!r}")
    if norm_type == "layer_norm":
        return EquivariantLayerNorm(lmax, channels)
    if norm_type == "rms_norm_sh":
        return RMSNormSH(lmax, channels)
    return SeparableLayerNorm(lmax, channels, floored=norm_type == "layer_norm_sh_floored")
