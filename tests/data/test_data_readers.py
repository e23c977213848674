"""Readers round-trip every format: positions, cell, pbc, FixAtoms, tags and labels."""

import pickle

import ase.db
import ase.io
import numpy as np
import pytest

from eqv2.batch import _stress_to_matrix
from eqv2.data import (
    AseDbDataset,
    AseFileDataset,
    AseLmdbDataset,
    ExtxyzDataset,
    ReadOptions,
    open_dataset,
    split_dataset,
    write_aselmdb,
)


def write(path, images):
    if path.suffix == ".aselmdb":
        write_aselmdb(path, images)
    elif path.suffix == ".db":
        with ase.db.connect(path) as database:
            for atoms in images:
                database.write(atoms)
    else:
        ase.io.write(path, images)


def assert_same(structure, atoms):
    """Equal up to the 8 decimals extxyz keeps."""
    np.testing.assert_allclose(structure.positions, atoms.positions, atol=1e-7)
    np.testing.assert_array_equal(structure.atomic_numbers, atoms.numbers)
    np.testing.assert_allclose(structure.cell, atoms.cell[:], atol=1e-7)
    np.testing.assert_array_equal(structure.pbc, atoms.pbc)
    np.testing.assert_array_equal(structure.tags, atoms.get_tags())
    fixed = np.zeros(len(atoms), bool)
    for constraint in atoms.constraints:
        fixed[constraint.index] = True
    np.testing.assert_array_equal(structure.fixed, fixed)
    results = atoms.calc.results
    assert structure.energy == pytest.approx(results["energy"])
    np.testing.assert_allclose(structure.forces, results["forces"], atol=1e-7)
    np.testing.assert_allclose(structure.stress, _stress_to_matrix(results["stress"]), atol=1e-7)


@pytest.mark.parametrize(
    "suffix, reader",
    [(".extxyz", ExtxyzDataset), (".db", AseDbDataset), (".aselmdb", AseLmdbDataset), (".traj", AseFileDataset)],
)
def test_round_trip(tmp_path, images, suffix, reader):
    path = tmp_path / f"data{suffix}"
    write(path, images)
    dataset = open_dataset(path, ReadOptions(required_labels=("energy", "forces", "stress")))
    assert isinstance(dataset, reader) and len(dataset) == len(images)
    for index in (1, 0, -1):  # random access, any order
        assert_same(dataset[index], images[index])
    assert dataset[1].name == f"{path}[1]"
    assert_same(pickle.loads(pickle.dumps(dataset))[0], images[0])  # DataLoader workers get a copy
    with pytest.raises(IndexError):
        dataset[len(images)]


def test_labels_from_named_info_and_arrays_keys(tmp_path, images):
    for atoms in images:
        atoms.info["REF_energy"] = atoms.calc.results["energy"]
        atoms.arrays["REF_forces"] = atoms.calc.results["forces"].copy()
        atoms.calc = None
    path = tmp_path / "ref.extxyz"
    ase.io.write(path, images)
    options = ReadOptions(energy_key="REF_energy", forces_key="REF_forces", required_labels=("energy", "forces"))
    structure = open_dataset(path, options)[0]
    assert structure.energy == pytest.approx(images[0].info["REF_energy"])
    np.testing.assert_allclose(structure.forces, images[0].arrays["REF_forces"])
    assert structure.stress is None


def test_many_files_and_seeded_split(tmp_path, images):
    paths = [tmp_path / "a.extxyz", tmp_path / "b.extxyz"]
    ase.io.write(paths[0], images * 3)
    ase.io.write(paths[1], images * 2)
    dataset = open_dataset(paths)
    assert len(dataset) == 10
    assert dataset[7].name == f"{paths[1]}[1]"
    train, val, test = split_dataset(dataset, (0.6, 0.2, 0.2), seed=3)
    assert (len(train), len(val), len(test)) == (6, 2, 2)
    assert sorted(train.indices + val.indices + test.indices) == list(range(10))
    assert split_dataset(dataset, (0.6, 0.2, 0.2), seed=3)[1].indices == val.indices
    with pytest.raises(FileNotFoundError):
        open_dataset(tmp_path / "missing.extxyz")
