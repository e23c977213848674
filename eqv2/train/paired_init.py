"""Initial weights keyed by parameter name: models that differ in some layers start equal in the layers they share.

A model built after ``torch.manual_seed(seed)`` draws its weights one after another from one random stream,
so two variants of an architecture (say gate against S2 activation) that differ in one early layer get
different values in every later layer too. `build_paired` builds the model while recording, for each
tensor, the last random in-place draw made into it (``nn.init.normal_``, ``Tensor.uniform_``, ...; a later
fill such as ``nn.init.zeros_`` cancels it), then redraws every parameter whose last write was random with
the same call, from a generator seeded by (seed, parameter name). Each parameter keeps the distribution its
constructor gave it; parameters with the same name and shape get the same values in every variant.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

RANDOM_DRAWS = {
    torch.Tensor.uniform_,
    torch.Tensor.normal_,
    nn.init.uniform_,
    nn.init.normal_,
    nn.init.trunc_normal_,
    nn.init.kaiming_uniform_,
    nn.init.kaiming_normal_,
    nn.init.xavier_uniform_,
    nn.init.xavier_normal_,
}
OVERWRITES = {
    torch.Tensor.fill_,
    torch.Tensor.zero_,
    torch.Tensor.copy_,
    nn.init.zeros_,
    nn.init.ones_,
    nn.init.constant_,
}


@dataclass
class Draw:
    """One recorded random in-place call: ``function(tensor, *args, **kwargs)``."""

    tensor: Tensor  # held so that its memory (and so its address) is not reused while recording
    function: Callable
    args: tuple
    kwargs: dict[str, Any]
    modified_after: str | None = None  # the name of a later in-place op that changed it partly

    def replay(self, parameter: Tensor, generator: torch.Generator) -> None:
        kwargs = {**self.kwargs, "generator": generator}
        if "tensor" in kwargs:  # nn.init functions dispatch with keyword arguments only
            kwargs["tensor"] = parameter
            self.function(**kwargs)
        else:
            self.function(parameter, *self.args, **kwargs)


class DrawRecorder(TorchFunctionMode):
    """While active, remembers the last random in-place draw into each tensor (by its data address)."""

    def __init__(self) -> None:
        super().__init__()
        self.draws: dict[int, Draw] = {}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        target = args[0] if args else kwargs.get("tensor")
        if isinstance(target, Tensor) and target.numel():
            address = target.data_ptr()
            if func in RANDOM_DRAWS:
                self.draws[address] = Draw(target, func, tuple(args[1:]), dict(kwargs))
            elif func in OVERWRITES:
                self.draws.pop(address, None)
            elif address in self.draws and modifies_in_place(func):
                self.draws[address].modified_after = getattr(func, "__name__", str(func))
        return func(*args, **kwargs)


def modifies_in_place(func: Callable) -> bool:
    name = getattr(func, "__name__", "")
    return name == "__setitem__" or (name.endswith("_") and not name.startswith("__"))


def parameter_seed(seed: int, name: str) -> int:
    """A 63-bit generator seed from the run's seed and a parameter's dotted name."""
    return int.from_bytes(hashlib.sha256(f"{seed}/{name}".encode()).digest()[:8], "little") >> 1


def build_paired(build: Callable[[], nn.Module], seed: int) -> nn.Module:
    """``build()`` with every randomly initialized parameter redrawn from a generator keyed by (seed, name).

    Raises ValueError naming the parameter when a random draw was followed by a partial in-place change
    (it could not be replayed exactly).
    """
    with DrawRecorder() as recorder:
        module = build()
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            draw = recorder.draws.get(parameter.data_ptr()) if parameter.numel() else None
            if draw is None or draw.tensor.shape != parameter.shape:
                continue  # set by a fill (ones, zeros) or a copy: nothing random to pair
            if draw.modified_after:
                raise ValueError(
                    f"{name}: changed in place by {draw.modified_after} after its random draw; cannot redraw it by name"
                )
            draw.replay(parameter, torch.Generator(parameter.device).manual_seed(parameter_seed(seed, name)))
    return module
