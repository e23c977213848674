"""Scatter operations over edges grouped by their target atom (no torch_scatter needed)."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor

# Values of the largest per-edge tensor held at once when edges run in chunks (`edge_chunks`): on
# CPUs about 16 MB in float32, so that a chunk's tensors stay near the cache; on GPUs 1 GB.
EDGE_CHUNK_VALUES = {"cpu": 2**22, "cuda": 2**28}


def edge_chunks(num_edges: int, values_per_edge: int, device: torch.device) -> list[slice]:
    """Consecutive slices of the edges, each with at most the device's `EDGE_CHUNK_VALUES` values.

    Under autograd one slice of all edges: backward would keep every chunk's tensors anyway.
    """
    if torch.is_grad_enabled():
        return [slice(0, num_edges)]
    budget = EDGE_CHUNK_VALUES.get(device.type, EDGE_CHUNK_VALUES["cpu"])
    size = max(1, budget // values_per_edge)
    return [slice(start, min(start + size, num_edges)) for start in range(0, max(num_edges, 1), size)]


def compute_dtype(x: Tensor) -> torch.dtype:
    """The dtype autocast runs matrix products in on x's device when it is on, else x's own dtype."""
    device = x.device.type
    return torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else x.dtype


def sum_over_targets(values: Tensor, target: Tensor, num_targets: int) -> Tensor:
    """out[i] = sum of values[e] over edges e with target[e] = i. [E, ...] -> [num_targets, ...]."""
    out = values.new_zeros((num_targets,) + values.shape[1:])
    return out.index_add(0, target, values)


def sum_over_targets_in_chunks(chunks: Iterable[tuple[Tensor, Tensor]], num_targets: int) -> Tensor:
    """`sum_over_targets` of edges that come in chunks of (values [e, ...], target [e]) pairs.

    The sum has the values' dtype (which autocast may have lowered). At least one chunk.
    """
    total = None
    for values, target in chunks:
        total = sum_over_targets(values, target, num_targets) if total is None else total.index_add(0, target, values)
    return total


def softmax_over_targets(
    logits: Tensor, target: Tensor, num_targets: int, edge_weights: Tensor | None = None
) -> Tensor:
    """Softmax of [E, H] logits over the edges that share a target, per column.

    exp(a_e - max_i) / (sum_e' exp(a_e' - max_i) + 1e-16), as in EquiformerV2. With ``edge_weights``
    [E] each exponential is multiplied by w_e first, so an edge of weight 0 drops out smoothly.
    """
    maxima = logits.new_full((num_targets,) + logits.shape[1:], float("-inf"))
    index = target[:, None].expand_as(logits)
    maxima = maxima.scatter_reduce(0, index, logits.detach(), reduce="amax", include_self=True)
    exponentials = torch.exp(logits - maxima.index_select(0, target))
    if edge_weights is not None:
        exponentials = exponentials * edge_weights[:, None]
    denominators = sum_over_targets(exponentials, target, num_targets)
    return exponentials / (denominators.index_select(0, target) + 1e-16)
