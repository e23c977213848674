"""Conservative forces and stress against central finite differences of the energy (float64)."""

import numpy as np
import pytest

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
