"""Conservative forces and stress against central finite differences of the energy (float64)."""

import copy
import dataclasses

import numpy as np
import pytest
import torch

from eqv2.batch import Structure
from eqv2.testing import (
    GATE_MODEL,
    S2_MODEL,
    TINY_MODEL,
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


@pytest.mark.parametrize(
    "config",
    [TINY_MODEL, GATE_MODEL, S2_MODEL, dict(TINY_MODEL, use_sep_s2_act=False, use_attn_renorm=True)],
    ids=["sep_s2", "gate", "s2_mlp", "s2_act"],
)
def test_a_batch_without_edges(config):
    """Isolated atoms (molecules of one atom in a dataset): a batch with no edge at all trains and predicts."""
    potential = tiny_potential(**config)
    atom = Structure(np.zeros((1, 3)), np.array([6]), 10.0 * np.eye(3), np.zeros(3, bool), name="C atom")
    batch = potential.collate([atom, dataclasses.replace(atom, atomic_numbers=np.array([1]))])
    assert batch.edge_index.shape == (2, 0)
    results = potential.energy_and_derivatives(batch, forces=True, stress=True, create_graph=True)
    results["energy"].sum().backward()
    assert torch.isfinite(results["energy"]).all() and results["energy"][0] != results["energy"][1]
    assert not results["forces"].any() and not results["stress"].any()
    assert all(torch.isfinite(p.grad).all() for p in potential.parameters() if p.grad is not None)
    alone = predict(potential, atom, forces="direct")
    assert alone["energy"] == pytest.approx(float(results["energy"][0].detach()))
