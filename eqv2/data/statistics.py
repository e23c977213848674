"""Target statistics of a training set, stored with the model so predictions come back in eV.

Per-element reference energies e_Z are the least-squares solution of
``E_s ≈ sum_Z count_s(Z) * e_Z`` over training structures s (minimum-norm when compositions are
linearly dependent; zero for elements absent from the set). The residual ``E_s - sum_Z
count_s(Z) e_Z`` is what a model learns; its per-atom mean and standard deviation and the force RMS
set the model's output shift and scale.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np

from eqv2.batch import Structure


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
            }
        )


def compute_statistics(structures: Iterable[Structure], max_atomic_number: int = 100) -> DatasetStatistics:
    """Statistics of structures that carry an energy; forces enter the RMS where present.

    Streams: holds one composition row per structure, never the structures themselves.
    """
    compositions, energies = [], []
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
    if not energies:
        raise ValueError("target statistics need at least one structure")
    counts = np.stack(compositions).astype(np.float64)  # [S, Z]
    energies = np.asarray(energies, dtype=np.float64)  # [S]
    present = counts.any(axis=0)  # [Z]
    references = np.zeros(counts.shape[1])  # [Z]
    references[present] = np.linalg.lstsq(counts[:, present], energies, rcond=None)[0]
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
        elements=tuple(int(number) for number in np.nonzero(present)[0]),
    )
