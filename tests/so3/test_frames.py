import torch

from eqv2.so3.frames import edge_frames

Y = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)
AXIS_EDGES = torch.tensor([[0.0, 1.0, 0.0], [0.0, -1.0, 0.0], [0.0, 2.5, 0.0], [0.0, -0.7, 0.0]], dtype=torch.float64)


def edges() -> torch.Tensor:
    random = torch.randn(200, 3, dtype=torch.float64)
    cartesian = torch.tensor([[1.0, 0, 0], [-1.0, 0, 0], [0, 0, 1.0], [0, 0, -1.0]], dtype=torch.float64)
    return torch.cat([random, cartesian, AXIS_EDGES])


def test_frames_take_edges_to_plus_y():
    v = edges()
    r = edge_frames(v)
    unit = v / v.norm(dim=-1, keepdim=True)
    assert torch.allclose(torch.einsum("eij,ej->ei", r, unit), Y.expand_as(unit), atol=1e-14)
    assert torch.allclose(r @ r.transpose(1, 2), torch.eye(3, dtype=torch.float64).expand_as(r), atol=1e-14)
    assert torch.allclose(torch.linalg.det(r), torch.ones(len(v), dtype=torch.float64))


def test_frames_are_deterministic():
    v = edges()
    assert torch.equal(edge_frames(v), edge_frames(v.clone()))


def test_gradients_finite_and_correct_along_the_polar_axis():
    """The reference's Euler angles are singular for edges along +-y; these frames are smooth there."""
    for edge in AXIS_EDGES:
        v = edge.clone().requires_grad_(True)
        weights = torch.randn(3, 3, dtype=torch.float64)
        (edge_frames(v[None])[0] * weights).sum().backward()
        assert torch.isfinite(v.grad).all()
        h = 1e-6
        for axis in range(3):
            step = torch.zeros(3, dtype=torch.float64)
            step[axis] = h
            plus = (edge_frames((edge + step)[None])[0] * weights).sum()
            minus = (edge_frames((edge - step)[None])[0] * weights).sum()
            assert torch.allclose((plus - minus) / (2 * h), v.grad[axis], atol=1e-7)
