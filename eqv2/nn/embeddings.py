"""Distance basis and the edge-degree embedding."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from eqv2.nn.atom_edge_embedding import AtomEdgeEmbedding, sizes_with_element_channels
from eqv2.nn.edges import EdgeChunk, EdgeChunks
from eqv2.nn.graph_ops import sum_over_targets
from eqv2.nn.linear import RadialMLP
from eqv2.so3.layout import CoefficientLayout


def polynomial_envelope(x: Tensor, exponent: int = 5) -> Tensor:
    """u(x) = 1 - (p+1)(p+2)/2 x^p + p(p+2) x^(p+1) - p(p+1)/2 x^(p+2) for x < 1, else 0 (p = ``exponent``).

    u(0) = 1, and u, u' and u'' vanish at x = 1 (DimeNet's envelope). [E] -> [E].
    """
    p = exponent
    x = x.clamp(max=1.0)
    value = 1 - (p + 1) * (p + 2) / 2 * x**p + p * (p + 2) * x ** (p + 1) - p * (p + 1) / 2 * x ** (p + 2)
    return torch.where(x < 1.0, value, torch.zeros_like(value))


class GaussianBasis(nn.Module):
    """exp(-(d - mu_k)^2 / (2 sigma^2)) for ``num_basis`` centres mu_k evenly on [start, stop].

    sigma = ``width_factor`` * spacing. EquiformerV2 uses 600 centres on [0, cutoff], width 2.0.
    [E] -> [E, num_basis].
    """

    def __init__(self, start: float, stop: float, num_basis: int = 600, width_factor: float = 2.0) -> None:
        super().__init__()
        centres = torch.linspace(start, stop, num_basis, dtype=torch.float64)
        spacing = (stop - start) / (num_basis - 1)
        self.coefficient = -0.5 / (width_factor * spacing) ** 2
        self.register_buffer("centres", centres, persistent=False)

    def forward(self, distances: Tensor) -> Tensor:
        return torch.exp(self.coefficient * (distances[:, None] - self.centres.to(distances.dtype)) ** 2)


class EdgeDegreeEmbedding(nn.Module):
    """Initial equivariant node features from the neighbourhood geometry.

    For each edge, an MLP of the edge scalars gives m = 0 coefficients for degrees 0..lmax in the edge
    frame; rotated back to the global frame they are an equivariant function of the edge direction.
    Summed over the edges into each atom and divided by ``rescale`` (the average degree):
    [E, D] -> [N, K, C]. The edges run in target-aligned chunks (`eqv2.nn.edges`).
    """

    def __init__(
        self,
        sphere_channels: int,
        layout: CoefficientLayout,
        max_num_elements: int,
        edge_scalar_sizes: list[int],
        use_atom_edge_embedding: bool,
        rescale: float,
    ) -> None:
        super().__init__()
        self.sphere_channels = sphere_channels
        self.layout = layout
        self.rescale = rescale
        self.atom_edge_embedding = None
        if use_atom_edge_embedding:
            self.atom_edge_embedding = AtomEdgeEmbedding(max_num_elements, edge_scalar_sizes[-1])
            edge_scalar_sizes = sizes_with_element_channels(edge_scalar_sizes)
        self.radial = RadialMLP(edge_scalar_sizes + [(layout.lmax + 1) * sphere_channels])

    def forward(self, atomic_numbers: Tensor, edges: EdgeChunks, like: Tensor) -> Tensor:
        """atomic_numbers [N], the batch's edges in target-aligned chunks -> [N, K, C] (dtype of ``like``)."""
        embedding = edges.per_target(
            lambda chunk: self.chunk_embedding(atomic_numbers, edges, chunk),
            (self.layout.num_full, self.sphere_channels),
            like,
        )
        return embedding / self.rescale

    def chunk_embedding(self, atomic_numbers: Tensor, edges: EdgeChunks, chunk: EdgeChunk) -> Tensor:
        """[n, K, C]: the sum over each target's edges of the m = 0 rows rotated back to the global frame."""
        rotation, edge_scalars, edge_weights = edges.features(chunk)
        if self.atom_edge_embedding is not None:
            edge_scalars = self.atom_edge_embedding(edge_scalars, atomic_numbers, chunk.edge_index)
        num_edges = edge_scalars.shape[0]
        m0 = self.radial(edge_scalars).reshape(num_edges, self.layout.lmax + 1, self.sphere_channels)
        if edge_weights is not None:
            m0 = (m0.flatten(1) * edge_weights[:, None]).view_as(m0)  # [e, X] * [e, 1] runs vectorized
        num_padding = self.layout.num_reduced - (self.layout.lmax + 1)
        in_edge_frame = torch.cat([m0, m0.new_zeros(num_edges, num_padding, m0.shape[2])], dim=1)  # m = 0 rows first
        return sum_over_targets(rotation.rotate_back(in_edge_frame), chunk.local_target, chunk.num_targets)
