import pytest
import torch

from eqv2.nn import activations
from eqv2.nn.activations import GateActivation, S2Activation, S2Grid, SeparableS2Activation
from eqv2.nn.graph_ops import softmax_over_targets
from eqv2.nn.norms import NORM_TYPES, equivariant_norm
from eqv2.so3.layout import CoefficientLayout
from eqv2.so3.wigner import wigner_D
from eqv2.testing import random_rotation

LMAX = 4


def rotate(x: torch.Tensor, seed: int) -> torch.Tensor:
    d = wigner_D(LMAX, torch.as_tensor(random_rotation(seed)))
    return torch.einsum("ij,njc->nic", d, x)


@pytest.mark.parametrize("norm_type", NORM_TYPES)
def test_norms_are_equivariant(norm_type):
    norm = equivariant_norm(norm_type, LMAX, 6).double()
    with torch.no_grad():
        for parameter in norm.parameters():
            parameter.add_(torch.randn_like(parameter))
    x = torch.randn(5, (LMAX + 1) ** 2, 6, dtype=torch.float64)
    assert torch.allclose(norm(rotate(x, 1)), rotate(norm(x), 1), atol=1e-12)


@pytest.mark.parametrize("lmax", [2, 3])
def test_floored_separable_norm_does_not_amplify_vanishing_degrees(lmax):
    """Where all degrees > 0 vanish (a cubic site), a perturbation of them comes out no larger than it went in
    (the scalars are of order one); the paper's separable norm divides it by sqrt(eps), about 300-fold."""
    scalars = torch.randn(3, 1, 8, dtype=torch.float64)
    perturbation = 1e-9 * torch.randn(3, (lmax + 1) ** 2 - 1, 8, dtype=torch.float64)
    x = torch.cat([scalars, perturbation], dim=1)
    floored = equivariant_norm("layer_norm_sh_floored", lmax, 8).double()(x)[:, 1:]
    separable = equivariant_norm("layer_norm_sh", lmax, 8).double()(x)[:, 1:]
    assert floored.abs().max() < perturbation.abs().max() * 10 < separable.abs().max()
    plain = equivariant_norm("layer_norm_sh", lmax, 8).double()
    unfloored_parts = equivariant_norm("layer_norm_sh_floored", lmax, 8).double()
    big = torch.randn(3, (lmax + 1) ** 2, 8, dtype=torch.float64)
    assert torch.equal(plain(big)[:, :1], unfloored_parts(big)[:, :1])  # degree 0: the same LayerNorm


def test_gate_activation_is_equivariant():
    gate = GateActivation(CoefficientLayout(LMAX, LMAX).full_degrees())
    x = torch.randn(5, (LMAX + 1) ** 2, 3, dtype=torch.float64)
    gates = torch.randn(5, LMAX * 3, dtype=torch.float64)
    assert torch.allclose(gate(gates, rotate(x, 2)), rotate(gate(gates, x), 2), atol=1e-12)


def test_separable_s2_activation_equivariance_improves_with_resolution():
    x = torch.randn(5, (LMAX + 1) ** 2, 3, dtype=torch.float64)
    scalars = torch.randn(5, 3, dtype=torch.float64)
    errors = []
    for resolution in (10, 20, 40):
        activation = SeparableS2Activation(S2Grid(LMAX, LMAX, resolution, resolution))
        difference = activation(scalars, rotate(x, 3)) - rotate(activation(scalars, x), 3)
        errors.append(difference.abs().max().item())
    assert errors[2] < errors[1] < errors[0]


def test_softmax_over_targets_matches_dense_softmax():
    logits = torch.randn(9, 2, dtype=torch.float64)
    target = torch.tensor([0, 2, 2, 0, 1, 2, 0, 1, 2])
    weights = softmax_over_targets(logits, target, 3)
    for i in range(3):
        mask = target == i
        assert torch.allclose(weights[mask], torch.softmax(logits[mask], dim=0), atol=1e-14)


@pytest.mark.parametrize("mmax, res_beta, res_alpha", [(4, 10, 11), (2, 12, 8)])
def test_separable_grid_apply_equals_the_dense_projections(mmax, res_beta, res_alpha):
    layout = CoefficientLayout(LMAX, mmax)
    m_major = layout.reduced_to_m_major()
    grid = S2Grid(LMAX, mmax, res_beta, res_alpha, coefficient_order=m_major).double()
    x = torch.randn(7, layout.num_reduced, 3, dtype=torch.float64)
    values = torch.einsum("bai,zic->zbac", grid.to_grid_matrix, x)
    dense = torch.einsum("bai,zbac->zic", grid.from_grid_matrix, torch.nn.functional.silu(values))
    assert torch.allclose(grid.apply(x, torch.nn.functional.silu), dense, atol=1e-12)


def test_grid_apply_in_chunks_with_a_channel_map_equals_the_dense_projections(monkeypatch):
    """Several chunks of rows, and a function that mixes the channels of each grid point (as the grid
    MLP does): the result and the gradient are those of the one-pass dense formula."""
    torch.manual_seed(0)
    grid = S2Grid(LMAX, 2, 10, 11).double()
    mix = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.SiLU()).double()
    x = torch.randn(7, CoefficientLayout(LMAX, 2).num_reduced, 3, dtype=torch.float64, requires_grad=True)
    values = torch.einsum("bai,zic->zbac", grid.to_grid_matrix, x)
    dense = torch.einsum("bai,zbac->zic", grid.from_grid_matrix, mix(values))
    monkeypatch.setitem(activations.GRID_CHUNK_VALUES, "cpu", 2 * 110 * 3)  # two rows per chunk
    chunked = grid.apply(x, mix)
    assert torch.allclose(chunked, dense, atol=1e-12)
    weights = torch.randn_like(dense)
    (expected,) = torch.autograd.grad((dense * weights).sum(), x)
    (gradient,) = torch.autograd.grad((chunked * weights).sum(), x)
    assert torch.allclose(gradient, expected, atol=1e-12)


def test_grid_silu_gradients_equal_those_of_the_dense_formula(monkeypatch):
    """`S2Grid.silu` keeps only its input and computes SiLU's derivative on the grid in backward:
    first and second derivatives equal autograd's through the dense projections (float64, several
    chunks)."""
    torch.manual_seed(0)
    grid = S2Grid(LMAX, 2, 10, 11).double()
    x = torch.randn(5, CoefficientLayout(LMAX, 2).num_reduced, 3, dtype=torch.float64, requires_grad=True)
    weights = torch.randn_like(x)

    def dense_silu(x: torch.Tensor) -> torch.Tensor:
        values = torch.einsum("bai,zic->zbac", grid.to_grid_matrix, x)
        return torch.einsum("bai,zbac->zic", grid.from_grid_matrix, torch.nn.functional.silu(values))

    def first_and_second_derivatives(silu):
        (gradient,) = torch.autograd.grad((silu(x) * weights).sum(), x, create_graph=True)
        (second,) = torch.autograd.grad(gradient.square().sum(), x)
        return gradient.detach(), second

    expected, expected_second = first_and_second_derivatives(dense_silu)
    monkeypatch.setitem(activations.GRID_CHUNK_VALUES, "cpu", 2 * 110 * 3)  # two rows per chunk
    gradient, second = first_and_second_derivatives(grid.silu)
    assert torch.allclose(gradient, expected, atol=1e-12)
    assert torch.allclose(second, expected_second, atol=1e-12)
    with torch.no_grad():
        assert torch.allclose(grid.silu_gradient(x, weights), expected, atol=1e-12)


def test_s2_activation_overwrites_grid_values_only_without_autograd():
    activation = S2Activation(S2Grid(LMAX, LMAX, 10, 10)).double()
    x = torch.randn(5, (LMAX + 1) ** 2, 3, dtype=torch.float64, requires_grad=True)
    with_autograd = activation(x)  # an in-place SiLU here would make backward fail
    (gradient,) = torch.autograd.grad(with_autograd.square().sum(), x)
    with torch.no_grad():
        without_autograd = activation(x)
    assert torch.equal(with_autograd.detach(), without_autograd)
    assert torch.isfinite(gradient).all() and gradient.abs().sum() > 0


def test_s2_activation_under_autocast_runs_in_float32():
    activation = S2Activation(S2Grid(LMAX, LMAX, 10, 10))
    x = torch.randn(6, (LMAX + 1) ** 2, 4).to(torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = activation(x)
    assert low.dtype == torch.float32
    assert torch.equal(low, activation(x.float()))
