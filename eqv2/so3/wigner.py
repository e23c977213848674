"""Real Wigner-D matrices in the basis of `eqv2.so3.harmonics`, computed from rotation matrices.

Defining identity: Y_l(R r) = D^l(R) Y_l(r) for every rotation R and vector r. Hence D^1(R) = R
and D(R1 R2) = D(R1) D(R2).

Route: orthonormality of the harmonics gives D^l_{mm'}(R) = (1/4pi) sum_p w_p Y_lm(R x_p) Y_lm'(x_p)
for any quadrature (x_p, w_p) exact for polynomials of degree 2l on the sphere. We use Gauss-Legendre
nodes in cos(beta) times equispaced alpha. The result is a polynomial in the entries of R: no Euler
angles, so no gimbal lock, and finite gradients for every rotation.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import torch
from torch import Tensor

from eqv2.so3.harmonics import spherical_harmonics


@cache
def _sphere_quadrature(degree: int) -> tuple[np.ndarray, np.ndarray]:
    """Points [P, 3] and weights [P] (summing to 4 pi) exact for polynomials up to ``degree``."""
    num_beta = degree // 2 + 1
    num_alpha = degree + 1
    cos_beta, weight_beta = np.polynomial.legendre.leggauss(num_beta)
    sin_beta = np.sqrt(1.0 - cos_beta**2)
    alpha = 2 * np.pi * np.arange(num_alpha) / num_alpha
    points = np.stack(
        [
            np.outer(sin_beta, np.sin(alpha)),
            np.repeat(cos_beta[:, None], num_alpha, axis=1),
            np.outer(sin_beta, np.cos(alpha)),
        ],
        axis=-1,
    ).reshape(-1, 3)
    weights = np.repeat(weight_beta * 2 * np.pi / num_alpha, num_alpha)
    return points, weights


def wigner_D_blocks(lmax: int, rotation: Tensor, mmax: int | None = None) -> list[Tensor]:
    """Blocks D^l(R) for l = 0..lmax, keeping only rows with |m| <= mmax.

    Args:
        lmax: highest degree.
        rotation: [..., 3, 3] rotation matrices.
        mmax: keep rows m = -min(l, mmax)..min(l, mmax) of each block (all rows when None).

    Returns:
        list of lmax+1 tensors; block l has shape [..., 2 min(l, mmax) + 1, 2l + 1].
    """
    mmax = lmax if mmax is None else mmax
    points_np, weights_np = _sphere_quadrature(2 * lmax)
    points = torch.as_tensor(points_np, dtype=rotation.dtype, device=rotation.device)
    weights = torch.as_tensor(weights_np, dtype=rotation.dtype, device=rotation.device)
    reference = spherical_harmonics(lmax, points, normalization="integral") * weights[:, None]  # [P, K]
    rotated_points = torch.einsum("...ij,pj->...pi", rotation, points)  # [..., P, 3]
    rotated = spherical_harmonics(lmax, rotated_points, normalize=False, normalization="integral")
    blocks = []
    for l in range(lmax + 1):
        keep = min(l, mmax)
        rows = slice(l * l + l - keep, l * l + l + keep + 1)
        columns = slice(l * l, (l + 1) ** 2)
        blocks.append(torch.einsum("...pi,pj->...ij", rotated[..., rows], reference[:, columns]))
    return blocks


def wigner_D(lmax: int, rotation: Tensor) -> Tensor:
    """Block-diagonal D(R) for degrees 0..lmax: [..., 3, 3] -> [..., K, K], K = (lmax+1)^2."""
    return _block_diagonal(wigner_D_blocks(lmax, rotation))


def _block_diagonal(blocks: list[Tensor]) -> Tensor:
    """Place square blocks [..., n_l, n_l] on the diagonal of one [..., sum n_l, sum n_l] matrix."""
    size = sum(block.shape[-1] for block in blocks)
    batch_shape = blocks[0].shape[:-2]
    out = blocks[0].new_zeros(*batch_shape, size, size)
    start = 0
    for block in blocks:
        n = block.shape[-1]
        out[..., start : start + n, start : start + n] = block
        start += n
    return out
