"""Small labelled datasets and tiny configs for the training tests."""

from __future__ import annotations

from pathlib import Path

import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.constraints import FixAtoms

TINY = dict(
    num_layers=1,
    sphere_channels=8,
    attn_hidden_channels=8,
    num_heads=2,
    attn_alpha_channels=4,
    attn_value_channels=4,
    ffn_hidden_channels=8,
    edge_channels=8,
    lmax_list=[2],
    mmax_list=[1],
    grid_resolution=6,
    max_radius=4.0,
    max_neighbors=8,
    alpha_drop=0.0,
    drop_path_rate=0.0,
    avg_num_nodes=5.0,
    avg_degree=4.0,
    norm_type="layer_norm_sh",
)


def emt_clusters(count: int, seed: int) -> list[Atoms]:
    """Rattled 5-atom Cu/Ni/Al clusters labelled with EMT; the first atom held by FixAtoms."""
    rng = np.random.default_rng(seed)
    base = np.array([[0, 0, 0], [2.5, 0, 0], [0, 2.5, 0], [0, 0, 2.5], [1.8, 1.8, 1.8]], dtype=float)
    images = []
    for _ in range(count):
        atoms = Atoms(rng.choice(["Cu", "Ni", "Al"], size=5), positions=base + rng.normal(scale=0.15, size=(5, 3)))
        atoms.center(vacuum=4.0)
        atoms.set_constraint(FixAtoms(indices=[0]))
        atoms.calc = EMT()
        energy, forces = atoms.get_potential_energy(), atoms.get_forces(apply_constraint=False)
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
        images.append(atoms)
    return images


@pytest.fixture(scope="package")
def emt_data(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("emt_clusters")
    paths = {}
    for split, (count, seed) in {"train": (16, 0), "val": (6, 1)}.items():
        paths[split] = folder / f"{split}.extxyz"
        ase.io.write(paths[split], emt_clusters(count, seed), format="extxyz")
    return paths


def emt_bulk(count: int, seed: int) -> list[Atoms]:
    """Strained, rattled 4-atom Cu cells with EMT energy, forces and stress."""
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(count):
        atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
        atoms.set_cell(atoms.cell[:] * rng.uniform(0.97, 1.03, size=3)[:, None], scale_atoms=True)
        atoms.positions += rng.normal(scale=0.05, size=atoms.positions.shape)
        atoms.calc = EMT()
        results = dict(energy=atoms.get_potential_energy(), forces=atoms.get_forces(), stress=atoms.get_stress())
        atoms.calc = SinglePointCalculator(atoms, **results)
        images.append(atoms)
    return images


def without_cell(atoms: Atoms) -> Atoms:
    """The cluster as a molecule without a cell (zero volume), labels kept."""
    copy = atoms.copy()
    copy.set_cell(np.zeros((3, 3)))
    copy.pbc = False
    copy.calc = SinglePointCalculator(copy, **atoms.calc.results)
    return copy


@pytest.fixture(scope="package")
def mixed_stress_data(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("mixed_stress")
    clusters = emt_clusters(6, 3)
    splits = {
        "train": clusters[:3] + [without_cell(clusters[3])] + emt_bulk(4, 0),
        "val": clusters[4:] + emt_bulk(2, 1),
        "stressless": clusters,
    }
    paths = {}
    for name, images in splits.items():
        paths[name] = folder / f"{name}.extxyz"
        ase.io.write(paths[name], images, format="extxyz")
    return paths


@pytest.fixture(scope="package")
def make_config(emt_data):
    """``make_config(**sections)``: a tiny config dict on the cluster data (see `tiny_config`)."""
    return lambda **sections: tiny_config(emt_data, **sections)


def tiny_config(data: dict[str, Path], **sections) -> dict:
    """A config dict for a few fast steps on ``data``; ``sections`` update it section by section."""
    config = {
        "model": dict(TINY),
        "data": {"train": str(data["train"]), "val": str(data["val"])},
        "optim": {"lr": 5e-3, "batch_size": 4, "max_steps": 6, "warmup_steps": 1, "ema_decay": 0.9},
        "loss": {"energy_coefficient": 1.0, "forces_coefficient": 10.0},
        "eval_every": 3,
        "eval_batch_size": 8,
        "tensorboard": False,
        "plots": False,
    }
    for key, value in sections.items():
        config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
    return config
