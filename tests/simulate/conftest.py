"""Small slabs and a tiny random potential whose forces are scaled down, so relaxations move gently."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import add_adsorbate, bulk, fcc111, molecule
from ase.constraints import FixAtoms

import eqv2
from eqv2.potential import Normalizer, Potential, TargetStatistics
from eqv2.testing import GATE_MODEL, tiny_potential


def gentle_potential(scale: float = 1.0) -> Potential:
    """The float64 tiny gate model with energies and forces scaled by ``scale``."""
    network = tiny_potential(**GATE_MODEL).model
    return Potential(network, TargetStatistics(Normalizer(0.0, scale), Normalizer(0.0, scale)))


def slab_with_adsorbate(seed: int, adsorbate: str = "O") -> Atoms:
    """Cu(111) 2x2x3 with the bottom layer fixed and a rattled adsorbate on top (13-14 atoms)."""
    slab = fcc111("Cu", size=(2, 2, 3), vacuum=6.0)
    add_adsorbate(slab, molecule(adsorbate) if adsorbate == "OH" else adsorbate, height=1.9, position="fcc")
    slab.info.clear()  # ASE's adsorbate-site table, which extxyz cannot store
    slab.set_tags(np.where(slab.positions[:, 2] < slab.positions[:12, 2].min() + 0.1, 0, 1))
    slab.set_constraint(FixAtoms(mask=slab.get_tags() == 0))
    slab.rattle(0.05, seed=seed)
    return slab


@pytest.fixture(scope="package")
def potential() -> Potential:
    return gentle_potential()


@pytest.fixture(scope="package")
def strong_potential() -> Potential:
    return gentle_potential(scale=10.0)


@pytest.fixture(scope="package")
def slabs() -> list[Atoms]:
    return [slab_with_adsorbate(seed) for seed in range(3)] + [slab_with_adsorbate(9, "OH")]


@pytest.fixture
def bulk_cu() -> Atoms:
    atoms = bulk("Cu", "fcc", a=3.7, cubic=True)
    atoms.rattle(0.05, seed=1)
    return atoms


@pytest.fixture(scope="package")
def checkpoint(tmp_path_factory, potential) -> str:
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    eqv2.save(potential, path)
    return str(path)
