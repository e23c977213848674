"""`eqv2 data emt`: the variety of systems, labels equal EMT recomputed, splits that test transfer,
determinism and reuse of existing output."""

import itertools
import json
import re
from collections import Counter

import ase.io
import numpy as np
import pytest
from ase.calculators.emt import EMT

from eqv2.adsorbates import ADSORBATES
from eqv2.cli import main
from eqv2.data import ReadOptions, open_dataset
from eqv2.data.emt import (
    BULK_SUPERCELLS,
    FRAMES_PER_SYSTEM,
    LAYERS,
    MIN_ADSORBATE_SPACING,
    SPLITS,
    SURFACE_CELLS,
    VACUUM,
    BulkSpec,
    MoleculeSpec,
    SlabSpec,
    build_system,
    held_out_pairs,
    split_sizes,
    split_specs,
    system_frames,
)

N, SEED = 30, 5


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("emt")
    assert main(["data", "emt", "--out", str(out), "--n", str(N), "--seed", str(SEED)]) == 0
    return out


@pytest.fixture(scope="module")
def drawn() -> dict[str, list]:
    """Many specs of each split, drawn as the generator draws them (no EMT: fast)."""
    held_out = held_out_pairs(SEED)
    return {split: [spec for _, spec in itertools.islice(split_specs(split, SEED, held_out), 400)] for split in SPLITS}


def read(dataset_dir, split: str) -> list:
    return ase.io.read(dataset_dir / f"{split}.extxyz", index=":")


def test_files_and_sizes(dataset_dir):
    sizes = split_sizes(N)
    assert set(sizes) == {"train", "val", "test", "test_ood", "test_size"} and sum(sizes.values()) == N
    for split, size in sizes.items():
        assert len(read(dataset_dir, split)) == size
        dataset = open_dataset(dataset_dir / f"{split}.extxyz", ReadOptions(required_labels=("energy", "forces")))
        assert len(dataset) == size
    manifest = json.loads((dataset_dir / "manifest.json").read_text())
    assert manifest["version"] >= 2 and manifest["sizes"] == sizes


def test_training_draws_vary_cells_layers_vacuum_coverage_and_kinds(drawn):
    train = drawn["train"]
    kinds = Counter(type(spec).__name__ for spec in train)
    assert kinds["SlabSpec"] > kinds["BulkSpec"] > kinds["MoleculeSpec"] > 0
    slabs = [spec for spec in train if isinstance(spec, SlabSpec)]
    for facet, (cells, _) in SURFACE_CELLS.items():
        assert {spec.surface_cell for spec in slabs if spec.facet == facet} == set(cells)
    assert {spec.layers for spec in slabs} == set(LAYERS[0])
    assert {spec.coverage for spec in slabs} == {1, 2}
    assert {spec.adsorbate for spec in slabs} == set(ADSORBATES)
    vacuums = np.array([spec.vacuum for spec in slabs])
    assert VACUUM[0] <= vacuums.min() < VACUUM[0] + 1 and VACUUM[1] - 1 < vacuums.max() <= VACUUM[1]
    bulks = [spec for spec in train if isinstance(spec, BulkSpec)]
    assert {(spec.lattice, spec.cubic) for spec in bulks} == set(BULK_SUPERCELLS)
    molecules = [spec for spec in train if isinstance(spec, MoleculeSpec)]
    assert {spec.periodic for spec in molecules} == {True, False}
    first = [spec.adsorbate for spec in molecules[: len(ADSORBATES)]]
    assert sorted(first) == sorted(ADSORBATES)  # every molecule, each once, before any comes again


def test_size_and_ood_splits_hold_out_what_training_never_sees(drawn):
    held_out = held_out_pairs(SEED)
    assert len(held_out) == len(ADSORBATES)
    for split in ("train", "val", "test"):
        slabs = [spec for spec in drawn[split] if isinstance(spec, SlabSpec)]
        assert all((spec.metal, spec.adsorbate) not in held_out for spec in slabs)
        assert all(spec.surface_cell in SURFACE_CELLS[spec.facet][0] and spec.layers in LAYERS[0] for spec in slabs)
    assert all(isinstance(spec, SlabSpec) for split in ("test_ood", "test_size") for spec in drawn[split])
    assert {(spec.metal, spec.adsorbate) for spec in drawn["test_ood"]} == held_out
    size_test = drawn["test_size"]
    assert all((spec.metal, spec.adsorbate) not in held_out for spec in size_test)
    for facet, (train_cells, size_test_cells) in SURFACE_CELLS.items():
        assert not set(train_cells) & set(size_test_cells)
        assert {spec.surface_cell for spec in size_test if spec.facet == facet} == set(size_test_cells)
    assert not set(LAYERS[0]) & set(LAYERS[1]) and {spec.layers for spec in size_test} == set(LAYERS[1])


def test_files_keep_the_splits_apart(dataset_dir):
    held_out = held_out_pairs(SEED)
    frames = {split: read(dataset_dir, split) for split in SPLITS}
    train_slabs = [atoms for atoms in frames["train"] if atoms.info["kind"] == "slab"]
    train_sizes = {(atoms.info["surface_cell"], atoms.info["layers"]) for atoms in train_slabs}
    for atoms in frames["test_size"]:
        assert atoms.info["kind"] == "slab" and (atoms.info["metal"], atoms.info["adsorbate"]) not in held_out
        assert atoms.info["layers"] in LAYERS[1]
        assert all(
            atoms.info["surface_cell"] != cell and atoms.info["layers"] != layers for cell, layers in train_sizes
        )
    assert all((atoms.info["metal"], atoms.info["adsorbate"]) in held_out for atoms in frames["test_ood"])
    assert all((atoms.info["metal"], atoms.info["adsorbate"]) not in held_out for atoms in train_slabs)


@pytest.mark.parametrize(
    "spec",
    [SlabSpec("Pt", "fcc100", "NH3", (2, 3), 4, 6.5, 2), SlabSpec("Cu", "fcc211", "CHO", (3, 3), 3, 11.0, 2)],
)
def test_slab_geometry_follows_the_spec(spec):
    atoms = build_system(spec, np.random.default_rng(0))
    per_adsorbate = len(ADSORBATES[spec.adsorbate])
    assert len(atoms) == spec.surface_cell[0] * spec.surface_cell[1] * spec.layers + spec.coverage * per_adsorbate
    tags = atoms.get_tags()
    assert (tags == 2).sum() == spec.coverage * per_adsorbate
    np.testing.assert_array_equal(atoms.constraints[0].get_indices(), np.nonzero(tags == 0)[0])
    metal_heights = atoms.positions[tags < 2, 2]
    assert metal_heights.min() == pytest.approx(spec.vacuum)
    assert atoms.cell[2, 2] - metal_heights.max() == pytest.approx(spec.vacuum)
    binding = atoms.positions[tags == 2][::per_adsorbate]  # [coverage, 3] the first atom of each copy
    images = np.array([(i, j, 0) for i in (-1, 0, 1) for j in (-1, 0, 1)]) @ atoms.cell[:]
    spacing = np.linalg.norm(binding[1, None, :2] - binding[0, None, :2] - images[:, :2], axis=1).min()
    assert spacing >= MIN_ADSORBATE_SPACING
    assert list(atoms.pbc) == [True, True, False]


def test_bulk_and_molecule_frames_carry_stress_where_periodic():
    bulk_frames = system_frames(BulkSpec("Ni", "bcc", True), np.random.default_rng(1))
    molecule_frames = system_frames(MoleculeSpec("H2O", False), np.random.default_rng(2))
    boxed_frames = system_frames(MoleculeSpec("CO", True), np.random.default_rng(3))
    assert len(bulk_frames) == len(molecule_frames) == FRAMES_PER_SYSTEM
    strains = []
    for atoms in bulk_frames + boxed_frames:
        assert atoms.pbc.all() and "stress" in atoms.calc.results
        stored = atoms.get_stress()
        atoms.calc = EMT()
        np.testing.assert_allclose(stored, atoms.get_stress(), atol=1e-9)
    for atoms in bulk_frames:
        strains.append(atoms.cell.lengths() / atoms.cell.lengths().mean())
    assert np.ptp(np.concatenate(strains)) > 0.01  # the cell is strained, not cubic
    assert abs(bulk_frames[0].get_stress()).max() > 1e-3
    for atoms in molecule_frames:
        assert not atoms.pbc.any() and "stress" not in atoms.calc.results
        assert atoms.cell.volume > 0 and atoms.get_chemical_formula() == "H2O"


def test_labels_equal_emt_recomputed(dataset_dir):
    for split in ("train", "test_size"):
        for atoms in read(dataset_dir, split)[::4]:
            stored_energy, stored_forces = atoms.get_potential_energy(), atoms.get_forces(apply_constraint=False)
            stress = atoms.calc.results.get("stress")
            assert (stress is not None) == atoms.pbc.all()
            atoms.calc = EMT()
            assert stored_energy == pytest.approx(atoms.get_potential_energy(), abs=1e-6)
            np.testing.assert_allclose(stored_forces, atoms.get_forces(apply_constraint=False), atol=1e-6)
            if stress is not None:
                np.testing.assert_allclose(stress, atoms.get_stress(), atol=1e-7)
    forces = np.concatenate([atoms.get_forces(apply_constraint=False) for atoms in read(dataset_dir, "train")])
    assert np.abs(forces).max() > 1.0  # off-equilibrium frames are present


def test_same_seed_same_files_and_reuse(dataset_dir, tmp_path, capsys):
    args = ["data", "emt", "--n", str(N), "--seed", str(SEED)]
    first_bytes = (dataset_dir / "test_size.extxyz").read_bytes()
    modified = (dataset_dir / "test_size.extxyz").stat().st_mtime_ns
    assert main([*args, "--out", str(dataset_dir)]) == 0
    assert "reusing" in capsys.readouterr().err
    assert (dataset_dir / "test_size.extxyz").stat().st_mtime_ns == modified
    assert main([*args, "--out", str(tmp_path)]) == 0
    for split in SPLITS:
        assert (tmp_path / f"{split}.extxyz").read_bytes() == (dataset_dir / f"{split}.extxyz").read_bytes()
    assert (tmp_path / "test_size.extxyz").read_bytes() == first_bytes
    capsys.readouterr()
    assert main(["data", "emt", "--out", str(tmp_path), "--n", str(N + 1), "--seed", str(SEED)]) == 2
    assert re.fullmatch("eqv2 data: error: .*holds other data.*\n", capsys.readouterr().err)


def test_output_of_an_older_generator_is_not_reused(dataset_dir, tmp_path, capsys):
    manifest = json.loads((dataset_dir / "manifest.json").read_text())
    (tmp_path / "manifest.json").write_text(json.dumps({**manifest, "version": 1}))
    assert main(["data", "emt", "--out", str(tmp_path), "--n", str(N), "--seed", str(SEED)]) == 2
    assert re.fullmatch("eqv2 data: error: .*version 1.*\n", capsys.readouterr().err)
