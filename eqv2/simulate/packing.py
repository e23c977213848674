"""Batches packed by size: a budget of structures, atoms and edges per model call.

A batch takes structures in their order until the next one would exceed a limit of the `Budget`;
that one starts the next batch. A structure over the budget on its own runs alone. The packing
depends only on the structures and the budget, so the same input gives the same batches.

The default budget (`default_budget`) is an edge count: the memory a batch may take divided by the
peak memory per edge of the model call, `bytes_per_edge`. That depends on the model (m-truncated
coefficients x ``sphere_channels``, and the layers where autograd keeps every layer's per-edge
tensors) and on the call's path (`call_path`): "direct" (no autograd), "stress" (direct forces, the
stress by autograd through the strain) or "conservative" (forces and stress by autograd). A batch may
take `MEMORY_FRACTION` of the device's free memory, shared by the processes on the machine when the
device is the CPU; on CPUs also at most `CPU_BATCH_BYTES`, past which larger batches run no faster.
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

CALL_PATHS = ("direct", "stress", "conservative")

# Peak memory of one model call per edge, in bytes of float32, per edge value (a coefficient of the
# m-truncated irreps times sphere_channels): for direct forces with every edge in one chunk (as on
# GPUs), and per layer for the autograd paths (stress by the strain derivative, conservative forces:
# autograd keeps every layer's per-edge tensors). Each is the larger of the demo model's and
# oc20-31M's measured figures (benchmarks/RESULTS.md, section *Screening at scale*).
BYTES_PER_EDGE_VALUE = 46.0  # direct
BYTES_PER_EDGE_VALUE_AND_LAYER = 95.0  # stress and conservative
MEMORY_FRACTION = 0.5  # of the device's free memory given to a batch
# Most estimated memory of a batch on CPUs: throughput levels off far below it, and it holds one process
# screening with oc20-31M under 3 GB (benchmarks/RESULTS.md, section *Screening at scale*).
CPU_BATCH_BYTES = 2**30


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


def call_path(potential: Potential, forces: str, stress: bool) -> str:
    """The path of a model call (module docstring) for ``forces`` ("direct" or "conservative") and,
    with ``stress``, the stress of 3D-periodic cells (by autograd unless the model has a stress head)."""
    if forces == "conservative":
        return "conservative"
    return "stress" if stress and not potential.has_stress_head else "direct"


def bytes_per_edge(potential: Potential, path: str) -> float:
    """Estimated peak memory of a model call on ``path`` per edge, in bytes (`BYTES_PER_EDGE_VALUE`)."""
    if path not in CALL_PATHS:
        raise ValueError(f"path must be one of {CALL_PATHS}, got {path!r}")
    itemsize = torch.empty(0, dtype=potential.dtype).element_size()
    if path == "direct":
        per_value = BYTES_PER_EDGE_VALUE
    else:
        per_value = BYTES_PER_EDGE_VALUE_AND_LAYER * potential.model.config.num_layers
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


def batch_memory(device: torch.device, processes: int = 1) -> float:
    """Bytes a batch may take on ``device``: `MEMORY_FRACTION` of its free memory, on CPUs shared by the
    ``processes`` on the machine and at most `CPU_BATCH_BYTES`."""
    memory = MEMORY_FRACTION * free_memory(device)
    if device.type == "cpu":
        memory = min(memory / processes, CPU_BATCH_BYTES)
    return memory


def default_budget(potential: Potential, path: str = "direct", processes: int = 1) -> Budget:
    """An edge budget for model calls on ``path`` (module docstring); ``processes``: how many share the
    machine's memory (torchrun's processes on this node)."""
    max_edges = int(batch_memory(potential.device, processes) / bytes_per_edge(potential, path))
    return Budget(max_edges=max(max_edges, 1))
