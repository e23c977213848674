"""Target statistics: reference energies recover per-element energies; mean, std and force RMS."""

import numpy as np
import pytest

from eqv2.batch import Structure
from eqv2.data import DatasetStatistics, compute_statistics


def structure(numbers, energy, forces=None):
    numbers = np.asarray(numbers)
    return Structure(
        positions=np.zeros((len(numbers), 3)),
        atomic_numbers=numbers,
        cell=np.zeros((3, 3)),
        pbc=np.zeros(3, bool),
        energy=energy,
        forces=forces,
    )


def test_reference_energies_are_least_squares_per_element():
    rng = np.random.default_rng(0)
    per_element = {1: -3.4, 8: -7.1, 29: -4.0}
    structures = []
    for _ in range(30):
        numbers = rng.choice(list(per_element), size=rng.integers(2, 9))
        structures.append(structure(numbers, sum(per_element[z] for z in numbers) + rng.normal(scale=1e-3)))
    statistics = compute_statistics(structures)
    for z, energy in per_element.items():
        assert statistics.reference_energies[z] == pytest.approx(energy, abs=1e-2)
    assert statistics.reference_energies[2] == 0.0
    assert statistics.elements == (1, 8, 29)
    assert abs(statistics.residual_per_atom_mean) < 1e-3 and statistics.residual_per_atom_std < 1e-3
    energies = [s.energy for s in structures]
    assert statistics.energy_mean == pytest.approx(np.mean(energies))
    assert statistics.energy_std == pytest.approx(np.std(energies))
    assert statistics.reference_energy(np.array([1, 1, 8])) == pytest.approx(-13.9, abs=3e-2)
    assert DatasetStatistics.from_dict(statistics.to_dict()) == statistics


def test_force_rms_and_missing_energy():
    forces = np.array([[3.0, 0.0, 0.0], [0.0, 4.0, 0.0]])
    statistics = compute_statistics([structure([29, 29], -1.0, forces), structure([29], -0.5)])
    assert statistics.force_rms == pytest.approx(np.sqrt(25.0 / 6.0))
    with pytest.raises(ValueError, match="s\\[1\\]: target statistics need an energy label"):
        bad = structure([29], None)
        bad.name = "s[1]"
        compute_statistics([bad])
