"""SO(2) equivariant graph attention (EquiformerV2, section 3).

For each edge j -> i: message [x_j | x_i] rotated into the edge frame, SO(2) convolution conditioned
on the edge scalars, activation, second SO(2) convolution; attention weights from the invariant m = 0
outputs (optionally layer-normed: "attention re-normalization"), softmax over the edges into i;
weighted messages rotated back and summed at i, then an SO(3) linear projection.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from eqv2.nn.activations import GateActivation, S2Activation, S2Grid, SeparableS2Activation, SmoothLeakyReLU
from eqv2.nn.atom_edge_embedding import AtomEdgeEmbedding, sizes_with_element_channels
from eqv2.nn.edges import EdgeChunk, EdgeChunks
from eqv2.nn.graph_ops import compute_dtype, softmax_over_targets, sum_over_targets
from eqv2.nn.linear import RadialMLP, SO3Linear
from eqv2.nn.so2_convolution import SO2Convolution
from eqv2.so3.layout import CoefficientLayout
from eqv2.so3.rotation import EdgeRotation


class SO2GraphAttention(nn.Module):
    """[N, K, C] -> [N, K, output_channels]."""

    def __init__(
        self,
        sphere_channels: int,
        hidden_channels: int,
        num_heads: int,
        alpha_channels: int,
        value_channels: int,
        output_channels: int,
        layout: CoefficientLayout,
        grid: S2Grid,
        max_num_elements: int,
        edge_scalar_sizes: list[int],
        use_atom_edge_embedding: bool = True,
        use_m_share_rad: bool = False,
        use_attn_renorm: bool = True,
        use_gate_act: bool = False,
        use_sep_s2_act: bool = True,
        alpha_drop: float = 0.0,
    ) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.alpha_channels = alpha_channels
        self.value_channels = value_channels
        self.lmax = layout.lmax
        self.use_gate_act = use_gate_act
        self.use_sep_s2_act = use_sep_s2_act

        self.atom_edge_embedding = None
        if use_atom_edge_embedding:
            self.atom_edge_embedding = AtomEdgeEmbedding(max_num_elements, edge_scalar_sizes[-1])
            edge_scalar_sizes = sizes_with_element_channels(edge_scalar_sizes)

        message_channels = 2 * sphere_channels
        self.radial_per_degree = None
        if use_m_share_rad:
            self.radial_per_degree = RadialMLP(edge_scalar_sizes + [(self.lmax + 1) * message_channels])
            self.register_buffer("degree_of", layout.full_degrees(), persistent=False)

        alpha_total = num_heads * alpha_channels
        if use_gate_act:
            extra = alpha_total + self.lmax * hidden_channels
            self.activation = GateActivation(layout.reduced_degrees()[layout.reduced_to_m_major()])
        elif use_sep_s2_act:
            extra = alpha_total + hidden_channels
            self.activation = SeparableS2Activation(grid)
        else:
            extra = alpha_total
            self.activation = S2Activation(grid)
        self.conv_in = SO2Convolution(
            message_channels,
            hidden_channels,
            layout,
            extra_channels=extra,
            radial_sizes=None if use_m_share_rad else edge_scalar_sizes,
        )
        self.conv_out = SO2Convolution(hidden_channels, num_heads * value_channels, layout)

        self.alpha_norm = nn.LayerNorm(alpha_channels, eps=1e-5) if use_attn_renorm else nn.Identity()
        self.alpha_activation = SmoothLeakyReLU(0.2)
        bound = 1.0 / math.sqrt(alpha_channels)
        self.alpha_dot = nn.Parameter(torch.empty(num_heads, alpha_channels).uniform_(-bound, bound))
        self.alpha_dropout = nn.Dropout(alpha_drop) if alpha_drop > 0.0 else nn.Identity()
        self.proj = SO3Linear(num_heads * value_channels, output_channels, self.lmax)

    def forward(self, x: Tensor, atomic_numbers: Tensor, edges: EdgeChunks) -> Tensor:
        """x [N, K, C], atomic_numbers [N], the batch's edges in target-aligned chunks -> [N, K, output].

        The cutoff weights of the edges (when the model uses an envelope) weight each edge's term in
        the softmax and its message, so that edges entering the cutoff change nothing abruptly.
        """
        x = x.to(compute_dtype(x))  # under autocast: cast the nodes once, not each edge's copy of them
        messages = edges.per_target(
            lambda chunk: self.chunk_messages(x, atomic_numbers, edges, chunk),
            (x.shape[1], self.num_heads * self.value_channels),
            x,
        )
        return self.proj(messages)

    def chunk_messages(self, x: Tensor, atomic_numbers: Tensor, edges: EdgeChunks, chunk: EdgeChunk) -> Tensor:
        """[n, K, heads * values]: the attention-weighted messages into the chunk's n targets."""
        rotation, edge_scalars, edge_weights = edges.features(chunk)
        if self.atom_edge_embedding is not None:
            edge_scalars = self.atom_edge_embedding(edge_scalars, atomic_numbers, chunk.edge_index)
        values, logits = self.edge_values(x, edge_scalars, chunk.edge_index, rotation)
        target = chunk.local_target
        alpha = self.alpha_dropout(softmax_over_targets(logits, target, chunk.num_targets, edge_weights))  # [e, heads]
        if edge_weights is not None:
            alpha = alpha * edge_weights[:, None]
        # one weight per value channel [e, heads * values]: a product broadcast over a middle axis
        # runs vectorized, one broadcast over the last axis (alpha[:, None, :, None]) does not
        alpha = alpha.to(values.dtype).repeat_interleave(self.value_channels, dim=1)
        weighted = rotation.rotate_back(values.flatten(2) * alpha[:, None])  # [e, K, heads * values]
        return sum_over_targets(weighted, target, chunk.num_targets)

    def edge_values(
        self, x: Tensor, edge_scalars: Tensor, edge_index: Tensor, rotation: EdgeRotation
    ) -> tuple[Tensor, Tensor]:
        """Per-edge values [e, R, heads, values] (edge frame) and attention logits [e, heads] of the
        edges ``edge_index`` [2, e] with their scalars [e, D] and rotation."""
        num_edges = edge_index.shape[1]
        # [e, K, 2C] = [x_source | x_target], gathered in one pass; the gradient that backward sums into
        # the atoms is then one contiguous tensor (PyTorch's CPU index_add is many times slower on the
        # strided halves of a concatenation)
        ends = x.index_select(0, edge_index.flatten()).view(2, num_edges, x.shape[1], x.shape[2])
        message = ends.permute(1, 2, 0, 3).reshape(num_edges, x.shape[1], 2 * x.shape[2])
        if self.radial_per_degree is not None:
            weights = self.radial_per_degree(edge_scalars).reshape(num_edges, self.lmax + 1, message.shape[2])
            message = message * weights[:, self.degree_of]
        message = rotation.rotate(message)  # [e, R, 2C] m-major
        message, extra = self.conv_in(message, edge_scalars)

        alpha_total = self.num_heads * self.alpha_channels
        logits_in, gates = extra.split([alpha_total, extra.shape[1] - alpha_total], dim=1)
        if self.use_gate_act or self.use_sep_s2_act:
            message = self.activation(gates, message)
        else:
            message = self.activation(message)
        message, _ = self.conv_out(message)  # [e, R, heads * values]

        logits = self.alpha_activation(
            self.alpha_norm(logits_in.reshape(num_edges, self.num_heads, self.alpha_channels))
        )
        logits = torch.einsum("ehk,hk->eh", logits, self.alpha_dot)
        return message.reshape(num_edges, message.shape[1], self.num_heads, self.value_channels), logits

    def compile_dense_parts(self, **options: Any) -> None:
        """Run `edge_values` (the dense per-edge part) compiled by `torch.compile` with ``options`` from now
        on; the chunk loop, softmax and scatter sums stay eager (`eqv2.model.EquiformerV2.compile_dense_parts`)."""
        self.edge_values = torch.compile(self.edge_values, **options)
