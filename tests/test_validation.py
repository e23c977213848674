"""Each kind of bad input raises `DataError` naming the file, the index and the problem."""

import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from eqv2.batch import Structure
from eqv2.data import ReadOptions, open_dataset
from eqv2.integrations.ase import Calculator
from eqv2.testing import tiny_potential
from eqv2.validation import DataError, validate_structure


def labelled(atoms):
    atoms.calc = SinglePointCalculator(atoms, energy=0.0, forces=np.zeros((len(atoms), 3)))
    return atoms


def good():
    return labelled(Atoms("CuCu", positions=[[0, 0, 0], [2.5, 0, 0]], cell=np.eye(3) * 5, pbc=True))


def nan_position():
    atoms = good()
    atoms.positions[1, 2] = np.nan
    return atoms


def too_close():
    return labelled(Atoms("CuO", positions=[[0, 0, 0], [0.05, 0, 0]]))


def coincident():
    return labelled(Atoms("CuO", positions=[[1, 1, 1], [1, 1, 1]]))


def coincident_with_an_image():
    return labelled(Atoms("CuO", positions=[[0, 0, 0], [5, 5, 5]], cell=np.eye(3) * 5, pbc=True))


def too_close_to_own_image():
    return labelled(Atoms("Cu", positions=[[0, 0, 0]], cell=[0.04, 3, 3], pbc=True))


def flat_periodic_cell():
    return labelled(Atoms("Cu", positions=[[0, 0, 0]], cell=[3, 3, 0], pbc=True))


def bad_number():
    return labelled(Atoms(numbers=[29, 0], positions=[[0, 0, 0], [2, 0, 0]]))


def unlabelled():
    return Atoms("Cu", positions=[[0, 0, 0]])


@pytest.mark.parametrize(
    "make, message",
    [
        (nan_position, "position of atom 1 is not finite"),
        (too_close, "atoms 0 and 1 are 0.05 Å apart"),
        (coincident, "atoms 0 and 1 are 0 Å apart"),
        (coincident_with_an_image, "atoms 0 and 1 \\(periodic image \\[-1, -1, -1\\]\\) are 0 Å apart"),
        (too_close_to_own_image, "atoms 0 and 0 \\(periodic image \\[-?1, 0, 0\\]\\) are 0.04 Å apart"),
        (flat_periodic_cell, "cell has zero volume along its periodic directions"),
        (bad_number, "atomic number 0 of atom 1 is outside 1..100"),
        (unlabelled, "missing energy label"),
        (lambda: labelled(Atoms()), "empty structure"),
    ],
)
def test_bad_input_names_file_index_and_problem(tmp_path, make, message):
    path = tmp_path / "bad.traj"
    ase.io.write(path, [good(), make()])
    dataset = open_dataset(path, ReadOptions(required_labels=("energy", "forces")))
    dataset[0]
    with pytest.raises(DataError, match=f"bad.traj\\[1\\]: {message}"):
        dataset[1]


def test_atomic_number_range_and_isolated_atoms():
    structure = Structure.from_atoms(Atoms("Au", positions=[[0, 0, 0]]), name="x[0]")
    validate_structure(structure)  # an isolated atom is valid
    with pytest.raises(DataError, match="x\\[0\\]: atomic number 79 of atom 0 is outside 1..20"):
        validate_structure(structure, max_atomic_number=20)


def test_wrong_label_shape_and_non_finite_label():
    structure = Structure.from_atoms(good(), name="y[3]")
    structure.forces = np.zeros((3, 3))
    with pytest.raises(DataError, match="forces has shape"):
        validate_structure(structure, required_labels=("forces",))
    structure.energy = float("inf")
    with pytest.raises(DataError, match="energy is not finite"):
        validate_structure(structure, required_labels=("energy",))


def test_the_calculator_refuses_coincident_atoms():
    atoms = Atoms("CuO", positions=[[0, 0, 0], [0, 0, 0]])
    atoms.calc = Calculator(tiny_potential())
    with pytest.raises(DataError, match="CuO: atoms 0 and 1 are 0 Å apart"):
        atoms.get_potential_energy()


@pytest.mark.parametrize("number", [119, -1])
def test_the_calculator_refuses_an_atomic_number_no_element_has(number):
    atoms = Atoms(numbers=[29, number], positions=[[0, 0, 0], [2, 0, 0]])
    atoms.calc = Calculator(tiny_potential())
    with pytest.raises(DataError, match=f"atoms: atomic number {number} of atom 1 is outside 1..89"):
        atoms.get_potential_energy()


def test_readers_refuse_an_atomic_number_no_element_has_whatever_the_limit(tmp_path):
    ase.io.write(tmp_path / "z.traj", Atoms(numbers=[29, 119], positions=[[0, 0, 0], [2, 0, 0]]))
    with pytest.raises(DataError, match="z.traj\\[0\\]: atomic number 119 of atom 1 is outside 1..118"):
        open_dataset(tmp_path / "z.traj", ReadOptions(max_atomic_number=150))[0]
