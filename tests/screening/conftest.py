"""A tiny float32 checkpoint and small Cu(111) slabs with an adsorbate, written to an extxyz file."""

import ase.io
import numpy as np
import pytest
import torch
from ase.build import add_adsorbate, fcc111
from ase.constraints import FixAtoms

import eqv2
from eqv2.potential import Normalizer, Potential, TargetStatistics
from eqv2.testing import GATE_MODEL, tiny_potential


def slab(seed: int, adsorbate: str | None = "O", repeat: int = 1) -> "ase.Atoms":
    """Cu(111) 2x2x3 (or ``repeat`` x 2 x 3), bottom layer fixed, rattled; 12-25 atoms."""
    atoms = fcc111("Cu", size=(2 * repeat, 2, 3), vacuum=6.0)
    if adsorbate:
        add_adsorbate(atoms, adsorbate, height=1.9, position="fcc")
    atoms.info.clear()  # ASE's adsorbate-site table, which extxyz cannot store
    atoms.set_constraint(FixAtoms(mask=atoms.positions[:, 2] < atoms.positions[:, 2].min() + 0.1))
    atoms.rattle(0.05, seed=seed)
    return atoms


@pytest.fixture(scope="package")
def make_slab():
    return slab


@pytest.fixture(scope="package")
def checkpoint(tmp_path_factory) -> str:
    network = tiny_potential(dtype=torch.float32, **GATE_MODEL).model
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    eqv2.save(Potential(network, TargetStatistics(Normalizer(0.0, 0.5), Normalizer(0.0, 0.5))), path)
    return str(path)


@pytest.fixture(scope="package")
def slabs_file(tmp_path_factory) -> str:
    """12 slabs of 13 to 25 atoms."""
    rng = np.random.default_rng(0)
    structures = [slab(seed, repeat=int(rng.integers(1, 3))) for seed in range(12)]
    path = tmp_path_factory.mktemp("inputs") / "slabs.extxyz"
    ase.io.write(path, structures)
    return str(path)
