"""The one way the engine front ends (ASE, torch-sim, LAMMPS) and the commands get a ready potential."""

from __future__ import annotations

import os

import torch

from eqv2 import cpu_memory
from eqv2.checkpoints.loading import load
from eqv2.potential import Potential


def ready_potential(
    potential: Potential | str | os.PathLike,
    *,
    forces: str | None = None,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    neighbor_mode: str | None = None,
    bf16: bool | None = None,
    compile: bool = False,
    keep_freed_memory: bool = False,
) -> Potential:
    """``potential`` loaded (a path, `eqv2.checkpoints.loading.load`), set up as the options say and in eval mode.

    Args:
        potential: a `Potential` (set up in place) or the path of a checkpoint `eqv2.load` accepts.
        forces: the force mode the caller will ask for, "direct" or "conservative"; raises `ValueError`
            when the model cannot give it (`Potential.check_force_mode`). None checks nothing.
        device, dtype: where and in which precision to run; None keeps the potential's (a checkpoint
            loads on the CPU in its own dtype). ``dtype`` is a torch dtype or its name ("float32", "float64").
        neighbor_mode: replaces the potential's rule for ties at max_neighbors
            (`eqv2.graph.neighbors.NEIGHBOR_MODES`); None keeps it. Energy derivatives replace a
            checkpoint's ``reference_strict`` by ``strict`` unless the rule is chosen here
            (`Potential.derivative_graph`).
        bf16: run the network under bf16 autocast (opt-in approximation, see `Potential`); None keeps
            the potential's setting.
        compile: compile the network's dense parts with torch.compile (`Potential.compile_network`);
            the first call compiles.
        keep_freed_memory: apply `eqv2.cpu_memory.keep_freed_memory` (process-wide glibc malloc settings
            that make repeated calls on a CPU faster; benchmarks/RESULTS.md, *glibc malloc settings*).
    """
    if keep_freed_memory:
        cpu_memory.keep_freed_memory()
    if not isinstance(potential, Potential):
        potential = load(potential)
    if forces is not None:
        potential.check_force_mode(forces)
    if device is not None or dtype is not None:
        potential = potential.to(device=device, dtype=dtype)
    if neighbor_mode is not None:
        potential.neighbor_mode = neighbor_mode
    if bf16 is not None:
        potential.bf16 = bf16
    if compile:
        potential.compile_network()
    return potential.eval()
