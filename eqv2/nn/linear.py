"""Equivariant linear maps and the radial MLP."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from eqv2.so3.layout import CoefficientLayout


class SO3Linear(nn.Module):
    """Linear map per degree, shared over orders m: y_{lm} = W_l x_{lm} (+ b on l = 0).

    Input [N, K, C_in] -> output [N, K, C_out]. ``weight`` is [lmax+1, C_out, C_in].
    """

    def __init__(self, in_channels: int, out_channels: int, lmax: int) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(in_channels)
        self.weight = nn.Parameter(torch.empty(lmax + 1, out_channels, in_channels).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer("degree_of", CoefficientLayout(lmax, lmax).full_degrees(), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        weight = self.weight[self.degree_of]  # [K, C_out, C_in]
        out = torch.einsum("nki,koi->nko", x, weight)
        return torch.cat([out[:, :1] + self.bias, out[:, 1:]], dim=1)


class RadialMLP(nn.Module):
    """Edge scalars -> per-edge weights: Linear, LayerNorm, SiLU, Linear, LayerNorm, SiLU, Linear.

    [E, sizes[0]] -> [E, sizes[-1]].
    """

    def __init__(self, sizes: list[int]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(len(sizes) - 1):
            layers.append(nn.Linear(sizes[i], sizes[i + 1]))
            if i < len(sizes) - 2:
                layers += [nn.LayerNorm(sizes[i + 1]), nn.SiLU()]
        self.net = nn.Sequential(*layers)

    def forward(self, edge_scalars: Tensor) -> Tensor:
        return self.net(edge_scalars)
