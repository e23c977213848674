"""What every checkpoint format is read into, and the potential built from it.

Each format (`eqv2.checkpoints.native`, `eqv2.checkpoints.fairchem`, `eqv2.checkpoints.hydra`) is
translated into the same `CheckpointParts`: the model config, a state dict in eqv2's names, the target
statistics and metadata. `build_potential` builds from those.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from eqv2.model import EquiformerV2
from eqv2.model_config import EquiformerV2Config
from eqv2.potential import Potential, TargetStatistics


class CheckpointParts(NamedTuple):
    """A checkpoint of any format, translated: what a `Potential` is built from."""

    model_config: EquiformerV2Config
    state_dict: dict[str, Tensor]  # eqv2 names, no derived buffers
    statistics: TargetStatistics
    metadata: dict[str, Any]


def build_potential(
    config: EquiformerV2Config,
    state_dict: dict[str, Tensor],
    statistics: TargetStatistics,
    metadata: dict[str, Any] | None = None,
    source: str = "",
) -> Potential:
    """The `Potential` of ``config`` with every weight of ``state_dict`` (in eval mode)."""
    model = EquiformerV2.from_config(config)
    load_strict(model, state_dict, source)
    return Potential(model.eval(), statistics, metadata)


def load_strict(model: torch.nn.Module, state_dict: dict[str, Tensor], source: str) -> None:
    """Load every parameter or fail naming the missing, unexpected or mis-shaped keys."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    wrong_shape = sorted(k for k in set(expected) & set(state_dict) if expected[k].shape != state_dict[k].shape)
    problems = []
    if missing:
        problems.append(f"missing {missing[:5]}{' ...' if len(missing) > 5 else ''}")
    if unexpected:
        problems.append(f"unexpected {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}")
    if wrong_shape:
        shapes = [
            f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(expected[k].shape)}" for k in wrong_shape[:5]
        ]
        problems.append("wrong shape " + "; ".join(shapes))
    if problems:
        raise ValueError(f"{source}: checkpoint does not match its model config: " + ", ".join(problems))
    model.load_state_dict(state_dict, strict=True)
