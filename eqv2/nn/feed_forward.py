"""Equivariant feed-forward network on [N, K, C] node features (degrees 0..lmax, all orders)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from eqv2.nn.activations import GateActivation, S2Activation, S2Grid, SeparableS2Activation
from eqv2.nn.linear import SO3Linear
from eqv2.so3.layout import CoefficientLayout

# Values of the hidden [n, K, H] tensor per group of nodes at inference, by device: the network's
# temporaries (hidden coefficients, gates, activation outputs) then never exist for all nodes at
# once. Under autograd the nodes are one group (backward keeps them anyway).
NODE_CHUNK_VALUES = {"cpu": 2**24, "cuda": 2**28}


class FeedForward(nn.Module):
    """SO3 linear -> activation -> SO3 linear.

    Activation variants: gate (``use_gate_act``), grid MLP (``use_grid_mlp``: Linear-SiLU-Linear-SiLU-
    Linear pointwise on the S2 grid, degree 0 replaced by SiLU(Linear(x_0)) when ``use_sep_s2_act``),
    separable S2 (``use_sep_s2_act``), or plain S2.
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        lmax: int,
        grid: S2Grid,
        use_gate_act: bool = False,
        use_grid_mlp: bool = False,
        use_sep_s2_act: bool = True,
    ) -> None:
        super().__init__()
        self.use_gate_act = use_gate_act
        self.use_grid_mlp = use_grid_mlp
        self.use_sep_s2_act = use_sep_s2_act
        self.hidden_channels = hidden_channels
        self.linear_in = SO3Linear(in_channels, hidden_channels, lmax)
        self.gating = self.scalar_mlp = self.grid_mlp = self.activation = None
        self.grid = grid
        if use_grid_mlp:
            if use_sep_s2_act:
                self.scalar_mlp = nn.Sequential(nn.Linear(in_channels, hidden_channels), nn.SiLU())
            self.grid_mlp = nn.Sequential(
                nn.Linear(hidden_channels, hidden_channels, bias=False),
                nn.SiLU(),
                nn.Linear(hidden_channels, hidden_channels, bias=False),
                nn.SiLU(),
                nn.Linear(hidden_channels, hidden_channels, bias=False),
            )
        elif use_gate_act:
            self.gating = nn.Linear(in_channels, lmax * hidden_channels)
            self.activation = GateActivation(CoefficientLayout(lmax, lmax).full_degrees())
        elif use_sep_s2_act:
            self.gating = nn.Linear(in_channels, hidden_channels)
            self.activation = SeparableS2Activation(grid)
        else:
            self.activation = S2Activation(grid)
        self.linear_out = SO3Linear(hidden_channels, out_channels, lmax)

    def forward(self, x: Tensor) -> Tensor:
        """[N, K, C_in] -> [N, K, C_out]; at inference in groups of nodes (`NODE_CHUNK_VALUES`)."""
        budget = NODE_CHUNK_VALUES.get(x.device.type, NODE_CHUNK_VALUES["cpu"])
        rows = max(1, budget // (x.shape[1] * self.hidden_channels))
        if torch.is_grad_enabled() or x.shape[0] <= rows:
            return self.nodes_forward(x)
        out = None
        for start in range(0, x.shape[0], rows):
            piece = self.nodes_forward(x[start : start + rows])
            if out is None:
                out = piece.new_empty((x.shape[0],) + piece.shape[1:])
            out[start : start + rows] = piece
        return out

    def nodes_forward(self, x: Tensor) -> Tensor:
        """The network on all rows of ``x`` [n, K, C_in] at once."""
        scalars = x[:, 0]  # [N, C]
        hidden = self.linear_in(x)
        if self.grid_mlp is not None:
            hidden = self.grid.apply(hidden, self.grid_mlp)
            if self.scalar_mlp is not None:
                hidden = torch.cat([self.scalar_mlp(scalars)[:, None], hidden[:, 1:]], dim=1)
        elif self.gating is not None:
            hidden = self.activation(self.gating(scalars), hidden)
        else:
            hidden = self.activation(hidden)
        return self.linear_out(hidden)

    def compile_dense_parts(self, **options: Any) -> None:
        """Run `nodes_forward` (the network on a group of nodes) compiled by `torch.compile` with ``options``
        from now on; the loop over node groups stays eager (`eqv2.model.EquiformerV2.compile_dense_parts`)."""
        self.nodes_forward = torch.compile(self.nodes_forward, **options)
