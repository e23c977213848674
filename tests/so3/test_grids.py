import pytest
import torch

from eqv2.so3.grids import s2_grid_matrices, separable_factors
from eqv2.so3.layout import CoefficientLayout


@pytest.mark.parametrize("lmax, mmax", [(2, 2), (4, 2), (6, 3), (8, 8), (12, 12), (12, 4)])
def test_round_trip_on_band_limited_signals(lmax, mmax):
    resolution = 2 * (lmax + 1)
    to_grid, from_grid = s2_grid_matrices(lmax, mmax, resolution, resolution + 1, dtype=torch.float64)
    x = torch.randn(3, CoefficientLayout(lmax, mmax).num_reduced, 5, dtype=torch.float64)
    grid = torch.einsum("bai,zic->zbac", to_grid, x)
    back = torch.einsum("bai,zbac->zic", from_grid, grid)
    layout = CoefficientLayout(lmax, mmax)
    degrees = layout.reduced_degrees().to(torch.float64)
    rescale_squared = torch.where(degrees > mmax, (2 * degrees + 1) / (2 * mmax + 1), torch.ones_like(degrees))
    assert torch.allclose(back, rescale_squared[:, None] * x, atol=1e-12)


def test_rejects_too_coarse_grid():
    with pytest.raises(ValueError, match="res_beta"):
        s2_grid_matrices(6, 2, 10, 10)


GRID_CASES = [(2, 2, 6, 7), (4, 2, 18, 18), (6, 3, 14, 9), (8, 8, 18, 19)]


@pytest.mark.parametrize("lmax, mmax, res_beta, res_alpha", GRID_CASES)
def test_grid_matrices_factor_through_latitude_and_longitude(lmax, mmax, res_beta, res_alpha):
    orders = torch.tensor([m for _, m in CoefficientLayout(lmax, mmax).reduced_degrees_orders])
    for matrix in s2_grid_matrices(lmax, mmax, res_beta, res_alpha, dtype=torch.float64):
        polar, azimuthal = separable_factors(matrix, orders, mmax)
        rebuilt = torch.einsum("mbi,am->bai", polar, azimuthal)
        assert torch.allclose(rebuilt, matrix, atol=1e-13)


def test_factoring_rejects_a_matrix_with_wrong_orders():
    to_grid, _ = s2_grid_matrices(2, 2, 6, 7, dtype=torch.float64)
    orders = torch.tensor([m for _, m in CoefficientLayout(2, 2).reduced_degrees_orders])
    with pytest.raises(ValueError, match="does not factor"):
        separable_factors(to_grid, -orders, 2)
