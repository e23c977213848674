"""Real spherical harmonics in e3nn's basis (y is the polar axis).

Coefficients are ordered l-major: index ``l*l + (m + l)`` for m = -l..l, so K = (lmax+1)^2.
In this basis Y_1(r) is proportional to (x, y, z) and Y_2 to (xz, xy, 2y^2-x^2-z^2, yz, z^2-x^2).

Construction: with the relabelling (x_s, y_s, z_s) = (z, x, y) these are the textbook real
harmonics with z_s polar and no Condon-Shortley phase,

    Y_l^{+m} ~ Q_l^m(z_s, r) Re((x_s + i y_s)^m),   Y_l^{-m} ~ Q_l^m(z_s, r) Im((x_s + i y_s)^m),

where Q_l^m is the homogeneous polynomial with P_l^m(cos t) = sin^m(t) Q_l^m(cos t). Every entry is a
polynomial in (x, y, z), so values and gradients are finite everywhere, poles included.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

NORMALIZATIONS = ("component", "norm", "integral")


def _normalization_constants(lmax: int, normalization: str) -> list[list[float]]:
    """c[l][m] such that Y_l^{+-m} = c[l][m] * Q_l^m * (Re|Im)(x_s + i y_s)^m."""
    constants = []
    for l in range(lmax + 1):
        row = []
        for m in range(l + 1):
            # orthonormal on the unit sphere: sqrt((2l+1)/(4 pi) (l-m)!/(l+m)!), times sqrt(2) for m > 0
            value = (2 * l + 1) / (4 * math.pi) * math.exp(math.lgamma(l - m + 1) - math.lgamma(l + m + 1))
            value = math.sqrt(value * (2.0 if m > 0 else 1.0))
            if normalization == "component":
                value *= math.sqrt(4 * math.pi)
            elif normalization == "norm":
                value *= math.sqrt(4 * math.pi / (2 * l + 1))
            row.append(value)
        constants.append(row)
    return constants


def spherical_harmonics(lmax: int, vectors: Tensor, normalize: bool = True, normalization: str = "component") -> Tensor:
    """Real spherical harmonics Y_lm(r) for l = 0..lmax.

    Args:
        lmax: highest degree.
        vectors: [..., 3] Cartesian vectors (x, y, z).
        normalize: evaluate at r / |r| (True) or at r itself, giving |r|^l scaling (False).
        normalization: "component" (sum_m Y_lm^2 = 2l+1 on the unit sphere), "norm" (= 1) or
            "integral" (integral of Y_lm^2 over the sphere = 1).

    Returns:
        [..., K] with K = (lmax+1)^2, l-major order.
    """
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
    if normalize:
        vectors = vectors / vectors.norm(dim=-1, keepdim=True)
    x_s, y_s, z_s = vectors[..., 2], vectors[..., 0], vectors[..., 1]
    r2 = x_s * x_s + y_s * y_s + z_s * z_s
    one = torch.ones_like(z_s)

    # cos_m + i sin_m = (x_s + i y_s)^m
    cos_m, sin_m = [one], [torch.zeros_like(z_s)]
    for _ in range(lmax):
        previous_cos, previous_sin = cos_m[-1], sin_m[-1]
        cos_m.append(x_s * previous_cos - y_s * previous_sin)
        sin_m.append(x_s * previous_sin + y_s * previous_cos)

    constants = _normalization_constants(lmax, normalization)
    q = [[None] * (lmax + 1) for _ in range(lmax + 1)]  # q[l][m] = Q_l^m
    for m in range(lmax + 1):
        q[m][m] = one * float(math.prod(range(1, 2 * m, 2)))  # (2m-1)!!
        if m + 1 <= lmax:
            q[m + 1][m] = (2 * m + 1) * z_s * q[m][m]
        for l in range(m + 2, lmax + 1):
            q[l][m] = ((2 * l - 1) * z_s * q[l - 1][m] - (l + m - 1) * r2 * q[l - 2][m]) / (l - m)

    columns = []
    for l in range(lmax + 1):
        for m in range(-l, l + 1):
            angular = sin_m[-m] if m < 0 else cos_m[m]
            columns.append(constants[l][abs(m)] * q[l][abs(m)] * angular)
    return torch.stack(columns, dim=-1)
