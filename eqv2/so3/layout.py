"""Coefficient layouts for degree/order truncation (lmax, mmax).

Three orders of the same coefficients appear in EquiformerV2:

- **full** (l-major): index ``l*l + m + l`` for l = 0..lmax, m = -l..l; K = (lmax+1)^2 entries.
- **reduced** (l-major): the full order keeping only |m| <= mmax; R entries.
- **m-major** (reduced): m = 0 for l = 0..lmax, then for m = 1..mmax the block (+m, l = m..lmax)
  followed by the block (-m, l = m..lmax). The SO(2) convolution works in this order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import torch
from torch import Tensor


@dataclass(frozen=True)
class CoefficientLayout:
    """Index tables for degrees 0..lmax truncated to orders |m| <= mmax."""

    lmax: int
    mmax: int

    def __post_init__(self) -> None:
        if not 0 <= self.mmax <= self.lmax:
            raise ValueError(f"need 0 <= mmax <= lmax, got lmax={self.lmax}, mmax={self.mmax}")

    @property
    def num_full(self) -> int:
        """K = (lmax+1)^2."""
        return (self.lmax + 1) ** 2

    @cached_property
    def reduced_degrees_orders(self) -> list[tuple[int, int]]:
        """(l, m) of each reduced coefficient, l-major."""
        return [(l, m) for l in range(self.lmax + 1) for m in range(-l, l + 1) if abs(m) <= self.mmax]

    @property
    def num_reduced(self) -> int:
        """R = sum_l (2 min(l, mmax) + 1)."""
        return len(self.reduced_degrees_orders)

    def reduced_index(self) -> Tensor:
        """[R] positions of the reduced coefficients in the full layout."""
        return torch.tensor([l * l + m + l for l, m in self.reduced_degrees_orders], dtype=torch.long)

    def full_degrees(self) -> Tensor:
        """[K] degree l of each full coefficient."""
        return torch.tensor([l for l in range(self.lmax + 1) for _ in range(2 * l + 1)], dtype=torch.long)

    def reduced_degrees(self) -> Tensor:
        """[R] degree l of each reduced coefficient."""
        return torch.tensor([l for l, _ in self.reduced_degrees_orders], dtype=torch.long)

    @cached_property
    def m_major_degrees_orders(self) -> list[tuple[int, int]]:
        """(l, m) of each coefficient in m-major order."""
        order = [(l, 0) for l in range(self.lmax + 1)]
        for m in range(1, self.mmax + 1):
            order += [(l, m) for l in range(m, self.lmax + 1)]
            order += [(l, -m) for l in range(m, self.lmax + 1)]
        return order

    def reduced_to_m_major(self) -> Tensor:
        """[R] permutation p with ``x_m_major = x_reduced[..., p, :]``."""
        position = {lm: i for i, lm in enumerate(self.reduced_degrees_orders)}
        return torch.tensor([position[lm] for lm in self.m_major_degrees_orders], dtype=torch.long)

    def m_major_to_reduced(self) -> Tensor:
        """[R] inverse permutation of `reduced_to_m_major`."""
        return torch.argsort(self.reduced_to_m_major())

    def order_sizes(self) -> list[int]:
        """Number of degrees with each order m = 0..mmax: [lmax+1, lmax, ..., lmax-mmax+1]."""
        return [self.lmax + 1 - m for m in range(self.mmax + 1)]

    def inverse_rotation_rescale(self) -> Tensor:
        """[R] factor sqrt((2l+1)/(2 mmax+1)) for degrees l > mmax, else 1.

        EquiformerV2 applies it when rotating truncated features back out of the edge frame, to
        restore the norm of degrees that lost orders |m| > mmax.
        """
        return torch.tensor(
            [
                math.sqrt((2 * l + 1) / (2 * self.mmax + 1)) if l > self.mmax else 1.0
                for l, _ in self.reduced_degrees_orders
            ]
        )
