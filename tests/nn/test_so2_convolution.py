import math

import torch

from eqv2.nn.so2_convolution import SO2Convolution
from eqv2.so3.frames import edge_frames
from eqv2.so3.layout import CoefficientLayout
from eqv2.so3.rotation import EdgeRotation
from eqv2.so3.wigner import wigner_D


def rotation_about_y(angle: float) -> torch.Tensor:
    c, s = math.cos(angle), math.sin(angle)
    return torch.tensor([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]], dtype=torch.float64)


def roll_in_edge_frame(layout: CoefficientLayout, angle: float) -> torch.Tensor:
    """[R, R] action of a rotation about +y on m-major truncated coefficients."""
    index = layout.reduced_index()[layout.reduced_to_m_major()]
    return wigner_D(layout.lmax, rotation_about_y(angle))[index][:, index]


def test_so2_convolution_commutes_with_rolls_about_the_edge():
    layout = CoefficientLayout(4, 2)
    conv = SO2Convolution(6, 5, layout, extra_channels=3, radial_sizes=[7, 8]).double()
    x = torch.randn(10, layout.num_reduced, 6, dtype=torch.float64)
    edge_scalars = torch.randn(10, 7, dtype=torch.float64)
    roll = roll_in_edge_frame(layout, 0.83)
    y, extra = conv(x, edge_scalars)
    y_rolled, extra_rolled = conv(torch.einsum("ij,ejc->eic", roll, x), edge_scalars)
    assert torch.allclose(y_rolled, torch.einsum("ij,ejc->eic", roll, y), atol=1e-12)
    assert torch.allclose(extra_rolled, extra, atol=1e-12)


def test_edge_rotation_matches_dense_wigner_twin():
    """The truncated m-major rotation equals the full Wigner matrix followed by index selection."""
    layout = CoefficientLayout(6, 2)
    vectors = torch.randn(12, 3, dtype=torch.float64)
    rotation = EdgeRotation(vectors, layout)
    dense = wigner_D(6, edge_frames(vectors))
    index = layout.reduced_index()[layout.reduced_to_m_major()]
    x = torch.randn(12, layout.num_full, 4, dtype=torch.float64)
    assert torch.allclose(rotation.rotate(x), (dense @ x)[:, index], atol=1e-12)
    y = torch.randn(12, layout.num_reduced, 4, dtype=torch.float64)
    rescale = layout.inverse_rotation_rescale().double()[layout.reduced_to_m_major()]
    expected = dense.transpose(1, 2)[:, :, index] @ (rescale[:, None] * y)
    assert torch.allclose(rotation.rotate_back(y), expected, atol=1e-12)


def test_edge_harmonics_live_at_m_zero():
    """In its own frame an edge's harmonics are nonzero only at m = 0 (the first lmax+1 rows)."""
    from eqv2.so3.harmonics import spherical_harmonics

    layout = CoefficientLayout(5, 3)
    vectors = torch.randn(20, 3, dtype=torch.float64)
    in_frame = EdgeRotation(vectors, layout).rotate(spherical_harmonics(5, vectors)[:, :, None])[:, :, 0]
    assert torch.allclose(in_frame[:, layout.lmax + 1 :], torch.zeros(1, dtype=torch.float64), atol=1e-12)


def test_scaled_products_give_autograd_gradients_to_second_order():
    """The memory-lean backward of the SO(2) products passes gradcheck and gradgradcheck."""
    from eqv2.nn.so2_convolution import ScaledComplexMultiply, ScaledLinear

    def double(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, dtype=torch.float64, requires_grad=True)

    x, scale, weight, bias = double(5, 4), double(5, 4), double(3, 4), double(3)
    for inputs in [(x, scale, weight, bias), (x, None, weight, bias)]:
        assert torch.autograd.gradcheck(ScaledLinear.apply, inputs)
        assert torch.autograd.gradgradcheck(ScaledLinear.apply, inputs)
    weight2, x_plus, x_minus = double(6, 4), double(5, 4), double(5, 4)
    for inputs in [(weight2, x_plus, x_minus, scale), (weight2, x_plus, x_minus, None)]:
        assert torch.autograd.gradcheck(ScaledComplexMultiply.apply, inputs)
        assert torch.autograd.gradgradcheck(ScaledComplexMultiply.apply, inputs)


def test_scaled_complex_multiply_is_the_complex_product():
    from eqv2.nn.so2_convolution import ScaledComplexMultiply

    weight = torch.randn(6, 4, dtype=torch.float64)
    x_plus, x_minus, scale = (torch.randn(5, 4, dtype=torch.float64) for _ in range(3))
    y_plus, y_minus = ScaledComplexMultiply.apply(weight, x_plus, x_minus, scale)
    product = (torch.complex(x_plus, x_minus) * scale) @ torch.complex(*weight.chunk(2)).T
    assert torch.allclose(y_plus, product.real, atol=1e-12)
    assert torch.allclose(y_minus, product.imag, atol=1e-12)
