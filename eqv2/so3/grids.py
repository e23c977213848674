"""Projections between spherical-harmonic coefficients and values on an S2 grid.

The grid has ``res_beta`` polar angles beta_b = (b + 1/2) pi / res_beta and ``res_alpha`` azimuths
alpha_a = 2 pi a / res_alpha; point (b, a) is (sin b sin a, cos b, sin b cos a) (y is the pole).

For coefficients x (reduced layout of (lmax, mmax)) and grid values f:

    f[b, a] = sum_i to_grid[b, a, i] x_i          to_grid   = Yn_i(p_ba) s_i / sqrt(lmax + 1)
    x_i = sum_{b,a} from_grid[b, a, i] f[b, a]    from_grid = Yn_i(p_ba) s_i (2 l_i + 1) sqrt(lmax + 1) q_b

with Yn the harmonics normalized so that sum_m Yn_lm^2 = 1, q_b the Driscoll-Healy / Kostelec-Rockmore
quadrature weights in beta (scaled by res_beta^2 / res_alpha), and s_i = sqrt((2l+1)/(2 mmax+1))
for l > mmax (1 otherwise). When res_beta >= 2 (lmax + 1) and res_alpha >= 2 lmax + 1 the round
trip from_grid(to_grid(x)) is exact: it returns s_i^2 x_i (x itself when mmax = lmax).
These are the matrices EquiformerV2 checkpoints were trained with, so the scales matter: a pointwise
non-linearity sits between them.

Both matrices factor through latitude and longitude (`separable_factors`): the harmonic of order m
is a function of beta times cos(m alpha) (m >= 0) or sin(|m| alpha) (m < 0), so

    to_grid[b, a, i] = polar[m_i, b, i] * azimuthal[a, m_i]

and a transform costs (2 mmax + 1) (R + res_alpha) res_beta products per channel instead of
res_beta res_alpha R.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from eqv2.so3.harmonics import spherical_harmonics
from eqv2.so3.layout import CoefficientLayout


def grid_points(res_beta: int, res_alpha: int) -> np.ndarray:
    """[res_beta, res_alpha, 3] unit vectors of the grid."""
    beta = (np.arange(res_beta) + 0.5) * np.pi / res_beta
    alpha = 2 * np.pi * np.arange(res_alpha) / res_alpha
    return np.stack(
        [
            np.outer(np.sin(beta), np.sin(alpha)),
            np.repeat(np.cos(beta)[:, None], res_alpha, axis=1),
            np.outer(np.sin(beta), np.cos(alpha)),
        ],
        axis=-1,
    )


def beta_quadrature_weights(res_beta: int) -> np.ndarray:
    """[res_beta] Kostelec-Rockmore weights for beta_b = (b + 1/2) pi / res_beta (res_beta even)."""
    if res_beta % 2:
        raise ValueError(f"res_beta must be even, got {res_beta}")
    n = res_beta // 2
    j = np.arange(2 * n)[:, None]
    k = np.arange(n)[None, :]
    series = (np.sin((2 * j + 1) * (2 * k + 1) * np.pi / (4 * n)) / (2 * k + 1)).sum(axis=1)
    weights = (2.0 / n) * np.sin(np.pi * (2 * np.arange(2 * n) + 1) / (4 * n)) * series
    return weights / (2 * (2 * n) ** 2)


def reference_resolution(lmax: int, mmax: int) -> tuple[int, int]:
    """(res_beta, res_alpha) that fairchem's EquiformerV2 picks when grid_resolution is None."""
    res_beta = 2 * (lmax + 1)
    res_alpha = 2 * (mmax + 1) + 1 if lmax == mmax else 2 * mmax + 1
    return res_beta, res_alpha


def s2_grid_matrices(
    lmax: int, mmax: int, res_beta: int, res_alpha: int, dtype: torch.dtype = torch.float32
) -> tuple[Tensor, Tensor]:
    """(to_grid, from_grid), each [res_beta, res_alpha, R] for the reduced layout of (lmax, mmax).

    Computed in float64, then cast to ``dtype``. Use float32 to reproduce float32-born matrices
    of fairchem checkpoints bit for bit.
    """
    if res_beta < 2 * (lmax + 1):
        raise ValueError(f"res_beta={res_beta} too small for lmax={lmax}: need >= {2 * (lmax + 1)}")
    layout = CoefficientLayout(lmax, mmax)
    points = torch.as_tensor(grid_points(res_beta, res_alpha))
    harmonics = spherical_harmonics(lmax, points, normalization="norm")  # [B, A, K]
    degrees = layout.full_degrees().to(torch.float64)
    rescale = torch.where(degrees > mmax, torch.sqrt((2 * degrees + 1) / (2 * mmax + 1)), torch.ones_like(degrees))
    harmonics = harmonics * rescale
    weights = torch.as_tensor(beta_quadrature_weights(res_beta)) * res_beta**2 / res_alpha
    to_grid = harmonics / math.sqrt(lmax + 1)
    from_grid = harmonics * (2 * degrees + 1) * math.sqrt(lmax + 1) * weights[:, None, None]
    index = layout.reduced_index()
    return to_grid[..., index].to(dtype), from_grid[..., index].to(dtype)


def azimuthal_basis(mmax: int, res_alpha: int) -> np.ndarray:
    """[res_alpha, 2 mmax + 1]: column mmax + m is cos(m alpha_a) for m >= 0, sin(|m| alpha_a) for m < 0."""
    alpha = 2 * np.pi * np.arange(res_alpha) / res_alpha
    orders = np.arange(-mmax, mmax + 1)
    return np.where(orders >= 0, np.cos(orders * alpha[:, None]), np.sin(-orders * alpha[:, None]))


def separable_factors(matrix: Tensor, orders: Tensor, mmax: int) -> tuple[Tensor, Tensor]:
    """(polar [2 mmax + 1, B, R], azimuthal [A, 2 mmax + 1]) with
    matrix[b, a, i] = polar[mmax + m_i, b, i] * azimuthal[a, mmax + m_i] (polar is zero elsewhere).

    ``matrix`` [B, A, R] is a to_grid or from_grid matrix (float64) whose column i has order
    ``orders[i]``. Raises if the matrix does not factor (to 1e-10).
    """
    azimuthal = torch.as_tensor(azimuthal_basis(mmax, matrix.shape[1]), dtype=matrix.dtype)
    columns = azimuthal[:, orders + mmax]  # [A, R]
    polar_of_column = torch.einsum("bai,ai->bi", matrix, columns) / (columns * columns).sum(0)
    error = (matrix - polar_of_column[:, None, :] * columns[None]).abs().max()
    if error > 1e-10 * max(1.0, float(matrix.abs().max())):
        raise ValueError(f"grid matrix does not factor through latitude and longitude (error {float(error):.1e})")
    polar = torch.zeros(2 * mmax + 1, *polar_of_column.shape, dtype=matrix.dtype)
    polar[orders + mmax, :, torch.arange(len(orders))] = polar_of_column.transpose(0, 1)
    return polar, azimuthal
