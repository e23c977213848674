"""Rank-2 symmetric tensor (stress) head, decomposed into its degree-0 and degree-2 parts.

For node features x [N, K, C] and edge vectors r_e (target i -> source j):

    w_e  = norm(Y(r_e))                 [E, K]   unnormalized harmonics (|r|^l), 'integral', one-channel norm
    h_e  = LayerNorm(sum_k x_e[k] w_e[k]) [E, C']  x_e = [x_j | x_i] (C' = 2C) or x_i (C' = C)
    isotropic   = mean over atoms of MLP_0(mean over incoming edges of h_e)              [G, 1]
    anisotropic = mean over atoms of MLP_2(mean over incoming edges of Y_2(r_e) h_e)     [G, 5]

MLP_2 acts on each of the 5 components separately, biases and SiLU included (as the reference).
`symmetric_tensor_from_irreps` turns the two parts into a 3 x 3 matrix.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from eqv2.nn.graph_ops import sum_over_targets
from eqv2.nn.norms import equivariant_norm
from eqv2.so3.harmonics import spherical_harmonics


def mlp(channels: int, num_layers: int) -> nn.Sequential:
    """(num_layers - 1) x (Linear(C, C), SiLU), then Linear(C, 1). [..., C] -> [..., 1]."""
    layers: list[nn.Module] = []
    for _ in range(num_layers - 1):
        layers += [nn.Linear(channels, channels), nn.SiLU()]
    return nn.Sequential(*layers, nn.Linear(channels, 1))


def mean_over_groups(values: Tensor, group: Tensor, num_groups: int) -> Tensor:
    """Mean of values [M, ...] per group [M] -> [num_groups, ...]; empty groups give 0."""
    counts = torch.bincount(group, minlength=num_groups).clamp(min=1).to(values.dtype)
    return sum_over_targets(values, group, num_groups) / counts.view(-1, *([1] * (values.dim() - 1)))


def degree2_basis(dtype: torch.dtype, device: torch.device | None = None) -> Tensor:
    """[5, 3, 3] symmetric traceless matrices with unit Frobenius norm in e3nn's degree-2 order.

    Order: xz, xy, 2yy - xx - zz, yz, zz - xx (the components of e3nn's Y_2).
    """
    basis = torch.zeros(5, 3, 3, dtype=torch.float64)
    x, y, z = 0, 1, 2
    for index, (a, b) in ((0, (x, z)), (1, (x, y)), (3, (y, z))):
        basis[index, a, b] = basis[index, b, a] = 1 / math.sqrt(2)
    basis[2] = torch.diag(torch.tensor([-1.0, 2.0, -1.0], dtype=torch.float64)) / math.sqrt(6)
    basis[4] = torch.diag(torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64)) / math.sqrt(2)
    return basis.to(dtype=dtype, device=device)


def symmetric_tensor_from_irreps(isotropic: Tensor, anisotropic: Tensor) -> Tensor:
    """isotropic [G, 1] and anisotropic [G, 5] -> [G, 3, 3] = iso I / sqrt(3) + sum_k aniso_k B_k."""
    identity = torch.eye(3, dtype=isotropic.dtype, device=isotropic.device) / math.sqrt(3)
    basis = degree2_basis(anisotropic.dtype, anisotropic.device)
    return isotropic[:, :, None] * identity + torch.einsum("gk,kab->gab", anisotropic, basis)


class Rank2StressHead(nn.Module):
    """Node features [N, K, C] -> isotropic [G, 1] and anisotropic [G, 5] stress (network units)."""

    def __init__(
        self,
        channels: int,
        lmax: int,
        norm_type: str,
        use_source_target_embedding: bool = False,
        num_mlp_layers: int = 2,
    ) -> None:
        super().__init__()
        self.lmax = lmax
        self.use_source_target_embedding = use_source_target_embedding
        edge_channels = 2 * channels if use_source_target_embedding else channels
        self.harmonics_norm = equivariant_norm(norm_type, lmax, 1)
        self.edge_norm = nn.LayerNorm(edge_channels)
        self.isotropic_mlp = mlp(edge_channels, num_mlp_layers)
        self.anisotropic_mlp = mlp(edge_channels, num_mlp_layers)

    def edge_features(self, x: Tensor, edge_vectors: Tensor, edge_index: Tensor) -> Tensor:
        """[E, C']: node features of each edge contracted with its normed harmonics, then LayerNorm."""
        source, target = edge_index
        harmonics = spherical_harmonics(self.lmax, edge_vectors, normalize=False, normalization="integral")
        weights = self.harmonics_norm(harmonics[:, :, None])[:, :, 0]  # [E, K]
        features = x.index_select(0, target)
        if self.use_source_target_embedding:
            features = torch.cat([x.index_select(0, source), features], dim=2)
        return self.edge_norm(torch.einsum("ekc,ek->ec", features, weights))

    def forward(
        self, x: Tensor, edge_vectors: Tensor, edge_index: Tensor, graph_index: Tensor, num_graphs: int
    ) -> tuple[Tensor, Tensor]:
        target = edge_index[1]
        edges = self.edge_features(x, edge_vectors, edge_index)  # [E, C']
        degree2 = spherical_harmonics(2, edge_vectors, normalize=True, normalization="integral")[:, 4:]  # [E, 5]
        node_scalar = mean_over_groups(edges, target, x.shape[0])  # [N, C']
        node_degree2 = mean_over_groups(degree2[:, :, None] * edges[:, None, :], target, x.shape[0])  # [N, 5, C']
        isotropic = mean_over_groups(self.isotropic_mlp(node_scalar), graph_index, num_graphs)  # [G, 1]
        anisotropic = mean_over_groups(self.anisotropic_mlp(node_degree2)[:, :, 0], graph_index, num_graphs)
        return isotropic, anisotropic  # [G, 1], [G, 5]
