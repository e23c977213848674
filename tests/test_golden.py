"""Reproduce fairchem-core 1.10.0's predictions on its own checkpoints (float32, CPU)."""

import json
from pathlib import Path

import ase.io
import pytest
import torch

import eqv2
from eqv2.batch import Structure

FIXTURES = Path(__file__).parent / "fixtures"
REFERENCE_CASES = ("tiny_L4M2", "tiny_gate_L2M1", "tiny_variants_L3M1", "tiny_plain_s2_L3M3", "tiny_symmetric_gate")


ENERGY_TOLERANCE = 2e-5  # eV
FORCE_TOLERANCE = 5e-5  # eV/Å


def expected(name: str) -> dict:
    return json.loads((FIXTURES / "reference" / name / "expected.json").read_text())


def cases():
    for name in REFERENCE_CASES:
        for case in expected(name)["cases"]:
            yield name, expected(name)["checkpoint"], case


@pytest.fixture(scope="module")
def potentials():
    return {name: eqv2.load(FIXTURES / "reference" / name / expected(name)["checkpoint"]) for name in REFERENCE_CASES}


@pytest.mark.parametrize("name, checkpoint, case", list(cases()), ids=lambda v: v if isinstance(v, str) else v["file"])
def test_reproduces_reference(potentials, name, checkpoint, case):
    potential = potentials[name]
    atoms = ase.io.read(FIXTURES / "reference" / name / case["file"])
    results = potential(potential.collate([Structure.from_atoms(atoms)]))
    energy_error = abs(float(results["energy"][0]) - case["energy"])
    force_error = (results["forces"] - torch.tensor(case["forces"])).abs().max().item()
    print(f"{name}/{case['file']}: |dE| {energy_error:.1e} eV, max |dF| {force_error:.1e} eV/Å")  # shown with -s
    assert energy_error <= max(ENERGY_TOLERANCE, 10 * case["ref_spread_energy"])
    assert force_error <= max(FORCE_TOLERANCE, 10 * case["ref_spread_forces"])


def test_calculator_matches_and_is_bitwise_deterministic(potentials):
    name = "tiny_L4M2"
    case = expected(name)["cases"][1]
    atoms = ase.io.read(FIXTURES / "reference" / name / case["file"])
    atoms.calc = eqv2.Calculator(potentials[name])
    first_energy, first_forces = atoms.get_potential_energy(), atoms.get_forces().copy()
    assert abs(first_energy - case["energy"]) <= ENERGY_TOLERANCE
    for _ in range(3):
        atoms.calc.reset()
        assert atoms.get_potential_energy() == first_energy
        assert (atoms.get_forces() == first_forces).all()
