"""Exponential moving average of the trainable parameters, used for validation and the saved model."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn


class ExponentialMovingAverage:
    """shadow <- d * shadow + (1 - d) * parameter after each optimizer step, d = min(decay, (1 + t) / (10 + t)).

    The warm-up of d over the first updates t keeps short runs from averaging in their random start.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.num_updates = 0
        self.shadow = {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.num_updates += 1
        decay = min(self.decay, (1 + self.num_updates) / (10 + self.num_updates))
        for name, parameter in model.named_parameters():
            if name in self.shadow:
                self.shadow[name].lerp_(parameter.detach(), 1.0 - decay)

    def averaged_state_dict(self, model: nn.Module) -> dict[str, Tensor]:
        """``model.state_dict()`` with the averaged values in place of the trained parameters."""
        state = model.state_dict()
        return {name: self.shadow.get(name, value).detach().clone() for name, value in state.items()}

    @contextmanager
    def swapped_into(self, model: nn.Module) -> Iterator[None]:
        """Run the block with the averaged parameters in ``model``; the trained ones come back after."""
        trained = {name: p.detach().clone() for name, p in model.named_parameters() if name in self.shadow}
        self._copy_into(model, self.shadow)
        try:
            yield
        finally:
            self._copy_into(model, trained)

    @staticmethod
    @torch.no_grad()
    def _copy_into(model: nn.Module, values: dict[str, Tensor]) -> None:
        for name, parameter in model.named_parameters():
            if name in values:
                parameter.copy_(values[name])

    def state_dict(self) -> dict:
        return {"decay": self.decay, "num_updates": self.num_updates, "shadow": self.shadow}

    def load_state_dict(self, state: dict) -> None:
        self.decay, self.num_updates = state["decay"], state["num_updates"]
        for name, value in state["shadow"].items():
            self.shadow[name].copy_(value)
