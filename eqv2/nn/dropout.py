"""Regularizers that are identity at evaluation time."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class GraphDropPath(nn.Module):
    """Stochastic depth: drop a residual branch for a whole structure with probability ``rate``.

    x [N, K, C], graph_index [N]; survivors are scaled by 1 / (1 - rate).
    """

    def __init__(self, rate: float) -> None:
        super().__init__()
        self.rate = rate

    def forward(self, x: Tensor, graph_index: Tensor) -> Tensor:
        if not self.training or self.rate == 0.0:
            return x
        num_graphs = int(graph_index.max()) + 1
        keep = torch.rand(num_graphs, dtype=x.dtype, device=x.device) >= self.rate
        scale = keep.to(x.dtype) / (1.0 - self.rate)
        return x * scale[graph_index][:, None, None]


class EquivariantDropout(nn.Module):
    """Drop whole channels of each atom (all coefficients together): x [N, K, C]."""

    def __init__(self, rate: float) -> None:
        super().__init__()
        self.rate = rate

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.rate == 0.0:
            return x
        keep = torch.rand(x.shape[0], 1, x.shape[2], dtype=x.dtype, device=x.device) >= self.rate
        return x * keep.to(x.dtype) / (1.0 - self.rate)
