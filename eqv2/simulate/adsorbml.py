"""AdsorbML-style screening: find the lowest-energy adsorption configuration with few reference calls.

1. `placements`: put the adsorbate on the slab's surface sites (top, bridge and hollow sites of the
   upper atoms) in several orientations about the surface normal.
2. Relax every placement with the model in one batch (`eqv2.simulate.relax`), drop the ones that
   fail or end anomalous (adsorbate desorbed or dissociated) and rank the rest by model energy.
3. Relax (or single-point) the top k with the reference calculator (any ASE calculator; EMT here)
   and keep the lowest reference energy:

    adsorption energy = E_ref(slab + adsorbate) - E_ref(relaxed clean slab) - E_ref(adsorbate in vacuum)

The slab must be periodic in x and y with vacuum along z (the surface faces +z), and hold some
atoms with FixAtoms; the adsorbate's first atom is the one that binds to the surface.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator as AseCalculator
from ase.calculators.emt import EMT
from ase.data import covalent_radii

from eqv2.adsorbates import adsorbate_atoms
from eqv2.potential import Potential
from eqv2.simulate.packing import Budget
from eqv2.simulate.relax import (
    OPTIMIZERS,
    BatchRelaxation,
    RelaxationStream,
    RelaxResult,
    fixed_mask,
    relax,
    relax_streams,
)
from eqv2.validation import DataError

UPPER_DEPTH = 1.5  # Å: atoms this far below the highest one provide top, bridge and hollow sites
SUBSURFACE_DEPTH = 2.5  # Å: atoms down to this depth provide hollow sites (above them: fcc(100) 4-fold, hcp)
MIN_VACUUM = 5.0  # Å of empty space above the slab
ORIENTATIONS = 4  # rotations about the surface normal for adsorbates that are not symmetric about it
SAME_SITE = 0.3  # Å: placements whose binding atoms lie closer than this are the same
DESORBED = 1.5  # binding atom further than this times the covalent bond length from every slab atom
DISSOCIATED = 1.5  # a bond of the adsorbate stretched beyond this times its covalent length


def check_slab(slab: Atoms) -> None:
    """Raise `DataError` unless ``slab`` is periodic in x and y, has vacuum along z and uses FixAtoms."""
    name = slab.info.get("name", slab.get_chemical_formula())
    if not slab.pbc[:2].all():
        raise DataError(f"{name}: a slab must be periodic in x and y (pbc={slab.pbc.tolist()})")
    if not fixed_mask(slab).any():
        raise DataError(f"{name}: the slab has no FixAtoms constraint; fix its bottom layers")
    heights = slab.positions[:, 2]
    vacuum = np.inf if not slab.pbc[2] else slab.cell[2, 2] - (heights.max() - heights.min())
    if vacuum < MIN_VACUUM or abs(slab.cell[2, :2]).max() > 1e-6:
        raise DataError(f"{name}: no vacuum along z (need {MIN_VACUUM} Å above the surface, c along z)")


def lateral_images(slab: Atoms) -> tuple[np.ndarray, np.ndarray]:
    """Positions [9N, 3] of the slab's atoms and their 8 in-plane periodic neighbours, and their indices [9N]."""
    shifts = np.array([(i, j, 0) for i in (-1, 0, 1) for j in (-1, 0, 1)]) @ slab.cell[:]  # [9, 3]
    positions = (slab.positions[None, :, :] + shifts[:, None, :]).reshape(-1, 3)
    return positions, np.tile(np.arange(len(slab)), len(shifts))


def site_points(slab: Atoms) -> list[tuple[str, np.ndarray]]:
    """(kind, xy [2]) of sites: top of the upper atoms, bridges of their nearest-neighbour pairs, hollows
    at their triangles and above the atoms just beneath them."""
    depth = slab.positions[:, 2].max() - slab.positions[:, 2]  # [N]
    upper = np.nonzero(depth < UPPER_DEPTH)[0]
    beneath = np.nonzero((depth >= UPPER_DEPTH) & (depth < SUBSURFACE_DEPTH))[0]
    images, owners = lateral_images(slab[upper])
    centre = images[len(upper) * 4 : len(upper) * 5]  # the unshifted copy: image 4 of 9
    distances = np.linalg.norm(centre[:, None, :] - images[None, :, :], axis=-1)  # [U, 9U]
    bonded = (distances > 1e-6) & (distances < 1.2 * distances[distances > 1e-6].min())
    sites = [("top", p[:2]) for p in centre] + [("hollow", slab.positions[i, :2]) for i in beneath]
    for i in range(len(upper)):
        neighbours = np.nonzero(bonded[i])[0]
        sites += [("bridge", 0.5 * (centre[i, :2] + images[j, :2])) for j in neighbours if owners[j] > i]
        for j, k in itertools.combinations(neighbours, 2):
            if owners[j] > i and owners[k] > i and np.linalg.norm(images[j] - images[k]) < 1.2 * distances[i, j]:
                sites.append(("hollow", (centre[i, :2] + images[j, :2] + images[k, :2]) / 3))
    return sites


def binding_height(slab: Atoms, xy: np.ndarray, element: int) -> float:
    """The lowest z at ``xy`` where the binding atom is at least a covalent bond length from every slab atom."""
    images, owners = lateral_images(slab)
    bond = covalent_radii[element] + covalent_radii[slab.numbers[owners]]  # [9N]
    lateral = np.linalg.norm(images[:, :2] - xy, axis=1)
    touching = lateral < bond
    return float(np.max(images[touching, 2] + np.sqrt(bond[touching] ** 2 - lateral[touching] ** 2)))


def in_plane_distance(slab: Atoms, a: np.ndarray, b: np.ndarray) -> float:
    """Distance between points ``a`` and ``b`` [3] under the slab's in-plane periodicity (minimum image)."""
    fractional = np.linalg.solve(slab.cell[:].T, b - a)
    fractional[:2] -= np.round(fractional[:2])
    return float(np.linalg.norm(fractional @ slab.cell[:]))


def orientations(adsorbate: Atoms) -> list[float]:
    """Angles (degrees) about z worth trying: one for atoms and adsorbates symmetric about the z axis."""
    off_axis = np.linalg.norm(adsorbate.positions[:, :2], axis=1).max() > 1e-3
    return [360.0 * k / ORIENTATIONS for k in range(ORIENTATIONS)] if off_axis else [0.0]


def placements(slab: Atoms, adsorbate: str | Atoms, count: int = 20, seed: int = 0) -> list[Atoms]:
    """Up to ``count`` distinct initial placements of ``adsorbate`` on ``slab`` (sites x orientations).

    Each keeps the slab's FixAtoms and tags (adsorbate tag 2) and records ``site`` and ``angle`` in
    ``info``. When there are more than ``count``, a seeded draw picks which.
    """
    check_slab(slab)
    gas = adsorbate_atoms(adsorbate) if isinstance(adsorbate, str) else adsorbate
    candidates, seen = [], []
    for kind, xy in site_points(slab):
        binding = np.array([*xy, binding_height(slab, xy, gas.numbers[0])])
        if any(in_plane_distance(slab, binding, other) < SAME_SITE for other in seen):
            continue
        seen.append(binding)
        for angle in orientations(gas):
            candidates.append(placed(slab, gas, binding, angle, kind))
    if len(candidates) > count:
        chosen = np.sort(np.random.default_rng(seed).choice(len(candidates), size=count, replace=False))
        candidates = [candidates[i] for i in chosen]
    return candidates


def placed(slab: Atoms, gas: Atoms, binding: np.ndarray, angle: float, kind: str) -> Atoms:
    """The slab with ``gas`` rotated by ``angle`` about z and its binding atom at ``binding``."""
    adsorbate = gas.copy()
    adsorbate.rotate(angle, "z")
    adsorbate.positions += binding
    adsorbate.set_tags(2)
    system = slab.copy()
    system += adsorbate
    system.info.pop("adsorbate_info", None)  # ASE's site table: a dict that extxyz cannot store
    system.info.update(site=kind, angle=angle)
    return system


def anomaly(system: Atoms, num_adsorbate: int, initial: Atoms | None = None) -> str | None:
    """ "desorbed", "dissociated" or None for a relaxed ``system`` whose last ``num_adsorbate`` atoms are
    the adsorbate (bonds judged against ``initial``, the placement before relaxation)."""
    slab, adsorbate = system[:-num_adsorbate], system[-num_adsorbate:]
    images, owners = lateral_images(slab)
    bond = covalent_radii[adsorbate.numbers[:, None]] + covalent_radii[slab.numbers[owners]][None, :]  # [A, 9N]
    distance = np.linalg.norm(adsorbate.positions[:, None, :] - images[None, :, :], axis=-1)
    if (distance / bond).min() > DESORBED:
        return "desorbed"
    start = (initial if initial is not None else system)[-num_adsorbate:]
    for i, j in itertools.combinations(range(num_adsorbate), 2):
        length = covalent_radii[start.numbers[i]] + covalent_radii[start.numbers[j]]
        was_bonded = start.get_distance(i, j) < 1.25 * length
        if was_bonded and adsorbate.get_distance(i, j, mic=True) > DISSOCIATED * length:
            return "dissociated"
    return None


@dataclass
class ReferenceResult:
    """One reference calculation: final atoms, energy (eV), calls to the calculator, converged."""

    atoms: Atoms
    energy: float
    calls: int
    converged: bool


def reference_relax(
    atoms: Atoms, calculator: Callable[[], AseCalculator], optimizer: str = "fire", fmax: float = 0.05, steps: int = 300
) -> ReferenceResult:
    """Relax a copy of ``atoms`` with a fresh reference calculator and ASE's ``optimizer``."""
    atoms = atoms.copy()
    atoms.calc = calculator()
    dynamics = OPTIMIZERS[optimizer](atoms, logfile=None)
    converged = dynamics.run(fmax=fmax, steps=steps)
    return ReferenceResult(atoms, atoms.get_potential_energy(), dynamics.nsteps + 1, bool(converged))


def reference_single_point(atoms: Atoms, calculator: Callable[[], AseCalculator]) -> ReferenceResult:
    atoms = atoms.copy()
    atoms.calc = calculator()
    return ReferenceResult(atoms, atoms.get_potential_energy(), 1, True)


@dataclass
class Screening:
    """The outcome of `screen` for one slab and adsorbate."""

    placements: list[Atoms]  # initial structures
    model: list[RelaxResult]  # the model's relaxation of each placement
    model_anomalies: list[str | None]  # per placement: error, "desorbed", "dissociated" or None
    ranking: list[int]  # placements without anomaly, lowest model energy first
    reference: dict[int, ReferenceResult]  # placement index -> reference result for the top k
    reference_anomalies: dict[int, str | None]
    slab_energy: float  # reference energy of the relaxed clean slab, eV
    gas_energy: float  # reference energy of the adsorbate in vacuum, eV

    @property
    def best(self) -> int | None:
        """The placement whose reference result is lowest among those without anomaly."""
        valid = [i for i in self.reference if self.reference_anomalies[i] is None]
        return min(valid, key=lambda i: self.reference[i].energy) if valid else None

    @property
    def adsorption_energy(self) -> float:
        best = self.best
        return np.nan if best is None else self.reference[best].energy - self.slab_energy - self.gas_energy

    @property
    def reference_calls(self) -> int:
        """Reference-calculator evaluations spent on the top k (clean slab and gas not counted)."""
        return sum(result.calls for result in self.reference.values())


def rank(model: Sequence[RelaxResult], anomalies: Sequence[str | None]) -> list[int]:
    """Indices of results without anomaly, lowest model energy first."""
    valid = [i for i, a in enumerate(anomalies) if a is None]
    return sorted(valid, key=lambda i: model[i].energy)


def screen(
    potential: Potential,
    slab: Atoms,
    adsorbate: str,
    num_placements: int = 20,
    top_k: int = 5,
    calculator: Callable[[], AseCalculator] = EMT,
    mode: str = "relax",
    optimizer: str = "fire",
    fmax: float = 0.05,
    steps: int = 300,
    seed: int = 0,
    progress: bool = False,
) -> Screening:
    """Screen ``adsorbate`` on ``slab`` (module docstring). ``mode`` is "relax" or "single-point"
    for the top-``top_k`` reference calculations; ``calculator`` builds a fresh reference calculator."""
    check_mode(mode)
    gas = adsorbate_atoms(adsorbate)
    initial = placements(slab, gas, num_placements, seed)
    model = relax(potential, initial, fmax=fmax, steps=steps, optimizer=optimizer, progress=progress)
    slab_energy = reference_relax(slab, calculator, optimizer, fmax, steps).energy
    return evaluate_placements(gas, initial, model, slab_energy, top_k, calculator, mode, optimizer, fmax, steps)


def check_mode(mode: str) -> None:
    if mode not in ("relax", "single-point"):
        raise ValueError(f"mode must be 'relax' or 'single-point', got {mode!r}")


def evaluate_placements(
    gas: Atoms,
    initial: list[Atoms],
    model: list[RelaxResult],
    slab_energy: float,
    top_k: int,
    calculator: Callable[[], AseCalculator],
    mode: str,
    optimizer: str,
    fmax: float,
    steps: int,
) -> Screening:
    """Steps 2 and 3 of the module docstring for placements ``initial`` relaxed by the model (``model``)."""
    anomalies = [r.error or anomaly(r.atoms, len(gas), start) for r, start in zip(model, initial)]
    ranking = rank(model, anomalies)
    reference, reference_anomalies = {}, {}
    for index in ranking[:top_k]:
        start = model[index].atoms  # the reference functions work on a copy, without the model's results
        if mode == "relax":
            reference[index] = reference_relax(start, calculator, optimizer, fmax, steps)
        else:
            reference[index] = reference_single_point(start, calculator)
        reference_anomalies[index] = anomaly(reference[index].atoms, len(gas), initial[index])
    gas_energy = reference_single_point(gas, calculator).energy
    return Screening(initial, model, anomalies, ranking, reference, reference_anomalies, slab_energy, gas_energy)


def screen_many(
    potential: Potential,
    chunks: Iterable[Iterable[tuple[Hashable, Atoms, str]]],
    budget: Budget,
    num_placements: int = 20,
    top_k: int = 5,
    calculator: Callable[[], AseCalculator] = EMT,
    mode: str = "relax",
    optimizer: str = "fire",
    fmax: float = 0.05,
    steps: int = 300,
    seed: int = 0,
) -> Iterator[tuple[Hashable, Screening]]:
    """`screen` for many (key, slab, adsorbate) systems; yields (key, `Screening`) as each system finishes.

    The placements of all systems of a chunk are relaxed together in one `RelaxationStream` within
    ``budget``, the chunks one after another (`relax_streams`); a system's placements are made when
    the stream reaches it. The reference energy of a clean slab is reused by the systems that follow
    it with the same slab.
    """
    check_mode(mode)
    systems: dict[Hashable, tuple[Atoms, list[Atoms], dict[int, RelaxResult], float]] = {}
    last_slab: dict[bytes, float] = {}  # the reference energy of the last clean slab

    def slab_energy(slab: Atoms) -> float:
        if slab_key(slab) not in last_slab:
            last_slab.clear()
            last_slab[slab_key(slab)] = reference_relax(slab, calculator, optimizer, fmax, steps).energy
        return last_slab[slab_key(slab)]

    def placement_items(chunk: Iterable[tuple[Hashable, Atoms, str]]) -> Iterator[tuple[Hashable, Atoms]]:
        for key, slab, adsorbate in chunk:
            gas = adsorbate_atoms(adsorbate)
            initial = placements(slab, gas, num_placements, seed)
            systems[key] = (gas, initial, {}, slab_energy(slab))
            yield from (((key, number), atoms) for number, atoms in enumerate(initial))

    streams = (
        RelaxationStream(BatchRelaxation(potential, fmax, steps, optimizer), placement_items(chunk), budget)
        for chunk in chunks
    )
    for (key, number), result in relax_streams(streams):
        gas, initial, results, energy = systems[key]
        results[number] = result
        if len(results) == len(initial):
            del systems[key]
            model = [results[i] for i in range(len(initial))]
            yield key, evaluate_placements(gas, initial, model, energy, top_k, calculator, mode, optimizer, fmax, steps)


def slab_key(slab: Atoms) -> bytes:
    """Bytes that identify a slab's atoms, positions and cell."""
    return slab.numbers.tobytes() + slab.positions.tobytes() + slab.cell[:].tobytes()
