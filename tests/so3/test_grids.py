import pytest
import torch

from eqv2.so3.grids import s2_grid_matrices
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
