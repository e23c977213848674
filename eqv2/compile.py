"""torch.compile for eqv2 networks (opt-in): the dense per-edge and per-node parts, dynamic shapes.

`compile_network` compiles, in place, each attention's per-edge computation (`edge_values`: gather,
rotation, SO(2) convolutions, activation, logits), each feed-forward network's computation on a group
of nodes (`nodes_forward`) and each norm, with ``dynamic=True``, so that a new number of atoms or
edges reuses the compiled code instead of compiling again. The edge and node chunk loops, softmax
and scatter sums stay in eager mode. The first call compiles (its time: benchmarks/RESULTS.md,
section *torch.compile*); outputs equal eager mode to float32 round-off. Double backward through
compiled code is not supported by PyTorch, so training with conservative forces cannot use it.
"""

from __future__ import annotations

from typing import Any

import torch

from eqv2.model import EquiformerV2


def compile_network(model: EquiformerV2, **options: Any) -> None:
    """Compile ``model``'s dense parts in place (module docstring); ``options`` go to `torch.compile`."""
    options = {"dynamic": True, **options}
    attentions = [block.attention for block in model.blocks]
    attentions += [head for head in (model.force_head, model.force_denoising_head) if head is not None]
    for attention in attentions:
        attention.edge_values = torch.compile(attention.edge_values, **options)
    for feed_forward in [model.energy_head] + [block.ffn for block in model.blocks]:
        feed_forward.nodes_forward = torch.compile(feed_forward.nodes_forward, **options)
    norms = [model.final_norm]
    for block in model.blocks:
        norms += [block.attention_norm, block.ffn_norm]
    for norm in norms:
        norm.compile(**options)
