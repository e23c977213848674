"""Shared structures for the data tests."""

import numpy as np
import pytest
from ase.build import add_adsorbate, fcc111, molecule
from ase.calculators.singlepoint import SinglePointCalculator
from ase.constraints import FixAtoms


def labelled_images() -> list:
    """A slab with FixAtoms, tags and energy/forces/stress, and a molecule without a cell."""
    rng = np.random.default_rng(0)
    slab = fcc111("Cu", (2, 2, 3), vacuum=5.0)
    add_adsorbate(slab, "O", 1.6, "fcc")
    slab.info.clear()
    slab.set_constraint(FixAtoms(indices=[0, 1, 2, 3]))
    water = molecule("H2O")
    images = []
    for atoms in (slab, water):
        atoms.calc = SinglePointCalculator(
            atoms,
            energy=float(rng.normal()),
            forces=rng.normal(size=(len(atoms), 3)),
            stress=rng.normal(size=6),
        )
        images.append(atoms)
    return images


@pytest.fixture
def images() -> list:
    return labelled_images()
