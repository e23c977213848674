"""The rank-2 stress head's change of basis and its symmetry."""

import math

import torch

from eqv2.nn.rank2_head import Rank2StressHead, degree2_basis, symmetric_tensor_from_irreps
from eqv2.so3.harmonics import spherical_harmonics


def test_degree2_basis_is_orthonormal_symmetric_traceless():
    basis = degree2_basis(torch.float64)
    gram = torch.einsum("iab,jab->ij", basis, basis)
    assert torch.allclose(gram, torch.eye(5, dtype=torch.float64))
    assert torch.equal(basis, basis.transpose(1, 2))
    assert basis.diagonal(dim1=1, dim2=2).sum(-1).abs().max() < 1e-15


def test_degree2_basis_follows_the_harmonics_order():
    """sum_k Y_2k(r) B_k is proportional to the traceless part of r r^T, in e3nn's component order."""
    vectors = torch.randn(10, 3, dtype=torch.float64)
    harmonics = spherical_harmonics(2, vectors, normalize=True, normalization="component")[:, 4:]
    tensors = torch.einsum("ek,kab->eab", harmonics, degree2_basis(torch.float64))
    unit = vectors / vectors.norm(dim=1, keepdim=True)
    traceless = unit[:, :, None] * unit[:, None, :] - torch.eye(3, dtype=torch.float64) / 3
    assert torch.allclose(tensors, math.sqrt(15 / 2) * traceless)


def test_symmetric_tensor_from_irreps_trace_and_parts():
    isotropic, anisotropic = torch.tensor([[math.sqrt(3)]]), torch.zeros(1, 5)
    assert torch.allclose(symmetric_tensor_from_irreps(isotropic, anisotropic)[0], torch.eye(3))


def test_isotropic_part_is_rotation_invariant():
    """The isotropic part is invariant. The anisotropic one is not equivariant: like the reference, its
    MLP has biases and a SiLU on each of the 5 components."""
    torch.manual_seed(0)
    head = Rank2StressHead(4, 2, "rms_norm_sh", use_source_target_embedding=True).double()
    x = torch.zeros(3, 9, 4, dtype=torch.float64)
    x[:, 0] = torch.randn(3, 4, dtype=torch.float64)  # invariant node features
    edge_index = torch.tensor([[1, 2, 0, 2, 0, 1], [0, 0, 1, 1, 2, 2]])
    positions = torch.randn(3, 3, dtype=torch.float64)
    vectors = positions[edge_index[0]] - positions[edge_index[1]]
    rotation = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64))[0]
    graph_index = torch.zeros(3, dtype=torch.long)
    isotropic, _ = head(x, vectors, edge_index, graph_index, 1)
    rotated, _ = head(x, vectors @ rotation.T, edge_index, graph_index, 1)
    assert torch.allclose(isotropic, rotated, atol=1e-12)
