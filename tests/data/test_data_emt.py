"""`eqv2 data emt`: labels equal EMT recomputed, splits, determinism and reuse of existing output."""

import ase.io
import numpy as np
import pytest
from ase.calculators.emt import EMT

from eqv2.cli import main
from eqv2.data import ReadOptions, open_dataset
from eqv2.data.emt import FRAMES_PER_SYSTEM, held_out_pairs, split_sizes

SPLIT_FILES = ("train.extxyz", "val.extxyz", "test.extxyz", "test_ood.extxyz")


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("emt")
    assert main(["data", "emt", "--out", str(out), "--n", "24", "--seed", "5"]) == 0
    return out


def test_files_and_sizes(dataset_dir):
    sizes = split_sizes(24)
    for name in SPLIT_FILES:
        frames = ase.io.read(dataset_dir / name, index=":")
        assert len(frames) == sizes[name.removesuffix(".extxyz")]
        dataset = open_dataset(dataset_dir / name, ReadOptions(required_labels=("energy", "forces")))
        assert all(dataset[k].num_atoms >= 25 for k in range(len(dataset)))


def test_labels_equal_emt_recomputed(dataset_dir):
    for name in ("train.extxyz", "test_ood.extxyz"):
        for atoms in ase.io.read(dataset_dir / name, index="::4"):
            stored_energy, stored_forces = atoms.get_potential_energy(), atoms.get_forces(apply_constraint=False)
            atoms.calc = EMT()
            assert stored_energy == pytest.approx(atoms.get_potential_energy(), abs=1e-6)
            np.testing.assert_allclose(stored_forces, atoms.get_forces(apply_constraint=False), atol=1e-6)


def test_slabs_fixed_tagged_and_ood_pairs_held_out(dataset_dir):
    held_out = held_out_pairs(5)
    train = ase.io.read(dataset_dir / "train.extxyz", index=":")
    ood = ase.io.read(dataset_dir / "test_ood.extxyz", index=":")
    assert all((atoms.info["metal"], atoms.info["adsorbate"]) not in held_out for atoms in train)
    assert all((atoms.info["metal"], atoms.info["adsorbate"]) in held_out for atoms in ood)
    for atoms in train[::FRAMES_PER_SYSTEM]:
        tags = atoms.get_tags()
        assert set(tags) == {0, 1, 2}
        np.testing.assert_array_equal(atoms.constraints[0].get_indices(), np.nonzero(tags == 0)[0])
    forces = np.concatenate([atoms.get_forces(apply_constraint=False)[atoms.get_tags() > 0] for atoms in train])
    assert np.abs(forces).max() > 1.0  # off-equilibrium frames are present


def test_same_seed_same_files_and_reuse(dataset_dir, tmp_path, capsys):
    first_bytes = (dataset_dir / "val.extxyz").read_bytes()
    modified = (dataset_dir / "val.extxyz").stat().st_mtime_ns
    assert main(["data", "emt", "--out", str(dataset_dir), "--n", "24", "--seed", "5"]) == 0
    assert "reusing" in capsys.readouterr().err
    assert (dataset_dir / "val.extxyz").stat().st_mtime_ns == modified
    assert main(["data", "emt", "--out", str(tmp_path), "--n", "24", "--seed", "5"]) == 0
    assert (tmp_path / "val.extxyz").read_bytes() == first_bytes
    with pytest.raises(SystemExit, match="holds another dataset"):
        main(["data", "emt", "--out", str(tmp_path), "--n", "25", "--seed", "5"])
