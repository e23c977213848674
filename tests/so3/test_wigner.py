import torch

from eqv2.so3.harmonics import spherical_harmonics
from eqv2.so3.wigner import wigner_D, wigner_D_blocks
from eqv2.testing import random_rotation

LMAX = 12
K = (LMAX + 1) ** 2


def rotations(n: int, seed: int) -> torch.Tensor:
    return torch.stack([torch.as_tensor(random_rotation(seed * 1000 + i)) for i in range(n)])


def test_degree_one_block_is_the_rotation():
    r = rotations(8, 0)
    assert torch.allclose(wigner_D(1, r)[:, 1:4, 1:4], r, atol=1e-14)


def test_rotates_harmonics():
    """Y(R r) = D(R) Y(r)."""
    r = rotations(8, 1)
    v = torch.randn(8, 3, dtype=torch.float64)
    rotated = spherical_harmonics(LMAX, torch.einsum("eij,ej->ei", r, v))
    assert torch.allclose(
        rotated, torch.einsum("eij,ej->ei", wigner_D(LMAX, r), spherical_harmonics(LMAX, v)), atol=1e-11
    )


def test_homomorphism_and_orthogonality():
    """D(R1 R2) = D(R1) D(R2) and D D^T = I up to degree 12."""
    r1, r2 = rotations(6, 2), rotations(6, 3)
    d1, d2 = wigner_D(LMAX, r1), wigner_D(LMAX, r2)
    assert torch.allclose(wigner_D(LMAX, r1 @ r2), d1 @ d2, atol=1e-11)
    assert torch.allclose(d1 @ d1.transpose(1, 2), torch.eye(K, dtype=torch.float64).expand(6, K, K), atol=1e-11)


def test_truncated_rows_are_the_middle_rows():
    r = rotations(4, 4)
    full = wigner_D_blocks(6, r)
    truncated = wigner_D_blocks(6, r, mmax=2)
    for l in range(7):
        keep = min(l, 2)
        assert torch.equal(truncated[l], full[l][:, l - keep : l + keep + 1]) or torch.allclose(
            truncated[l], full[l][:, l - keep : l + keep + 1], atol=1e-14
        )


def test_gradient_matches_finite_difference():
    """D is a polynomial in R: autograd agrees with central differences."""
    r = rotations(1, 5).requires_grad_(True)
    direction = torch.randn(3, 3, dtype=torch.float64)
    weights = torch.randn(K, K, dtype=torch.float64)
    (wigner_D(LMAX, r)[0] * weights).sum().backward()
    h = 1e-6
    plus = (wigner_D(LMAX, (r + h * direction).detach())[0] * weights).sum()
    minus = (wigner_D(LMAX, (r - h * direction).detach())[0] * weights).sum()
    assert torch.allclose((plus - minus) / (2 * h), (r.grad[0] * direction).sum(), rtol=1e-6)
