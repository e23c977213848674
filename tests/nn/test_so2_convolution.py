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
