"""Batches packed by size: a budget of structures, atoms and edges per model call.

A batch takes structures in their order until the next one would exceed a limit of the `Budget`;
that one starts the next batch. A structure over the budget on its own runs alone. The packing
depends only on the structures and the budget, so the same input gives the same batches.

The default budget (`default_budget`) is an edge count from the device's free memory and the peak
memory per edge that the model needs, `bytes_per_edge`. On CPUs it is also capped at
`CPU_MAX_EDGES`, past which larger batches run no faster.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import torch

from eqv2.batch import Structure
from eqv2.potential import Potential
from eqv2.validation import DataError

Item = TypeVar("Item")

# Peak memory of one model call per edge, in bytes of float32, per edge value (a coefficient of the
# m-truncated irreps times sphere_channels): for direct forces with every edge in one chunk (as on
# GPUs), and per layer for conservative forces (autograd keeps every layer's per-edge tensors). Each is
# the larger of the demo model's and oc20-31M's measured figures (benchmarks/RESULTS.md, section
# *Screening at scale*).
BYTES_PER_EDGE_VALUE = 46.0
BYTES_PER_EDGE_VALUE_AND_LAYER = 95.0  # conservative forces
MEMORY_FRACTION = 0.5  # of the device's free memory given to a batch
# Edges past which a bigger batch runs no faster on CPUs (benchmarks/RESULTS.md, section *Screening at scale*).
CPU_MAX_EDGES = 100_000


@dataclass(frozen=True)
class Cost:
    """What a structure or batch asks of a model call."""

    structures: int = 0
    atoms: int = 0
    edges: int = 0

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.structures + other.structures, self.atoms + other.atoms, self.edges + other.edges)

    def __sub__(self, other: Cost) -> Cost:
        return Cost(self.structures - other.structures, self.atoms - other.atoms, self.edges - other.edges)


@dataclass(frozen=True)
class Budget:
    """The most structures, atoms and edges per model call; None is no limit."""

    max_structures: int | None = None
    max_atoms: int | None = None
    max_edges: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_structures", "max_atoms", "max_edges"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")

    def admits(self, cost: Cost) -> bool:
        """True when ``cost`` stays within every limit."""
        limits = ((self.max_structures, cost.structures), (self.max_atoms, cost.atoms), (self.max_edges, cost.edges))
        return all(limit is None or used <= limit for limit, used in limits)


def structure_cost(potential: Potential, structure: Structure, raise_invalid: bool = True) -> Cost:
    """One structure's atoms and the edges of the model's graph. It is validated on the way: an invalid
    one raises `DataError`, or with ``raise_invalid=False`` costs its atoms only (it will be flagged)."""
    try:
        return Cost(1, structure.num_atoms, int(potential.collate([structure]).edge_index.shape[1]))
    except DataError:
        if raise_invalid:
            raise
        return Cost(1, structure.num_atoms, 0)


def pack(items: Iterable[Item], cost: Callable[[Item], Cost], budget: Budget) -> Iterator[list[Item]]:
    """Consecutive groups of ``items`` within ``budget`` (module docstring); ``cost`` is asked once per item."""
    group: list[Item] = []
    used = Cost()
    for item in items:
        item_cost = cost(item)
        if group and not budget.admits(used + item_cost):
            yield group
            group, used = [], Cost()
        group.append(item)
        used = used + item_cost
    if group:
        yield group


def edge_values(potential: Potential) -> int:
    """Values per edge of the model's largest per-edge tensors: m-truncated coefficients x sphere_channels."""
    config = potential.model.config
    coefficients = sum(min(2 * l + 1, 2 * config.mmax + 1) for l in range(config.lmax + 1))
    return coefficients * config.sphere_channels


def bytes_per_edge(potential: Potential, forces: str) -> float:
    """Estimated peak memory of a model call per edge, in bytes (`BYTES_PER_EDGE_VALUE`)."""
    itemsize = torch.empty(0, dtype=potential.dtype).element_size()
    if forces == "conservative":
        per_value = BYTES_PER_EDGE_VALUE_AND_LAYER * potential.model.config.num_layers
    else:
        per_value = BYTES_PER_EDGE_VALUE
    return per_value * edge_values(potential) * itemsize / 4


def free_memory(device: torch.device) -> int:
    """Bytes free on ``device``: the GPU's free memory, or the host's available memory for CPUs."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as handle:
            fields = dict(line.split(":", 1) for line in handle)
        return int(fields["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError):
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def default_budget(potential: Potential, forces: str = "direct") -> Budget:
    """An edge budget from the device's free memory (module docstring)."""
    max_edges = int(MEMORY_FRACTION * free_memory(potential.device) / bytes_per_edge(potential, forces))
    if potential.device.type == "cpu":
        max_edges = min(max_edges, CPU_MAX_EDGES)
    return Budget(max_edges=max(max_edges, 1))
