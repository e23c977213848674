"""Target statistics of a training set, stored with the model so predictions come back in eV.

Per-element reference energies e_Z are the least-squares solution of
``E_s ≈ sum_Z count_s(Z) * e_Z`` over training structures s (minimum-norm when compositions are
linearly dependent; zero for elements absent from the set). The residual ``E_s - sum_Z
count_s(Z) e_Z`` is what a model learns; its per-atom mean and standard deviation and the force RMS
set the model's output shift and scale.

Isolated atoms (given an ``isolated_atom_cutoff``): a structure of one atom with no periodic image
within the cutoff. Each element the set holds as an isolated atom has its reference pinned to that
atom's energy (the mean where it appears more than once); the other references are the least-squares
fit of what the pinned ones leave. A model whose isolated atoms add no energy of their own
(``isolated_atom_reference``) then gives an isolated atom exactly its training energy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np

from eqv2.batch import Structure
from eqv2.graph.neighbors import pairs_within


@dataclass(frozen=True)
class DatasetStatistics:
    """Statistics of energies (eV) and forces (eV/Å) over a training set."""

    num_structures: int
    energy_mean: float  # mean total energy per structure
    energy_std: float  # standard deviation of the total energy
    residual_per_atom_mean: float  # mean of (E - sum of reference energies) / N
    residual_per_atom_std: float
    force_rms: float  # sqrt(mean over atoms and components of F^2)
    reference_energies: tuple[float, ...]  # [max_atomic_number + 1], indexed by atomic number
    num_stress_labels: int = 0  # structures that carry a stress label
    elements: tuple[int, ...] = ()  # atomic numbers present in the set, ascending
    isolated_atom_elements: tuple[int, ...] = ()  # elements whose reference is an isolated atom's energy

    def reference_energy(self, atomic_numbers: np.ndarray) -> float:
        """Sum of the reference energies of the given atoms (eV)."""
        return float(np.asarray(self.reference_energies)[np.asarray(atomic_numbers)].sum())

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> DatasetStatistics:
        return cls(
            **{
                **values,
                "reference_energies": tuple(values["reference_energies"]),
                "elements": tuple(values.get("elements", ())),
                "isolated_atom_elements": tuple(values.get("isolated_atom_elements", ())),
            }
        )


def compute_statistics(
    structures: Iterable[Structure], max_atomic_number: int = 100, isolated_atom_cutoff: float | None = None
) -> DatasetStatistics:
    """Statistics of structures that carry an energy; forces enter the RMS where present.

    With ``isolated_atom_cutoff`` (Å) the references of elements held as isolated atoms are pinned to
    their energies (module docstring). Streams: holds one composition row per structure, never the
    structures themselves.
    """
    compositions, energies, isolated = [], [], []
    force_square_sum, force_count, num_stress_labels = 0.0, 0, 0
    for structure in structures:
        if structure.energy is None:
            raise ValueError(f"{structure.name or 'structure'}: target statistics need an energy label")
        compositions.append(np.bincount(structure.atomic_numbers, minlength=max_atomic_number + 1))
        energies.append(structure.energy)
        if structure.forces is not None:
            force_square_sum += float(np.square(structure.forces).sum())
            force_count += structure.forces.size
        num_stress_labels += structure.stress is not None
        isolated.append(isolated_atom_cutoff is not None and is_isolated_atom(structure, isolated_atom_cutoff))
    if not energies:
        raise ValueError("target statistics need at least one structure")
    counts = np.stack(compositions).astype(np.float64)  # [S, Z]
    energies = np.asarray(energies, dtype=np.float64)  # [S]
    references, pinned = reference_energies(counts, energies, np.asarray(isolated, dtype=bool))
    residual_per_atom = (energies - counts @ references) / counts.sum(axis=1)
    return DatasetStatistics(
        num_structures=len(energies),
        energy_mean=float(energies.mean()),
        energy_std=float(energies.std()),
        residual_per_atom_mean=float(residual_per_atom.mean()),
        residual_per_atom_std=float(residual_per_atom.std()),
        force_rms=float(np.sqrt(force_square_sum / force_count)) if force_count else 0.0,
        reference_energies=tuple(float(value) for value in references),
        num_stress_labels=num_stress_labels,
        elements=tuple(int(number) for number in np.nonzero(counts.any(axis=0))[0]),
        isolated_atom_elements=tuple(int(number) for number in np.nonzero(pinned)[0]),
    )


def reference_energies(counts: np.ndarray, energies: np.ndarray, isolated: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-element references [Z] and which of them are pinned [Z] bool, from compositions counts [S, Z],
    energies [S] and which structures are isolated atoms [S] bool (module docstring)."""
    pinned = counts[isolated].any(axis=0)  # [Z]
    references = np.zeros(counts.shape[1])  # [Z]
    for element in np.nonzero(pinned)[0]:
        references[element] = energies[isolated & (counts[:, element] > 0)].mean()
    free = counts.any(axis=0) & ~pinned
    rest = ~isolated & counts[:, free].any(axis=1)  # structures that hold an element left to fit
    if free.any() and rest.any():
        left = energies[rest] - counts[rest] @ references
        references[free] = np.linalg.lstsq(counts[rest][:, free], left, rcond=None)[0]
    return references, pinned


def is_isolated_atom(structure: Structure, cutoff: float) -> bool:
    """True for one atom with no periodic image of itself within ``cutoff`` (Å)."""
    if structure.num_atoms != 1:
        return False
    periodic = np.asarray(structure.pbc, dtype=bool)
    return len(pairs_within(structure.positions, structure.cell, periodic, cutoff)[0]) == 0
