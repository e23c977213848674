"""Scatter operations over edges grouped by their target atom (no torch_scatter needed)."""

from __future__ import annotations

import torch
from torch import Tensor


def compute_dtype(x: Tensor) -> torch.dtype:
    """The dtype autocast runs matrix products in on x's device when it is on, else x's own dtype."""
    device = x.device.type
    return torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else x.dtype


def sum_over_targets(values: Tensor, target: Tensor, num_targets: int) -> Tensor:
    """out[i] = sum of values[e] over edges e with target[e] = i. [E, ...] -> [num_targets, ...]."""
    out = values.new_zeros((num_targets,) + values.shape[1:])
    return out.index_add(0, target, values)


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
