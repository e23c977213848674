"""fairchem-core 1.x hydra checkpoints: golden predictions, the old-format equivalence, unsupported options."""

import copy
import json
from pathlib import Path

import ase.io
import numpy as np
import pytest
import torch

import eqv2
from eqv2.batch import Structure
from eqv2.checkpoints.hydra import UnsupportedCheckpointError
from eqv2.checkpoints.loading import potential_from_checkpoint, read_checkpoint_file
from eqv2.cli import main as cli_main

REFERENCE = Path(__file__).parents[1] / "fixtures" / "reference"
OLD_FORMAT_CASES = ("tiny_L4M2", "tiny_gate_L2M1", "tiny_variants_L3M1", "tiny_plain_s2_L3M3")
ENERGY_TOLERANCE = 2e-5  # eV
FORCE_TOLERANCE = 5e-5  # eV/Å
STRESS_TOLERANCE = 1e-6  # eV/Å^3


def hydra_folder(name: str) -> Path:
    return REFERENCE / name if name == "omat_dens_tiny" else REFERENCE / "hydra" / name


def expected(name: str) -> dict:
    return json.loads((hydra_folder(name) / "expected.json").read_text())


def structure_path(name: str, file: str) -> Path:
    """Hydra versions of old-format cases use the old-format case's structures."""
    path = hydra_folder(name) / file
    return path if path.exists() else REFERENCE / name / file


@pytest.fixture(scope="module")
def potentials() -> dict[str, eqv2.Potential]:
    names = ("omat_dens_tiny", "dens_sigma_tiny") + OLD_FORMAT_CASES
    with pytest.warns(UserWarning, match="use_energy_lin_ref"):
        return {name: eqv2.load(hydra_folder(name) / expected(name)["checkpoint"]) for name in names}


def golden_cases():
    for name in ("omat_dens_tiny", "dens_sigma_tiny") + OLD_FORMAT_CASES:
        for case in expected(name)["cases"]:
            yield name, case


def predict(potential: eqv2.Potential, atoms, **options) -> dict[str, torch.Tensor]:
    return potential(potential.collate([Structure.from_atoms(atoms)]), **options)


@pytest.mark.parametrize("name, case", list(golden_cases()), ids=lambda v: v if isinstance(v, str) else v["file"])
def test_reproduces_reference(potentials, name, case):
    atoms = ase.io.read(structure_path(name, case["file"]))
    results = predict(potentials[name], atoms, stress="stress" in case)
    assert abs(float(results["energy"][0]) - case["energy"]) <= max(ENERGY_TOLERANCE, 10 * case["ref_spread_energy"])
    force_error = (results["forces"] - torch.tensor(case["forces"])).abs().max().item()
    assert force_error <= max(FORCE_TOLERANCE, 10 * case["ref_spread_forces"])
    if "stress" in case:
        stress_error = (results["stress"][0] - torch.tensor(case["stress"])).abs().max().item()
        assert stress_error <= max(STRESS_TOLERANCE, 10 * case["ref_spread_stress"])


@pytest.mark.parametrize("name", OLD_FORMAT_CASES)
def test_hydra_equals_old_format(potentials, name):
    """The same weights in both formats give the same outputs (the hydra backbone never uses energy_lin_ref)."""
    old = eqv2.load(REFERENCE / name / f"eqv2_{name}_oc20.pt")
    atoms = ase.io.read(REFERENCE / name / expected(name)["cases"][0]["file"])
    hydra_results, old_results = predict(potentials[name], atoms), predict(old, atoms)
    assert torch.equal(hydra_results["forces"], old_results["forces"])
    if old.model.config.use_energy_lin_ref:
        assert not potentials[name].model.config.use_energy_lin_ref
    else:
        assert torch.equal(hydra_results["energy"], old_results["energy"])


def test_calculator_returns_head_stress(potentials):
    case = expected("omat_dens_tiny")["cases"][0]
    atoms = ase.io.read(structure_path("omat_dens_tiny", case["file"]))
    atoms.calc = eqv2.Calculator(potentials["omat_dens_tiny"])
    atoms.get_potential_energy()
    assert "stress" in atoms.calc.results  # computed with the energy: the head costs nothing extra
    assert np.abs(atoms.get_stress(voigt=False) - np.array(case["stress"])).max() <= STRESS_TOLERANCE


def test_conservative_mode_next_to_direct_heads(potentials):
    atoms = ase.io.read(structure_path("omat_dens_tiny", "struct1.json"))
    potential = potentials["omat_dens_tiny"]
    direct = predict(potential, atoms, stress=True)
    conservative = predict(potential, atoms, forces="conservative", stress=True)
    assert torch.equal(direct["energy"], conservative["energy"])
    assert conservative["forces"].sum(dim=0).abs().max() < 1e-4  # translation invariance
    assert torch.isfinite(conservative["stress"]).all()
    assert not torch.allclose(direct["stress"], conservative["stress"])


def test_convert_round_trip_is_bitwise(potentials, tmp_path):
    source = hydra_folder("omat_dens_tiny") / expected("omat_dens_tiny")["checkpoint"]
    output = tmp_path / "omat.eqv2.pt"
    assert cli_main(["convert", str(source), str(output)]) == 0
    converted = eqv2.load(output)
    assert torch.load(output, weights_only=True)["format"] == "eqv2"
    assert converted.statistics == potentials["omat_dens_tiny"].statistics
    atoms = ase.io.read(structure_path("omat_dens_tiny", "struct0.json"))
    for key, value in predict(potentials["omat_dens_tiny"], atoms, stress=True).items():
        assert torch.equal(predict(converted, atoms, stress=True)[key], value), key


@pytest.fixture(scope="module")
def omat_checkpoint() -> dict:
    return read_checkpoint_file(hydra_folder("omat_dens_tiny") / "eqv2_dens_omat_style.pt")


def with_change(checkpoint: dict, change) -> dict:
    """A shallow copy of ``checkpoint`` with its config deep-copied and ``change(model_config)`` applied."""
    changed = {**checkpoint, "config": copy.deepcopy(checkpoint["config"])}
    change(changed["config"]["model"])
    return changed


UNSUPPORTED = {
    "backbone": (lambda m: m["backbone"].update(model="escn_backbone"), "escn_backbone"),
    "head module": (lambda m: m["heads"]["forces"].update(module="eqV2_rank1_head"), "eqV2_rank1_head"),
    "full rank-2 head": (lambda m: m["heads"]["stress"].update(decompose=False), "decompose=False"),
    "edge-level MLP": (lambda m: m["heads"]["stress"].update(edge_level_mlp=True), "edge_level_mlp=True"),
    "extensive stress": (lambda m: m["heads"]["stress"].update(extensive=True), "extensive=True"),
    "head option": (lambda m: m["heads"]["energy"].update(scale=2.0), "'scale'"),
    "output name": (lambda m: m["heads"]["stress"].update(output_name="dielectric"), "dielectric"),
    "energy reduction": (lambda m: m["heads"]["energy"].update(reduce="max"), "energy_reduce"),
    "no energy head": (lambda m: m["heads"].pop("energy"), "without an energy head"),
    "two force heads": (lambda m: m["heads"].update(more=dict(m["heads"]["forces"])), "both predict forces"),
    "fine-tuning source": (lambda m: m.update(finetune_config={"starting_checkpoint": "x.pt"}), "finetune_config"),
    "DeNS option on plain backbone": (
        lambda m: m["backbone"].update(model="equiformer_v2_backbone"),
        "belong to the DeNS backbone",
    ),
    "backbone option": (lambda m: m["backbone"].update(use_fancy_thing=True), "use_fancy_thing"),
}


@pytest.mark.parametrize("label", list(UNSUPPORTED))
def test_unsupported_option_is_named(omat_checkpoint, label):
    change, message = UNSUPPORTED[label]
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        potential_from_checkpoint(with_change(omat_checkpoint, change), "omat.pt")


def test_unsupported_errors_have_their_own_type(omat_checkpoint):
    change = UNSUPPORTED["backbone"][0]
    with pytest.raises(UnsupportedCheckpointError):
        potential_from_checkpoint(with_change(omat_checkpoint, change), "omat.pt")


def test_missing_or_extra_weights_are_named(omat_checkpoint):
    state_dict = dict(omat_checkpoint["state_dict"])
    state_dict.pop("module.output_heads.stress.block.irrep2_MLP.2.bias")
    state_dict["module.output_heads.dipole.weight"] = torch.zeros(3)
    with pytest.raises(ValueError, match="missing .*anisotropic_mlp.2.bias.*unexpected .*dipole"):
        potential_from_checkpoint({**omat_checkpoint, "state_dict": state_dict}, "omat.pt")
