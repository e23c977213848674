"""Rotating features into and out of the edge frames, with (lmax, mmax) truncation."""

from __future__ import annotations

import torch
from torch import Tensor

from eqv2.so3.frames import edge_frames
from eqv2.so3.layout import CoefficientLayout
from eqv2.so3.wigner import wigner_D_blocks


class EdgeRotation:
    """Per-edge Wigner matrices for the frames that take each edge to +y.

    ``to_edge``   [E, R, K]: global full coefficients -> edge-frame coefficients with |m| <= mmax,
                  rows in m-major order (see `CoefficientLayout`).
    ``from_edge`` [E, K, R]: the transpose, with each degree l > mmax scaled by
                  sqrt((2l+1)/(2 mmax+1)) (EquiformerV2's norm-restoring rescale).
    """

    def __init__(self, edge_vectors: Tensor, layout: CoefficientLayout) -> None:
        self.layout = layout
        frames = edge_frames(edge_vectors)  # [E, 3, 3]
        blocks = wigner_D_blocks(layout.lmax, frames, layout.mmax)
        num_edges = edge_vectors.shape[0]
        reduced = edge_vectors.new_zeros(num_edges, layout.num_reduced, layout.num_full)  # l-major rows
        row = 0
        for l, block in enumerate(blocks):
            reduced[:, row : row + block.shape[1], l * l : (l + 1) ** 2] = block
            row += block.shape[1]
        order = layout.reduced_to_m_major().to(edge_vectors.device)
        rescale = layout.inverse_rotation_rescale().to(edge_vectors)[order]
        self.to_edge = reduced[:, order, :]
        self.from_edge = (self.to_edge * rescale[:, None]).transpose(1, 2)

    def rotate(self, x: Tensor) -> Tensor:
        """[E, K, C] global -> [E, R, C] edge frame (m-major)."""
        return torch.bmm(self.to_edge, x)

    def rotate_back(self, x: Tensor) -> Tensor:
        """[E, R, C] edge frame (m-major) -> [E, K, C] global."""
        return torch.bmm(self.from_edge, x)
