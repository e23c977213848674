"""Conservative forces and stress against central finite differences of the energy (float64)."""

import copy

import numpy as np
import pytest
import torch

from eqv2.testing import (
    GATE_MODEL,
    S2_MODEL,
    finite_difference_forces,
    finite_difference_stress,
    predict,
    structures,
    tiny_potential,
)


@pytest.mark.parametrize("config", [GATE_MODEL, S2_MODEL], ids=["gate", "s2"])
@pytest.mark.parametrize("structure", structures(), ids=lambda s: s.name)
def test_forces_are_minus_energy_gradient(config, structure):
    potential = tiny_potential(**config)
    forces = predict(potential, structure, forces="conservative")["forces"]
    atoms = list(range(min(structure.num_atoms, 3)))
    reference = finite_difference_forces(potential, structure, atoms)
    assert np.allclose(forces[atoms], reference, atol=1e-7 * max(1.0, np.abs(reference).max()), rtol=1e-6)


@pytest.mark.parametrize("config", [GATE_MODEL, S2_MODEL], ids=["gate", "s2"])
@pytest.mark.parametrize("structure", structures()[1:], ids=lambda s: s.name)
def test_stress_is_strain_derivative(config, structure):
    potential = tiny_potential(**config)
    stress = predict(potential, structure, forces="conservative", stress=True)["stress"]
    reference = finite_difference_stress(potential, structure)
    assert np.allclose(stress, reference, atol=1e-8 * max(1.0, np.abs(reference).max()), rtol=1e-6)
    assert np.allclose(stress, stress.T, atol=1e-12)


def test_float32_agrees_with_float64():
    structure = structures()[2]
    potential = tiny_potential(**GATE_MODEL)
    double = predict(potential, structure, forces="conservative", stress=True)
    single = predict(copy.deepcopy(potential).to(torch.float32), structure, forces="conservative", stress=True)
    assert abs(single["energy"] - double["energy"]) < 1e-5 * max(1.0, abs(double["energy"]))
    assert np.allclose(single["forces"], double["forces"], atol=1e-5)
    assert np.allclose(single["stress"], double["stress"], atol=1e-5)
