import math

import pytest
import torch

from eqv2.so3.harmonics import spherical_harmonics
from eqv2.so3.wigner import _sphere_quadrature

LMAX = 12


def unit_vectors(n: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    v = torch.randn(n, 3, generator=generator, dtype=torch.float64)
    return v / v.norm(dim=-1, keepdim=True)


def test_degree_one_is_cartesian():
    v = unit_vectors(20)
    y = spherical_harmonics(1, v, normalization="component")
    assert torch.allclose(y[:, 1:4], math.sqrt(3) * v, atol=1e-14)


def test_degree_two_basis_order():
    x, y, z = unit_vectors(10).unbind(-1)
    expected = torch.stack(
        [x * z, x * y, (2 * y * y - x * x - z * z) / (2 * math.sqrt(3)), y * z, (z * z - x * x) / 2], -1
    )
    got = spherical_harmonics(2, torch.stack([x, y, z], -1), normalization="component")[:, 4:9]
    assert torch.allclose(got, math.sqrt(15) * expected, atol=1e-13)


@pytest.mark.parametrize("normalization, expected", [("component", lambda l: 2 * l + 1), ("norm", lambda l: 1.0)])
def test_normalization_sums(normalization, expected):
    y = spherical_harmonics(LMAX, unit_vectors(50), normalization=normalization)
    for l in range(LMAX + 1):
        sums = y[:, l * l : (l + 1) ** 2].pow(2).sum(-1)
        assert torch.allclose(sums, torch.full_like(sums, float(expected(l))), rtol=1e-11)


def test_integral_normalization_is_orthonormal():
    points, weights = _sphere_quadrature(2 * LMAX)
    y = spherical_harmonics(LMAX, torch.as_tensor(points), normalization="integral")
    gram = torch.einsum("pi,p,pj->ij", y, torch.as_tensor(weights), y)
    assert torch.allclose(gram, torch.eye(gram.shape[0], dtype=torch.float64), atol=1e-12)


def test_unnormalized_scales_as_r_to_the_l():
    v = unit_vectors(10)
    y1 = spherical_harmonics(LMAX, v, normalize=False)
    y3 = spherical_harmonics(LMAX, 3.0 * v, normalize=False)
    for l in range(LMAX + 1):
        assert torch.allclose(y3[:, l * l : (l + 1) ** 2], 3.0**l * y1[:, l * l : (l + 1) ** 2], rtol=1e-11)


def test_gradients_finite_at_poles():
    v = torch.tensor([[0.0, 1.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64, requires_grad=True)
    spherical_harmonics(LMAX, v).sum().backward()
    assert torch.isfinite(v.grad).all()
