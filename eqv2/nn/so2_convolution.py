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


def scaled(x: Tensor, scale: Tensor | None) -> Tensor:
    """x * scale, or x itself when there is no scale."""
    return x if scale is None else x * scale


class ScaledLinear(torch.autograd.Function):
    """y = (x * s) @ W^T + b that keeps x and s for backward, not the product x * s.

    x, s [E, Q] (s may be None: no scaling); W [P, Q]; b [P]. Autograd alone would store x, s and
    x * s; recomputing the product in backward costs one elementwise multiply and saves an [E, Q]
    tensor per call (training memory). Backward is built from differentiable operations, so double
    backward works. Under autocast the products run in the gradient's dtype (as autocast ran them
    forward) and each gradient comes back in its input's dtype.
    """

    @staticmethod
    def forward(ctx, x: Tensor, scale: Tensor | None, weight: Tensor, bias: Tensor) -> Tensor:
        ctx.save_for_backward(x, scale, weight)
        return torch.addmm(bias, scaled(x, scale), weight.T)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, scale, weight = ctx.saved_tensors
        low = grad.dtype  # the products' dtype: autocast's, or the inputs' own
        grad_scaled = (grad @ weight.to(low)).to(x.dtype)
        grad_x = scaled(grad_scaled, scale) if ctx.needs_input_grad[0] else None
        grad_scale = grad_scaled * x if ctx.needs_input_grad[1] else None
        grad_weight = (grad.T @ scaled(x, scale).to(low)).to(weight.dtype) if ctx.needs_input_grad[2] else None
        grad_bias = grad.sum(0).to(weight.dtype) if ctx.needs_input_grad[3] else None
        return grad_x, grad_scale, grad_weight, grad_bias


class ScaledComplexMultiply(torch.autograd.Function):
    """(W_r + i W_i)((x_+ + i x_-) * s) with three real products instead of four (Gauss's trick).

    ``weight`` [2 P, Q] stacks W_r over W_i; x_plus, x_minus, scale [E, Q] (scale real, shared by
    both parts, or None). With a_+- = x_+- * s, returns (W_r a_+ - W_i a_-, W_r a_- + W_i a_+), each [E, P],
    computed as k1 - k3 and k1 + k2 with k1 = (W_r + W_i) a_+, k2 = W_r (a_- - a_+),
    k3 = W_i (a_+ + a_-). Backward keeps x_+, x_-, s and recomputes the rest (see `ScaledLinear`);
    the gradients are the conjugate products, also with three real products each.
    """

    @staticmethod
    def forward(ctx, weight: Tensor, x_plus: Tensor, x_minus: Tensor, scale: Tensor | None) -> tuple[Tensor, Tensor]:
        ctx.save_for_backward(weight, x_plus, x_minus, scale)
        real, imaginary = weight.chunk(2, dim=0)  # each [P, Q]
        a_plus, a_minus = scaled(x_plus, scale), scaled(x_minus, scale)
        k1 = a_plus @ (real + imaginary).T
        k2 = (a_minus - a_plus) @ real.T
        k3 = (a_plus + a_minus) @ imaginary.T
        return k1 - k3, k1 + k2

    @staticmethod
    def backward(ctx, grad_plus: Tensor, grad_minus: Tensor) -> tuple[Tensor | None, ...]:
        weight, x_plus, x_minus, scale = ctx.saved_tensors
        low = grad_plus.dtype  # as in `ScaledLinear.backward`
        real, imaginary = weight.to(low).chunk(2, dim=0)
        a_plus, a_minus = scaled(x_plus, scale), scaled(x_minus, scale)
        grad_weight = None
        if ctx.needs_input_grad[0]:
            # dW_r = g_+^T a_+ + g_-^T a_-,  dW_i = g_-^T a_+ - g_+^T a_-
            k1 = (grad_plus + grad_minus).T @ a_plus.to(low)
            k2 = grad_minus.T @ (a_minus - a_plus).to(low)
            k3 = grad_plus.T @ (a_plus + a_minus).to(low)
            grad_weight = torch.cat([k1 + k2, k1 - k3], dim=0).to(weight.dtype)
        grad_x_plus = grad_x_minus = grad_scale = None
        if any(ctx.needs_input_grad[1:]):
            # d a_+ = g_+ W_r + g_- W_i,  d a_- = g_- W_r - g_+ W_i
            k1 = (grad_plus + grad_minus) @ real
            k2 = grad_plus @ (-imaginary - real)
            k3 = grad_minus @ (real - imaginary)
            grad_a_plus, grad_a_minus = (k1 - k3).to(x_plus.dtype), (k1 + k2).to(x_plus.dtype)
            if ctx.needs_input_grad[1]:
                grad_x_plus = scaled(grad_a_plus, scale)
            if ctx.needs_input_grad[2]:
                grad_x_minus = scaled(grad_a_minus, scale)
            if ctx.needs_input_grad[3]:
                grad_scale = grad_a_plus * x_plus + grad_a_minus * x_minus
        return grad_weight, grad_x_plus, grad_x_minus, grad_scale


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

        # split, not slices: the backward of a split is one concatenation, that of each slice a
        # zero-filled copy of the whole input
        n0 = self.order_sizes[0]
        x_by_order = x.split([n0] + [2 * n for n in self.order_sizes[1:]], dim=1)
        if weights is None:
            scales: list[Tensor | None] = [None] * len(self.order_sizes)
        else:
            scales = list(weights.split([n * self.in_channels for n in self.order_sizes], dim=1))
        x0 = x_by_order[0].reshape(num_edges, n0 * self.in_channels)  # index l * C_in + c
        y0 = ScaledLinear.apply(x0, scales[0], self.linear_m0.weight, self.linear_m0.bias)
        extra, y0 = y0.split([self.extra_channels, n0 * self.out_channels], dim=1)
        outputs = [y0.reshape(num_edges, n0, self.out_channels)]

        for n, linear, xm, scale in zip(self.order_sizes[1:], self.linear_m, x_by_order[1:], scales[1:]):
            x_plus, x_minus = xm.reshape(num_edges, 2, n * self.in_channels).unbind(1)  # (+m, -m)
            y_plus, y_minus = ScaledComplexMultiply.apply(linear.weight, x_plus, x_minus, scale)
            outputs += [
                y_plus.reshape(num_edges, n, self.out_channels),
                y_minus.reshape(num_edges, n, self.out_channels),
            ]
        return torch.cat(outputs, dim=1), extra
