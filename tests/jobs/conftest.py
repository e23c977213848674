"""A tiny float32 checkpoint and small Cu(111) slabs with an adsorbate, written to an extxyz file."""

import ase.io
import numpy as np
import pytest
import torch

import eqv2
from eqv2.potential import Normalizer, Potential, TargetStatistics
from eqv2.testing import GATE_MODEL, cu111_slab, tiny_potential


@pytest.fixture(scope="package")
def make_slab():
    return cu111_slab


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
    structures = [cu111_slab(seed, repeat=int(rng.integers(1, 3))) for seed in range(12)]
    path = tmp_path_factory.mktemp("inputs") / "slabs.extxyz"
    ase.io.write(path, structures)
    return str(path)
