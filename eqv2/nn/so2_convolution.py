"""eSCN SO(2) convolution in the edge frame.

In the frame where the edge points along +y, the SO(3) tensor product with the edge's harmonics
reduces to independent linear maps per order m. For m > 0 the pair (x_{+m}, x_{-m}) transforms like a
complex number, so the map is a complex multiplication:

    y_{+m} = W_r x_{+m} - W_i x_{-m},    y_{-m} = W_r x_{-m} + W_i x_{+m},

with W_r, W_i mixing all degrees l >= m and channels. For m = 0 it is one real linear map (with bias).
Features are in the m-major reduced layout of `eqv2.so3.CoefficientLayout`: [E, R, C].
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from eqv2.nn.linear import RadialMLP
from eqv2.so3.layout import CoefficientLayout


def complex_multiply(weight: Tensor, x_plus: Tensor, x_minus: Tensor) -> tuple[Tensor, Tensor]:
    """(W_r + i W_i)(x_+ + i x_-) with three real products instead of four (Gauss's trick).

    ``weight`` [2 P, Q] stacks W_r over W_i; x_plus, x_minus [E, Q]. Returns
    (W_r x_+ - W_i x_-, W_r x_- + W_i x_+), each [E, P], computed as k1 - k3 and k1 + k2 with
    k1 = (W_r + W_i) x_+, k2 = W_r (x_- - x_+), k3 = W_i (x_+ + x_-).
    """
    real, imaginary = weight.chunk(2, dim=0)  # each [P, Q]
    k1 = x_plus @ (real + imaginary).T
    k2 = (x_minus - x_plus) @ real.T
    k3 = (x_plus + x_minus) @ imaginary.T
    return k1 - k3, k1 + k2


class SO2Convolution(nn.Module):
    """[E, R, C_in] (m-major) -> [E, R, C_out], plus ``extra_channels`` invariant outputs at m = 0.

    With ``radial_sizes`` an MLP of the edge scalars gives one weight per (m, l, input channel) that
    multiplies the input (both +m and -m share it).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        layout: CoefficientLayout,
        extra_channels: int = 0,
        radial_sizes: list[int] | None = None,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.extra_channels = extra_channels
        self.order_sizes = layout.order_sizes()  # degrees per order m: [L+1, L, ..., L-M+1]
        self.linear_m0 = nn.Linear(
            self.order_sizes[0] * in_channels, self.order_sizes[0] * out_channels + extra_channels
        )
        self.linear_m = nn.ModuleList(
            nn.Linear(n * in_channels, 2 * n * out_channels, bias=False) for n in self.order_sizes[1:]
        )
        for linear in self.linear_m:
            linear.weight.data.mul_(2**-0.5)
        self.radial = None
        if radial_sizes is not None:
            self.radial = RadialMLP(radial_sizes + [sum(self.order_sizes) * in_channels])

    def forward(self, x: Tensor, edge_scalars: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Returns (y [E, R, C_out] m-major, extra [E, extra_channels])."""
        num_edges = x.shape[0]
        weights = self.radial(edge_scalars) if self.radial is not None else None

        n0 = self.order_sizes[0]
        x0 = x[:, :n0].reshape(num_edges, n0 * self.in_channels)  # index l * C_in + c
        offset = n0 * self.in_channels
        if weights is not None:
            x0 = x0 * weights[:, :offset]
        y0 = self.linear_m0(x0)
        extra = y0[:, : self.extra_channels]
        outputs = [y0[:, self.extra_channels :].reshape(num_edges, n0, self.out_channels)]

        row = n0
        for n, linear in zip(self.order_sizes[1:], self.linear_m):
            xm = x[:, row : row + 2 * n].reshape(num_edges, 2, n * self.in_channels)  # (+m, -m)
            row += 2 * n
            if weights is not None:
                xm = xm * weights[:, None, offset : offset + n * self.in_channels]
                offset += n * self.in_channels
            y_plus, y_minus = complex_multiply(linear.weight, xm[:, 0], xm[:, 1])
            outputs += [
                y_plus.reshape(num_edges, n, self.out_channels),
                y_minus.reshape(num_edges, n, self.out_channels),
            ]
        return torch.cat(outputs, dim=1), extra
