"""Loading, saving and the errors for bad checkpoints."""

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from ase.calculators.calculator import PropertyNotImplementedError

import eqv2
from eqv2.batch import Structure
from eqv2.checkpoints.loading import read_checkpoint_file
from eqv2.testing import GATE_MODEL, structures, tiny_potential

FIXTURES = Path(__file__).parents[1] / "fixtures"

FAIRCHEM_CHECKPOINT = FIXTURES / "reference" / "tiny_L4M2" / "eqv2_tiny_L4M2_oc20.pt"


def predictions(potential, structure):
    results = potential(potential.collate([structure]))
    return results["energy"], results["forces"]


def test_eqv2_format_round_trip_is_bitwise(tmp_path):
    potential = eqv2.load(FAIRCHEM_CHECKPOINT)
    path = tmp_path / "model.pt"
    eqv2.save(potential, path)
    reloaded = eqv2.load(path)
    structure = structures()[2]
    for a, b in zip(predictions(potential, structure), predictions(reloaded, structure)):
        assert torch.equal(a, b)
    assert reloaded.statistics == potential.statistics
    raw = torch.load(path, weights_only=True)  # plain data: no pickled code objects
    assert raw["format"] == "eqv2" and raw["model_config"]["lmax_list"] == [4]


def test_fairchem_dict_style_model_config_gives_same_outputs(tmp_path):
    checkpoint = torch.load(FAIRCHEM_CHECKPOINT, weights_only=True)
    config = checkpoint["config"]
    config["model"] = {"name": "equiformer_v2", **config.pop("model_attributes")}
    checkpoint["state_dict"] = {"module.module." + k[len("module.") :]: v for k, v in checkpoint["state_dict"].items()}
    path = tmp_path / "dict_style.pt"
    torch.save(checkpoint, path)
    structure = structures()[1]
    for a, b in zip(predictions(eqv2.load(FAIRCHEM_CHECKPOINT), structure), predictions(eqv2.load(path), structure)):
        assert torch.equal(a, b)


def test_load_to_float64():
    potential = eqv2.load(FAIRCHEM_CHECKPOINT, dtype=torch.float64)
    energy, forces = predictions(potential, structures()[2])
    assert energy.dtype == torch.float64 and forces.dtype == torch.float64


def test_dtype_by_name_in_load_calculator_and_to():
    potential = eqv2.load(FAIRCHEM_CHECKPOINT, dtype="float64")
    assert potential.dtype == torch.float64
    assert potential.to("float32").dtype == torch.float32
    assert potential.to(dtype="float64").dtype == torch.float64
    calculator = eqv2.Calculator(FAIRCHEM_CHECKPOINT, dtype="float64")
    assert calculator.potential.dtype == torch.float64
    for bad in ("float16", "double precision"):
        with pytest.raises(ValueError, match="dtype must be one of"):
            eqv2.load(FAIRCHEM_CHECKPOINT, dtype=bad)


def test_fairchem_neighbor_rule_is_the_reference_s_and_can_be_replaced():
    assert eqv2.load(FAIRCHEM_CHECKPOINT).neighbor_mode == "reference_strict"
    assert eqv2.load(FAIRCHEM_CHECKPOINT, neighbor_mode="shell").neighbor_mode == "shell"
    calculator = eqv2.Calculator(FAIRCHEM_CHECKPOINT, neighbor_mode="strict")
    assert calculator.potential.neighbor_mode == "strict"
    with pytest.raises(ValueError, match="neighbor_mode must be one of"):
        eqv2.load(FAIRCHEM_CHECKPOINT, neighbor_mode="loose")


def test_missing_file():
    with pytest.raises(FileNotFoundError, match="does not exist"):
        eqv2.load("no/such/file.pt")


def test_corrupt_and_truncated_files(tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(np.random.default_rng(0).bytes(1000))
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        eqv2.load(garbage)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(FAIRCHEM_CHECKPOINT.read_bytes()[:100_000])
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        eqv2.load(truncated)


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "tensor.pt"
    torch.save({"weights": torch.zeros(3)}, path)
    with pytest.raises(ValueError, match="neither an eqv2 nor a fairchem"):
        eqv2.load(path)


def test_mismatched_config_names_the_keys(tmp_path):
    checkpoint = torch.load(FAIRCHEM_CHECKPOINT, weights_only=True)
    checkpoint["config"]["model_attributes"]["sphere_channels"] = 48
    path = tmp_path / "mismatch.pt"
    torch.save(checkpoint, path)
    with pytest.raises(ValueError, match="wrong shape.*atom_embedding.weight"):
        eqv2.load(path)


def test_mismatched_grid_is_detected(tmp_path):
    checkpoint = torch.load(FAIRCHEM_CHECKPOINT, weights_only=True)
    checkpoint["config"]["model_attributes"]["grid_resolution"] = 20
    path = tmp_path / "grid.pt"
    torch.save(checkpoint, path)
    with pytest.raises(ValueError, match="SO3_grid"):
        eqv2.load(path)


def test_missing_and_unexpected_weights(tmp_path):
    checkpoint = torch.load(FAIRCHEM_CHECKPOINT, weights_only=True)
    del checkpoint["state_dict"]["module.blocks.0.ga.alpha_dot"]
    checkpoint["state_dict"]["module.blocks.0.extra.weight"] = torch.zeros(2)
    path = tmp_path / "missing.pt"
    torch.save(checkpoint, path)
    with pytest.raises(ValueError, match=r"missing \['blocks.0.attention.alpha_dot'\].*unexpected"):
        eqv2.load(path)


def test_other_model_names_are_refused(tmp_path):
    checkpoint = torch.load(FAIRCHEM_CHECKPOINT, weights_only=True)
    checkpoint["config"]["model"] = "gemnet_oc"
    path = tmp_path / "gemnet.pt"
    torch.save(checkpoint, path)
    with pytest.raises(ValueError, match="gemnet_oc"):
        eqv2.load(path)


def test_unknown_element_is_named():
    potential = tiny_potential(**GATE_MODEL)
    structure = copy.deepcopy(structures()[0])
    structure.atomic_numbers[2] = 95
    with pytest.raises(ValueError, match="atomic number 95 of atom 2 is outside 1..89"):
        potential(potential.collate([structure]))


def test_save_is_atomic(tmp_path, monkeypatch):
    """A crash while writing leaves the previous file intact and no temporary file behind."""
    potential = tiny_potential(**GATE_MODEL)
    path = tmp_path / "model.pt"
    eqv2.save(potential, path)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        eqv2.save(potential, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]
    assert read_checkpoint_file(path)["format"] == "eqv2"


def test_structure_round_trip_through_calculator_has_stress_for_bulk():
    from ase import Atoms

    potential = tiny_potential(**GATE_MODEL)
    bulk = structures()[2]
    atoms = Atoms(numbers=bulk.atomic_numbers, positions=bulk.positions, cell=bulk.cell, pbc=True)
    atoms.calc = eqv2.Calculator(potential, forces="conservative")
    assert atoms.get_stress().shape == (6,)
    assert Structure.from_atoms(atoms).num_atoms == 4
    atoms.pbc = (True, True, False)  # stress needs periodicity in all three directions (Structure.stress_is_defined)
    with pytest.raises(PropertyNotImplementedError, match="periodic in x, y and z"):
        atoms.get_stress()


def test_new_models_keep_shells_whole_and_old_files_keep_their_rule(tmp_path):
    potential = tiny_potential(**GATE_MODEL)
    assert potential.neighbor_mode == "shell"  # enforce_max_neighbors_strictly only matters for fairchem files
    eqv2.save(potential, tmp_path / "new.pt")
    assert read_checkpoint_file(tmp_path / "new.pt")["model_config"]["max_neighbors_mode"] == "shell"
    old = read_checkpoint_file(tmp_path / "new.pt")
    old["model_config"]["max_neighbors_mode"] = None  # as files were written before the rule was stored
    torch.save(old, tmp_path / "old.pt")
    assert eqv2.load(tmp_path / "old.pt").neighbor_mode == "strict"
