"""The edges of a batch in chunks that never split one atom's incoming edges.

Every per-edge tensor of the network (Wigner matrices [e, R, K], distance features [e, D], messages
[e, K, 2C], attention values) is made for one chunk at a time, so memory grows with the atoms, not
with the edges times the features. A chunk holds all the edges into a contiguous range of target
atoms, so a softmax over each atom's edges and the sum of its messages are computed inside one chunk,
exactly as for all edges at once. Edges must be sorted by target (as `eqv2.graph` makes them).

Chunk size: about `EDGE_CHUNK_VALUES` values in the largest per-edge tensor without autograd (near
the cache on CPUs), `GRAD_EDGE_CHUNK_VALUES` under autograd. Under autograd with more than one chunk,
each chunk's computation is checkpointed (`run_chunk`): backward recomputes it instead of storing it,
so conservative forces and stress of large structures need memory for one chunk at a time.

Per-edge features (rotation, distance features, cutoff weights) are computed when a chunk is first
used; they are kept for the next layers when all of them fit in `KEPT_FEATURE_BYTES` (small
structures: computed once per forward), and recomputed in every layer otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from eqv2.so3.layout import CoefficientLayout
from eqv2.so3.rotation import EdgeRotation

# Values in the largest per-edge tensor of one chunk, by device: about 16 MB (float32) on CPUs so
# that a chunk's tensors stay near the cache, 1 GB on GPUs; under autograd 256 MB on CPUs.
EDGE_CHUNK_VALUES = {"cpu": 2**22, "cuda": 2**28}
GRAD_EDGE_CHUNK_VALUES = {"cpu": 2**26, "cuda": 2**28}
KEPT_FEATURE_BYTES = 2**30  # per-edge features of all chunks kept between layers up to this size

EdgeFeatureFunction = Callable[[Tensor, Tensor], tuple[Tensor, Tensor | None]]


def target_aligned_slices(target: Tensor, num_targets: int, max_edges: int) -> list[tuple[slice, int, int]]:
    """(edge slice, first target, end target) of consecutive chunks of about ``max_edges`` edges.

    ``target`` [E] is sorted; a chunk ends only where the target changes, so an atom with more than
    ``max_edges`` edges gets a chunk of its own. Targets first..end-1 receive edges only from their chunk.
    """
    target = target.cpu().numpy()
    if (target[1:] < target[:-1]).any():
        raise ValueError("edges must be sorted by target atom (as eqv2.graph makes them)")
    target_ends = np.cumsum(np.bincount(target, minlength=num_targets))  # [N] one past each target's last edge
    slices, start = [], 0
    while start < len(target):
        first = int(target[start])
        last = int(np.searchsorted(target_ends, start + max_edges, side="right")) - 1  # last target that fits
        end_edge = int(target_ends[max(last, first)])
        slices.append((slice(start, end_edge), first, int(target[end_edge - 1]) + 1))
        start = end_edge
    return slices


@dataclass
class EdgeChunk:
    """The edges into targets ``first_target .. first_target + num_targets - 1``."""

    edges: slice
    first_target: int
    num_targets: int
    edge_index: Tensor  # [2, e] global atom indices
    vectors: Tensor  # [e, 3]
    _features: tuple[EdgeRotation, Tensor, Tensor | None] | None = field(default=None, repr=False)

    @property
    def local_target(self) -> Tensor:
        """[e] the target of each edge, counted from ``first_target``."""
        return self.edge_index[1] - self.first_target


class EdgeChunks:
    """A batch's edges in target-aligned chunks with their features, made when needed (module docstring).

    ``edge_features(vectors [e, 3], edge_index [2, e])`` returns the edge scalars [e, D] and the
    cutoff weights [e] (or None) of a chunk.
    """

    def __init__(
        self,
        vectors: Tensor,
        edge_index: Tensor,
        num_atoms: int,
        layout: CoefficientLayout,
        edge_features: EdgeFeatureFunction,
        values_per_edge: int,
        bytes_per_edge: int,
    ) -> None:
        self.layout = layout
        self.num_atoms = num_atoms
        self.edge_features = edge_features
        device = vectors.device.type
        budgets = GRAD_EDGE_CHUNK_VALUES if torch.is_grad_enabled() else EDGE_CHUNK_VALUES
        max_edges = max(1, budgets.get(device, budgets["cpu"]) // values_per_edge)
        slices = target_aligned_slices(edge_index[1], num_atoms, max_edges)
        self.chunks = [
            EdgeChunk(edges, first, end - first, edge_index[:, edges], vectors[edges]) for edges, first, end in slices
        ]
        self.checkpointed = torch.is_grad_enabled() and len(self.chunks) > 1
        total_feature_bytes = bytes_per_edge * vectors.shape[0]
        self.keep_features = not self.checkpointed and (
            len(self.chunks) <= 1 or total_feature_bytes <= KEPT_FEATURE_BYTES
        )

    def __iter__(self) -> Iterator[EdgeChunk]:
        return iter(self.chunks)

    def __len__(self) -> int:
        return len(self.chunks)

    def features(self, chunk: EdgeChunk) -> tuple[EdgeRotation, Tensor, Tensor | None]:
        """(rotation, edge scalars [e, D], cutoff weights [e] or None) of ``chunk``."""
        if chunk._features is not None:
            return chunk._features
        scalars, weights = self.edge_features(chunk.vectors, chunk.edge_index)
        features = (EdgeRotation(chunk.vectors, self.layout), scalars, weights)
        if self.keep_features:
            chunk._features = features
        return features

    def per_target(self, per_chunk: Callable[[EdgeChunk], Tensor], tail: tuple[int, ...], like: Tensor) -> Tensor:
        """[N, *tail]: each chunk's per-target results [n, *tail] placed at its targets, zero elsewhere.

        ``per_chunk(chunk)`` is checkpointed when `checkpointed` (recomputed in backward instead of
        stored). The result has the dtype of the chunks' results (autocast may lower it), or that of
        ``like`` when there are no edges.
        """
        out = None
        for chunk in self.chunks:
            if self.checkpointed:
                piece = checkpoint(per_chunk, chunk, use_reentrant=False)
            else:
                piece = per_chunk(chunk)
            if out is None:
                out = piece.new_zeros((self.num_atoms,) + piece.shape[1:])
            out[chunk.first_target : chunk.first_target + chunk.num_targets] = piece
        return like.new_zeros((self.num_atoms,) + tail) if out is None else out
