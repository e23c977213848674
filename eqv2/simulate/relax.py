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

The batch is kept full (`RelaxationStream`): within a `eqv2.simulate.packing.Budget` of structures, atoms
or edges per model call, waiting structures take the places of those that stop; `relax_streams`
runs streams one after another, starting the next while the last one empties. A structure's path
depends on its batch mates only through round-off (matrix products round differently for
different batch sizes), so a stream's results depend only on its own structures and budget.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.filters import FrechetCellFilter
from ase.optimize import FIRE, LBFGS
from ase.optimize.optimize import Optimizer
from tqdm import tqdm

from eqv2.batch import Structure
from eqv2.potential import Potential
from eqv2.simulate.packing import Budget, Cost, structure_cost
from eqv2.simulate.prediction import attach_results, named_structure, predict_group

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


class BatchRelaxation:
    """Structures relaxing together (module docstring): `admit` adds one, `step` evaluates every running
    structure in one model call and moves each by one optimizer step; finished ones leave the batch.

    ``optimizer`` is "fire" or "lbfgs"; ``fmax`` in eV/Å; ``steps`` the most optimizer steps per
    structure. With ``relax_cell``, prefer ``forces="conservative"``: direct forces come from the
    force head, the stress from the energy, and the two need not share a minimum.
    """

    def __init__(
        self,
        potential: Potential,
        fmax: float = 0.05,
        steps: int = 300,
        optimizer: str = "fire",
        relax_cell: bool = False,
        forces: str = "direct",
        max_force: float = MAX_FORCE,
        trajectory: bool = False,
    ) -> None:
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {optimizer!r}")
        self.potential, self.fmax, self.steps, self.optimizer = potential, fmax, steps, optimizer
        self.relax_cell, self.forces, self.max_force, self.trajectory = relax_cell, forces, max_force, trajectory
        self.running: list[tuple[Hashable, _Relaxation, Cost]] = []  # (key, relaxation, cost at admission)

    @property
    def load(self) -> Cost:
        """The summed cost of the running structures, as measured when each was admitted."""
        return sum((cost for _, _, cost in self.running), Cost())

    def admit(self, key: Hashable, atoms: Atoms, cost: Cost) -> None:
        """Start relaxing a copy of ``atoms`` (named ``structure <key>`` unless ``info["name"]`` says)."""
        relaxation = _Relaxation(atoms.copy(), self.optimizer, self.relax_cell, self.trajectory)
        relaxation.atoms.info.setdefault("name", f"structure {key}")
        self.running.append((key, relaxation, cost))

    def step(self) -> list[tuple[Hashable, RelaxResult]]:
        """One model call and one optimizer step for every running structure; returns those that stopped."""
        structures = [named_structure(r.atoms, key) for key, r, _ in self.running]
        results = predict_group(self.potential, structures, self.forces, self.relax_cell, on_error="flag")
        for (_, relaxation, _), result in zip(self.running, results):
            relaxation.advance(result, self.fmax, self.steps, self.max_force)
        finished = [(key, r.result()) for key, r, _ in self.running if not r.running]
        self.running = [entry for entry in self.running if entry[1].running]
        return finished


class RelaxationStream:
    """Relaxes a stream of (key, atoms) ``items`` keeping the batch full: before each step, waiting
    structures are admitted in order while the batch stays within ``budget`` (a structure over it
    runs alone when the batch is empty), so as structures finish, others take their places.

    Each structure is validated when it comes up for admission: invalid input raises `DataError`
    naming it; problems that arise during its relaxation are flagged in its result. The batches,
    and so the results, depend only on the items, the budget and the settings of ``relaxation``.
    """

    def __init__(self, relaxation: BatchRelaxation, items: Iterable[tuple[Hashable, Atoms]], budget: Budget) -> None:
        self.relaxation, self.items, self.budget = relaxation, iter(items), budget
        self.waiting = self._next_waiting()

    def _next_waiting(self) -> tuple[Hashable, Atoms, Cost] | None:
        item = next(self.items, None)
        if item is None:
            return None
        key, atoms = item
        return key, atoms, structure_cost(self.relaxation.potential, named_structure(atoms, key))

    @property
    def draining(self) -> bool:
        """True once every item has been admitted."""
        return self.waiting is None

    @property
    def finished(self) -> bool:
        return self.waiting is None and not self.relaxation.running

    def step(self) -> list[tuple[Hashable, RelaxResult]]:
        """Admit what fits, then one step of `BatchRelaxation`; returns the structures that stopped."""
        relaxation = self.relaxation
        while self.waiting is not None and (
            not relaxation.running or self.budget.admits(relaxation.load + self.waiting[2])
        ):
            relaxation.admit(*self.waiting)
            self.waiting = self._next_waiting()
        return relaxation.step() if relaxation.running else []


def relax_streams(streams: Iterable[RelaxationStream], overlap: int = 2) -> Iterator[tuple[Hashable, RelaxResult]]:
    """Run ``streams`` one after another, yielding (key, result) as structures finish. The next stream
    starts as soon as the newest one is draining, so that its batch fills while the older ones
    empty; at most ``overlap`` run at once, each with its own model call per step."""
    pending, active = iter(streams), []
    while True:
        if len(active) < overlap and (not active or active[-1].draining):
            stream = next(pending, None)
            if stream is not None:
                active.append(stream)
        if not active:
            return
        for stream in active:
            yield from stream.step()
        active = [stream for stream in active if not stream.finished]


def relax(
    potential: Potential,
    structures: Sequence[Atoms],
    fmax: float = 0.05,
    steps: int = 300,
    optimizer: str = "fire",
    relax_cell: bool = False,
    forces: str = "direct",
    budget: Budget | None = None,
    max_force: float = MAX_FORCE,
    trajectory: bool = False,
    progress: bool = False,
) -> list[RelaxResult]:
    """Relax ``structures`` together (module docstring, `BatchRelaxation`); one `RelaxResult` each, in order.

    ``optimizer`` is "fire" or "lbfgs"; ``fmax`` in eV/Å; ``steps`` the most optimizer steps per
    structure. ``budget`` limits the structures, atoms or edges per model call (default: all at
    once); waiting structures take the places of finished ones (`RelaxationStream`).
    With ``relax_cell``, prefer ``forces="conservative"``: direct forces come from the force head,
    the stress from the energy, and the two need not share a minimum.
    Invalid input (unknown elements, overlapping atoms, ...) raises `eqv2.DataError` before
    its first step; problems that arise during the relaxation are flagged per structure.
    """
    relaxation = BatchRelaxation(potential, fmax, steps, optimizer, relax_cell, forces, max_force, trajectory)
    stream = RelaxationStream(relaxation, enumerate(structures), budget or Budget())
    results = {}
    with tqdm(total=len(structures), desc="relax", unit="structure", disable=not progress) as bar:
        for index, result in relax_streams([stream]):
            results[index] = result
            bar.update(1)
    return [results[index] for index in range(len(structures))]
