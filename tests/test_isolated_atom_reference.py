"""The opt-in ``isolated_atom_reference``: a lone atom adds no network energy, and training pins the
references of the isolated atoms its data hold to their energies."""

import dataclasses

import numpy as np
import pytest

from eqv2.batch import Structure
from eqv2.data import compute_statistics
from eqv2.testing import (
    TINY_MODEL,
    finite_difference_forces,
    predict,
    random_rotation,
    rotated,
    structures,
    tiny_potential,
)

CUTOFF = TINY_MODEL["max_radius"]


def lone(number: int, box: float | None = None) -> Structure:
    """One atom, without a cell or in a cubic periodic box of side ``box``."""
    periodic = box is not None
    return Structure(
        positions=np.full((1, 3), 0.3),
        atomic_numbers=np.array([number]),
        cell=np.eye(3) * (box or 0.0),
        pbc=np.full(3, periodic),
        name="lone atom",
    )


def pair(distance: float) -> Structure:
    return Structure(
        positions=np.array([[0.0, 0.0, 0.0], [0.0, 0.6, 0.8]]) * np.array([1.0, distance, distance]),
        atomic_numbers=np.array([6, 29]),
        cell=np.zeros((3, 3)),
        pbc=np.zeros(3, bool),
        name="pair",
    )


@pytest.mark.parametrize("option", [False, True])
def test_a_lone_atom_adds_no_network_energy_only_with_the_option(option):
    potential = tiny_potential(isolated_atom_reference=option, cutoff_envelope=True)
    energies = [predict(potential, lone(number))["energy"] for number in (1, 6, 29)]
    if option:
        assert energies == [0.0, 0.0, 0.0]
    else:
        assert min(abs(energy) for energy in energies) > 1e-3


def test_atoms_drawn_apart_reach_the_lone_atoms_smoothly():
    potential = tiny_potential(isolated_atom_reference=True, cutoff_envelope=True)
    bonded = predict(potential, pair(2.0))["energy"]
    inside, at_cutoff = (predict(potential, pair(CUTOFF + shift))["energy"] for shift in (-1e-4, 0.0))
    assert abs(bonded) > 1e-5 and abs(inside) < 1e-12 and at_cutoff == 0.0


def test_forces_and_symmetry_are_unchanged_in_kind():
    potential = tiny_potential(isolated_atom_reference=True, cutoff_envelope=True)
    structure = structures()[0]
    analytic = predict(potential, structure, forces="conservative")["forces"]
    numeric = finite_difference_forces(potential, structure, atoms=[0, 3])
    assert np.abs(analytic[[0, 3]] - numeric).max() < 1e-6
    turned = rotated(structure, random_rotation(0))
    assert predict(potential, turned)["energy"] == pytest.approx(predict(potential, structure)["energy"], abs=1e-10)


def test_statistics_pin_the_references_of_isolated_atoms():
    carbon, copper = -1.25, -3.0
    molecules = []
    for count in range(1, 5):  # C_n Cu_2 with a binding term the fit must absorb into copper's reference
        numbers = np.array([6] * count + [29, 29])
        energy = carbon * count + 2 * copper - 0.5
        molecules.append(
            dataclasses.replace(pair(2.0), atomic_numbers=numbers, positions=np.zeros((count + 2, 3)), energy=energy)
        )
    isolated = [lone(6), lone(6, box=12.0)]
    for structure in isolated:
        structure.energy = 0.75
    near_images = lone(6, box=3.0)  # one atom, but its periodic images lie within the cutoff
    near_images.energy = -9.0
    statistics = compute_statistics(molecules + isolated + [near_images], isolated_atom_cutoff=CUTOFF)
    assert statistics.isolated_atom_elements == (6,)
    assert statistics.reference_energies[6] == 0.75
    free = compute_statistics(molecules + isolated + [near_images])
    assert free.isolated_atom_elements == () and free.reference_energies[6] != 0.75
    # copper's reference: the least-squares fit of what carbon's pinned reference leaves of the structures
    # that hold copper, (E - 0.75 n_C) / 2 on average
    left = [(s.energy - 0.75 * (s.atomic_numbers == 6).sum()) / 2 for s in molecules]
    assert statistics.reference_energies[29] == pytest.approx(np.mean(left))
