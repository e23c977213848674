"""Edge scalars: distance features joined with learned embeddings of both atoms' elements."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def sizes_with_element_channels(radial_sizes: list[int]) -> list[int]:
    """Radial MLP sizes [D, e, ...] when its input gains both element embeddings: [D + 2e, e, ...]."""
    return [radial_sizes[0] + 2 * radial_sizes[-1]] + radial_sizes[1:]


class AtomEdgeEmbedding(nn.Module):
    """[E, D] distance features -> [E, D + 2 e]: [features | emb_source(Z_j) | emb_target(Z_i)]."""

    def __init__(self, max_num_elements: int, edge_channels: int) -> None:
        super().__init__()
        self.source_embedding = nn.Embedding(max_num_elements, edge_channels)
        self.target_embedding = nn.Embedding(max_num_elements, edge_channels)
        nn.init.uniform_(self.source_embedding.weight, -0.001, 0.001)
        nn.init.uniform_(self.target_embedding.weight, -0.001, 0.001)

    def forward(self, distance_features: Tensor, atomic_numbers: Tensor, edge_index: Tensor) -> Tensor:
        source_z, target_z = atomic_numbers[edge_index[0]], atomic_numbers[edge_index[1]]
        return torch.cat([distance_features, self.source_embedding(source_z), self.target_embedding(target_z)], dim=1)
