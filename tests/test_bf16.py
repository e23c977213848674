"""The opt-in bf16 autocast mode of `Potential` and `Calculator`: runs, differs from float32 by a
bf16-sized amount, and is off by default."""

import numpy as np
import torch
from ase import Atoms

import eqv2
from eqv2.testing import S2_MODEL, structures, tiny_potential


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0))


def test_bf16_potential_is_close_to_float32_and_not_equal():
    potential = tiny_potential(dtype=torch.float32, **S2_MODEL)
    assert potential.bf16 is False
    batch = potential.collate([structures()[1], structures()[2]])
    for forces in ("direct", "conservative"):
        exact = potential(batch, forces=forces)
        potential.bf16 = True
        low = potential(batch, forces=forces)
        potential.bf16 = False
        assert low["energy"].dtype == torch.float32 and low["forces"].dtype == torch.float32
        assert not torch.equal(low["forces"], exact["forces"])
        assert cosine(low["forces"], exact["forces"]) > 0.9  # a random model; trained: benchmarks/bf16_error.py
        assert (low["energy"] - exact["energy"]).abs().max() < 0.1 * exact["energy"].abs().max()


def test_calculator_bf16_option():
    potential = tiny_potential(dtype=torch.float32, **S2_MODEL)
    bulk = structures()[2]
    atoms = Atoms(numbers=bulk.atomic_numbers, positions=bulk.positions, cell=bulk.cell, pbc=bulk.pbc)
    atoms.calc = eqv2.Calculator(potential, bf16=True)
    low = atoms.get_forces()
    assert potential.bf16 is True
    atoms.calc = eqv2.Calculator(potential, bf16=False)
    exact = atoms.get_forces()
    assert not np.array_equal(low, exact)
    assert cosine(torch.as_tensor(low), torch.as_tensor(exact)) > 0.9


def test_bf16_off_keeps_the_callers_autocast():
    """The trainer's own autocast (bf16 on GPUs) must reach the network through the potential."""
    potential = tiny_potential(dtype=torch.float32, **S2_MODEL)
    batch = potential.collate([structures()[2]])
    exact = potential(batch)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        outer = potential(batch)
    assert not torch.equal(outer["forces"], exact["forces"])
