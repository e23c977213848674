"""Edge frames: a rotation per edge that takes the edge direction to +y (e3nn's polar axis).

In that frame an edge's spherical harmonics are nonzero only at m = 0, which is what makes the
eSCN SO(2) convolution possible. The roll about the edge is a free choice; EquiformerV2 with gate
activations does not depend on it, and with S2 activations only through the grid quadrature error.

Construction (deterministic and smooth on each of two charts):

    R(u) = Q_+ . T(u -> n)   if u . n >= 0
    R(u) = Q_- . T(u -> -n)  otherwise

where n is a fixed generic unit vector, T(a -> b) = I + [v]x + [v]x^2 / (1 + a.b) with v = a x b is
the smallest rotation taking a to b, and Q_+, Q_- are fixed rotations taking n and -n to +y. Inside
a chart 1 + a.b >= 1, so R is a rational function of u with a bounded denominator: finite values and
gradients for every direction, +-y included. The two charts differ only by a roll about the edge;
the seam (the great circle u . n = 0) is placed at a direction that no lattice bond is expected to
hit exactly.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

# Generic axis for the chart seam: normalize(sqrt(2), sqrt(7), sqrt(3)).
_SEAM_AXIS = (math.sqrt(2.0), math.sqrt(7.0), math.sqrt(3.0))


def _skew(v: Tensor) -> Tensor:
    """[..., 3] -> [..., 3, 3] cross-product matrix [v]x with [v]x w = v x w."""
    zero = torch.zeros_like(v[..., 0])
    x, y, z = v.unbind(-1)
    return torch.stack(
        [torch.stack([zero, -z, y], -1), torch.stack([z, zero, -x], -1), torch.stack([-y, x, zero], -1)], -2
    )


def align_rotation(a: Tensor, b: Tensor) -> Tensor:
    """Smallest rotation taking unit vectors a to b: [..., 3] x [..., 3] -> [..., 3, 3].

    R = I + [v]x + [v]x^2 / (1 + a.b), v = a x b. Requires a.b > -1.
    """
    v = torch.cross(a, b, dim=-1)
    cos = (a * b).sum(-1)[..., None, None]
    skew = _skew(v)
    eye = torch.eye(3, dtype=a.dtype, device=a.device).expand_as(skew)
    return eye + skew + skew @ skew / (1.0 + cos)


def edge_frames(vectors: Tensor) -> Tensor:
    """Rotations R with R @ (v / |v|) = +y for each edge vector v.

    Args:
        vectors: [E, 3] edge vectors, nonzero.

    Returns:
        [E, 3, 3] proper rotations, rows are the frame axes expressed in global coordinates.
    """
    unit = vectors / vectors.norm(dim=-1, keepdim=True)
    axis = torch.tensor(_SEAM_AXIS, dtype=vectors.dtype, device=vectors.device)
    axis = axis / axis.norm()
    y_axis = torch.tensor([0.0, 1.0, 0.0], dtype=vectors.dtype, device=vectors.device)
    positive_side = (unit @ axis >= 0)[:, None, None]
    chart_axis = torch.where(positive_side[:, :, 0], axis, -axis)  # [E, 3]
    to_chart_axis = align_rotation(unit, chart_axis)
    to_y = torch.where(positive_side, align_rotation(axis, y_axis), align_rotation(-axis, y_axis))
    return to_y @ to_chart_axis
