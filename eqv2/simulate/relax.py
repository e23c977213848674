"""Batched relaxation: many structures advance together, one model call per step for all of them.

Each structure keeps its own ASE optimizer (FIRE or L-BFGS, ASE's defaults), so its path is the one
ASE would take with `eqv2.Calculator`, step for step; only the model calls are shared. Before each
step the driver predicts every running structure in one batch and attaches the results as a
`SinglePointCalculator`; the optimizer then reads them, checks convergence and moves its atoms.
FixAtoms is honoured by ASE (fixed atoms see zero force and never move). With ``relax_cell``,
3D-periodic structures are wrapped in ASE's `FrechetCellFilter`, which relaxes the cell through the
stress (the strain derivative of the energy) at zero pressure.

A structure stops on its own convergence (max |F| <= fmax over free atoms, and cell forces when
relaxing the cell), after ``steps`` steps, or when it fails: atoms closer than 0.1 Å, non-finite
model outputs, or a force above ``max_force`` (blow-up). A failed structure is reported with its
error and last positions; the others go on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.filters import FrechetCellFilter
from ase.optimize import FIRE, LBFGS
from ase.optimize.optimize import Optimizer

from eqv2.batch import Structure
from eqv2.potential import Potential
from eqv2.prediction import attach_results, predict
from eqv2.progress import Progress

OPTIMIZERS: dict[str, type[Optimizer]] = {"fire": FIRE, "lbfgs": LBFGS}
MAX_FORCE = 100.0  # eV/Å: a force above this on a free atom means the structure blew up


@dataclass
class RelaxResult:
    """One relaxed structure: ``atoms`` carries the last energy, forces (and stress) as calculator results."""

    atoms: Atoms
    converged: bool
    steps: int  # optimizer steps taken
    error: str | None = None  # why the structure failed; None when it did not
    trajectory: list[Atoms] = field(default_factory=list)  # every evaluated frame, when asked for

    @property
    def energy(self) -> float:
        """Final energy in eV (nan for a structure that failed before its first evaluation)."""
        results = getattr(self.atoms.calc, "results", {})
        return float(results.get("energy", np.nan))


def fixed_mask(atoms: Atoms) -> np.ndarray:
    """[N] bool, True for atoms held by FixAtoms."""
    return Structure.from_atoms(atoms).fixed


class _Relaxation:
    """One structure's atoms, optimizer and status while the batch runs."""

    def __init__(self, atoms: Atoms, optimizer: str, relax_cell: bool, keep_trajectory: bool) -> None:
        self.atoms = atoms
        movable = FrechetCellFilter(atoms) if relax_cell and atoms.pbc.all() else atoms
        self.optimizer = OPTIMIZERS[optimizer](movable, logfile=None)
        self.keep_trajectory = keep_trajectory
        self.trajectory: list[Atoms] = []
        self.running, self.converged, self.error = True, False, None

    def advance(self, result: dict, fmax: float, steps: int, max_force: float) -> None:
        """Take the model's ``result`` for the current positions; stop or take one optimizer step."""
        if "error" not in result:
            frame = attach_results(self.atoms, result)
            self.atoms.calc = SinglePointCalculator(self.atoms, **frame.calc.results)
            if self.keep_trajectory:
                self.trajectory.append(frame)
        error = result.get("error") or self.blow_up(result["forces"], max_force)
        if error:
            self.running, self.error = False, error
            return
        self.optimizer.fmax = fmax
        if self.optimizer.gradient_converged(self.optimizer.optimizable.get_gradient()):
            self.running, self.converged = False, True
        elif self.optimizer.nsteps >= steps:
            self.running = False
        else:
            self.optimizer.step()
            self.optimizer.nsteps += 1

    def blow_up(self, forces: np.ndarray, max_force: float) -> str | None:
        """An error message when a free atom feels more than ``max_force`` eV/Å."""
        free = ~fixed_mask(self.atoms)
        largest = float(np.linalg.norm(forces[free], axis=1).max(initial=0.0))
        if largest <= max_force:
            return None
        return f"{self.atoms.info['name']}: blew up: force {largest:.3g} eV/Å above the bound {max_force} eV/Å"

    def result(self) -> RelaxResult:
        self.atoms.info.update(converged=self.converged, steps=self.optimizer.nsteps)
        if self.error:
            self.atoms.info["error"] = self.error
        return RelaxResult(self.atoms, self.converged, self.optimizer.nsteps, self.error, self.trajectory)


def relax(
    potential: Potential,
    structures: Sequence[Atoms],
    fmax: float = 0.05,
    steps: int = 300,
    optimizer: str = "fire",
    relax_cell: bool = False,
    forces: str = "direct",
    batch_size: int | None = None,
    max_force: float = MAX_FORCE,
    trajectory: bool = False,
    progress: bool = False,
) -> list[RelaxResult]:
    """Relax all ``structures`` together (module docstring); returns one `RelaxResult` each, in order.

    ``optimizer`` is "fire" or "lbfgs"; ``fmax`` in eV/Å; ``steps`` the most optimizer steps per
    structure; ``batch_size`` caps the structures per model call (default: all running ones).
    With ``relax_cell``, prefer ``forces="conservative"``: direct forces come from the force head,
    the stress from the energy, and the two need not share a minimum.
    Invalid input (unknown elements, overlapping atoms, ...) raises `eqv2.DataError` before
    any step; problems that arise during the relaxation are flagged per structure.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {optimizer!r}")
    relaxations = [_Relaxation(atoms.copy(), optimizer, relax_cell, trajectory) for atoms in structures]
    for index, relaxation in enumerate(relaxations):
        relaxation.atoms.info.setdefault("name", f"structure {index}")
    bar = Progress(len(relaxations), "relax") if progress else None
    running, first = relaxations, True
    while running:
        results = predict(
            potential,
            [r.atoms for r in running],
            batch_size=batch_size or len(running),
            forces=forces,
            stress=relax_cell,
            on_error="raise" if first else "flag",
        )
        for relaxation, result in zip(running, results):
            relaxation.advance(result, fmax, steps, max_force)
        if bar:
            bar.advance(sum(not r.running for r in running))
        running, first = [r for r in running if r.running], False
    return [r.result() for r in relaxations]
