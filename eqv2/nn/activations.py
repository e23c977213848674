"""Non-linearities for spherical-harmonic features.

- `GateActivation`: SiLU on degree 0; each degree l > 0 multiplied by sigmoid(gate_l) per channel.
- `S2Activation`: project to an S2 grid, SiLU pointwise, project back (all degrees).
- `SeparableS2Activation`: degree 0 from SiLU(separate scalars), degrees > 0 from the S2 activation.
- `SmoothLeakyReLU`: f(x) = (1+a)/2 x + (1-a)/2 x (2 sigmoid(x) - 1), a = 0.2, for attention logits.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from eqv2.so3.grids import s2_grid_matrices, separable_factors
from eqv2.so3.layout import CoefficientLayout


class SmoothLeakyReLU(nn.Module):
    def __init__(self, negative_slope: float = 0.2) -> None:
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x: Tensor) -> Tensor:
        a = self.negative_slope
        return (1 + a) / 2 * x + (1 - a) / 2 * x * (2 * torch.sigmoid(x) - 1)


# Grid values held at once by `S2Grid.apply`: on CPUs about 4 MB in float32, sized to stay in cache;
# on GPUs 512 MB, so that the transforms run as few large kernels (small chunks cost launch overhead).
GRID_CHUNK_VALUES = {"cpu": 2**20, "cuda": 2**27}


class S2Grid(nn.Module):
    """Grid projections for one coefficient set: ``to_grid_matrix`` and ``from_grid_matrix`` [B, A, R].

    ``coefficient_order`` [R] permutes the reduced l-major columns (e.g. into m-major order).
    `apply` uses the matrices in their separable form (`eqv2.so3.grids.separable_factors`): a
    polar factor ([M*B, R] for to_grid, [R, M*B] for from_grid, M = 2 mmax + 1 orders) and an
    azimuthal one ([A, M] and [M, A]).
    """

    def __init__(
        self, lmax: int, mmax: int, res_beta: int, res_alpha: int, coefficient_order: Tensor | None = None
    ) -> None:
        super().__init__()
        to_grid, from_grid = s2_grid_matrices(lmax, mmax, res_beta, res_alpha, dtype=torch.float64)
        orders = torch.tensor([m for _, m in CoefficientLayout(lmax, mmax).reduced_degrees_orders])
        if coefficient_order is not None:
            to_grid, from_grid = to_grid[..., coefficient_order], from_grid[..., coefficient_order]
            orders = orders[coefficient_order]
        self.register_buffer("to_grid_matrix", to_grid, persistent=False)
        self.register_buffer("from_grid_matrix", from_grid, persistent=False)
        to_polar, to_azimuthal = separable_factors(to_grid, orders, mmax)
        from_polar, from_azimuthal = separable_factors(from_grid, orders, mmax)
        self.register_buffer("to_polar", to_polar.flatten(0, 1), persistent=False)  # [M*B, R]
        self.register_buffer("to_azimuthal", to_azimuthal, persistent=False)  # [A, M]
        self.register_buffer("from_azimuthal", from_azimuthal.transpose(0, 1).contiguous(), persistent=False)
        self.register_buffer("from_polar", from_polar.flatten(0, 1).transpose(0, 1).contiguous(), persistent=False)
        self.res_beta = res_beta

    def chunk_rows(self, x: Tensor) -> int:
        """Rows of x [Z, R, C] per chunk: about `GRID_CHUNK_VALUES` grid values."""
        grid_points = self.res_beta * self.to_azimuthal.shape[0]
        return max(1, GRID_CHUNK_VALUES.get(x.device.type, GRID_CHUNK_VALUES["cpu"]) // (grid_points * x.shape[2]))

    def apply(self, x: Tensor, function: Callable[[Tensor], Tensor]) -> Tensor:
        """from_grid(function(to_grid(x))) for x [Z, R, C]; ``function`` acts on [P, C] grid values,
        one row per grid point of each row of x, in no particular order (pointwise functions, or maps
        over the channels of each point).

        Computed over chunks of rows of x so that the grid values (A*B times larger than x) stay in
        cache and are never all in memory at once; the result is the same as the unchunked formula.
        Each chunk is laid out [R, z*C] (coefficients first), so each of the four transforms is one
        matrix product over the whole chunk, not one small product per row of x.
        Under autograd the grid values are recomputed in backward instead of stored (checkpointing).
        """
        to_polar, to_azimuthal = self.to_polar.to(x.dtype), self.to_azimuthal.to(x.dtype)
        from_polar, from_azimuthal = self.from_polar.to(x.dtype), self.from_azimuthal.to(x.dtype)
        channels = x.shape[2]

        def project_apply_back(part: Tensor) -> Tensor:
            grid = coefficients_to_grid(part, to_polar, to_azimuthal)  # [A, B*z*C]
            values = function(grid.view(-1, channels)).view_as(grid)
            return grid_to_coefficients(values, from_azimuthal, from_polar, part.shape[0], channels)

        chunk = self.chunk_rows(x)
        if torch.is_grad_enabled():
            # Keep only the chunk's coefficients for backward; the grid values are recomputed.
            pieces = [checkpoint(project_apply_back, part, use_reentrant=False) for part in x.split(chunk)]
        else:
            pieces = [project_apply_back(part) for part in x.split(chunk)]
        return torch.cat(pieces)

    def silu(self, x: Tensor) -> Tensor:
        """from_grid(SiLU(to_grid(x))) for x [Z, R, C]; backward keeps only x (`GridSiLU`)."""
        return GridSiLU.apply(x, self)

    def silu_gradient(self, x: Tensor, grad: Tensor) -> Tensor:
        """The gradient [Z, R, C] of `silu` at x [Z, R, C] for the output gradient ``grad`` [Z, R, C]:
        to_grid^T(SiLU'(to_grid(x)) * from_grid^T(grad)), chunked as `apply`. Differentiable when
        autograd is on (double backward)."""
        to_polar, to_azimuthal = self.to_polar.to(x.dtype), self.to_azimuthal.to(x.dtype)
        from_polar, from_azimuthal = self.from_polar.to(x.dtype), self.from_azimuthal.to(x.dtype)
        chunk, channels = self.chunk_rows(x), x.shape[2]
        pieces = []
        for part, grad_part in zip(x.split(chunk), grad.split(chunk)):
            values = coefficients_to_grid(part, to_polar, to_azimuthal)  # [A, B*z*C]
            grad_values = coefficients_to_grid(grad_part, from_polar.T, from_azimuthal.T)
            if torch.is_grad_enabled():
                sigmoid = torch.sigmoid(values)
                grad_values = grad_values * sigmoid * (1 + values * (1 - sigmoid))
            else:  # one fused kernel, not differentiable
                grad_values = torch.ops.aten.silu_backward(grad_values, values)
            pieces.append(grid_to_coefficients(grad_values, to_azimuthal.T, to_polar.T, part.shape[0], channels))
        return torch.cat(pieces)


def coefficients_to_grid(part: Tensor, polar: Tensor, azimuthal: Tensor) -> Tensor:
    """[z, R, C] -> [A, B*z*C] with the separable factors polar [M*B, R] and azimuthal [A, M]: two
    matrix products over the whole chunk, laid out [R, z*C]."""
    rows, coefficients, channels = part.shape
    columns = part.transpose(0, 1).reshape(coefficients, rows * channels)  # [R, z*C]
    by_order = torch.mm(polar, columns).view(azimuthal.shape[1], -1)  # [M, B*z*C]
    return torch.mm(azimuthal, by_order)


def grid_to_coefficients(values: Tensor, azimuthal: Tensor, polar: Tensor, rows: int, channels: int) -> Tensor:
    """[A, B*z*C] -> [z, R, C] with the separable factors azimuthal [M, A] and polar [R, M*B]."""
    by_order = torch.mm(azimuthal, values).view(polar.shape[1], rows * channels)  # [M*B, z*C]
    return torch.mm(polar, by_order).view(polar.shape[0], rows, channels).transpose(0, 1)


class GridSiLU(torch.autograd.Function):
    """`S2Grid.silu` that keeps only its input x [Z, R, C] for backward.

    Backward recomputes each chunk's grid values and applies SiLU's derivative there, skipping the
    forward's SiLU and from_grid that a checkpointed recomputation would run again. Forward overwrites
    its grid values in place (they are temporaries).
    """

    @staticmethod
    def forward(ctx, x: Tensor, grid: S2Grid) -> Tensor:
        ctx.save_for_backward(x)
        ctx.grid = grid
        return grid.apply(x, lambda values: nn.functional.silu(values, inplace=True))

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        (x,) = ctx.saved_tensors
        return ctx.grid.silu_gradient(x, grad), None


class S2Activation(nn.Module):
    """from_grid(SiLU(to_grid(x))): [Z, R, C] -> [Z, R, C].

    Under autocast it runs in float32 and returns float32: its products have inner dimensions of 5
    to 19, which leave reduced-precision matrix units idle (benchmarks/RESULTS.md, section *The 38-atom
    forward against the reference's fastest path, 2026-12-02, Xeon with AMX*), and SiLU of bf16 values
    converts them to float32 and back.
    """

    def __init__(self, grid: S2Grid) -> None:
        super().__init__()
        self.grid = grid

    def forward(self, x: Tensor) -> Tensor:
        device = x.device.type
        if not torch.is_autocast_enabled(device):
            return self.grid.silu(x)
        with torch.autocast(device, enabled=False):
            return self.grid.silu(x.float())


class SeparableS2Activation(nn.Module):
    """Degree 0 <- SiLU(scalars [Z, C]); degrees > 0 <- S2 activation of x [Z, R, C].

    Coefficient 0 of x must be degree 0 (true for l-major and m-major layouts).
    """

    def __init__(self, grid: S2Grid) -> None:
        super().__init__()
        self.s2_activation = S2Activation(grid)

    def forward(self, scalars: Tensor, x: Tensor) -> Tensor:
        _, higher_degrees = self.s2_activation(x).split([1, x.shape[1] - 1], dim=1)
        return torch.cat([nn.functional.silu(scalars)[:, None], higher_degrees], dim=1)


class GateActivation(nn.Module):
    """Degree 0 <- SiLU(x_0); coefficient i of degree l > 0 <- x_i * sigmoid(gates[:, l-1]).

    ``degrees`` [R] is the degree of each coefficient of x (any layout with degree 0 first).
    Shapes: gates [Z, lmax * C], x [Z, R, C] -> [Z, R, C].
    """

    def __init__(self, degrees: Tensor) -> None:
        super().__init__()
        self.register_buffer("gate_of", degrees[1:] - 1, persistent=False)
        self.lmax = int(degrees.max())

    def forward(self, gates: Tensor, x: Tensor) -> Tensor:
        gates = torch.sigmoid(gates).reshape(x.shape[0], self.lmax, x.shape[2])[:, self.gate_of]
        return torch.cat([nn.functional.silu(x[:, :1]), x[:, 1:] * gates], dim=1)
