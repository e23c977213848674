"""The torch-sim model: the engine's conformance test, equality with eqv2.Calculator, FIRE and NVE
against eqv2's own relaxation and MD, and clear errors for bad states."""

import itertools
import sys

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import add_adsorbate, bulk, fcc111, molecule

import eqv2
from eqv2.simulate.md import draw_momenta, run_md
from eqv2.testing import GATE_MODEL, tiny_potential
from eqv2.validation import DataError

NOT_INSTALLED = (
    "torch-sim needs Python >= 3.11: the torchsim extra installs nothing on Python 3.10"
    if sys.version_info < (3, 11)
    else 'the torchsim extra is not installed (pip install "eqv2[torchsim]")'
)
ts = pytest.importorskip("torch_sim", reason=NOT_INSTALLED)
from torch_sim.models.interface import validate_model_outputs  # noqa: E402

from eqv2.integrations.torchsim import EquiformerV2Model  # noqa: E402

NEW_API = hasattr(ts, "Optimizer")  # torch-sim 0.4 and later (Python >= 3.12); 0.3.0 on Python 3.11


@pytest.fixture(scope="module")
def potential():
    return tiny_potential(**GATE_MODEL)


def symmetric_slab(metal: str, adsorbate: str, seed: int) -> Atoms:
    """A 1x1 fcc(111) bilayer with an adsorbate in the fcc hollow, heights rattled (3 atoms).

    The three atoms sit over the three different hollow sites, so by symmetry the forces stay along
    z and no two atoms can meet: a random model relaxes it without collapsing it. pbc=True in all
    directions (torch-sim 0.3.0 has one pbc flag per state); 10 Å of vacuum exceeds the cutoff.
    """
    slab = fcc111(metal, size=(1, 1, 2), vacuum=5.0)
    add_adsorbate(slab, adsorbate, 1.8, "fcc")
    slab.info.clear()
    slab.pbc = True
    slab.positions[:, 2] += np.random.default_rng(seed).normal(scale=0.05, size=len(slab))
    return slab


def bulk_cells() -> list[Atoms]:
    """A sheared Cu cell (a non-symmetric cell matrix catches a transposed cell) and rattled Cu3Au."""
    copper = bulk("Cu", "fcc", a=3.6).repeat((2, 1, 1))
    copper.set_cell(copper.cell[:] + [[0.0, 0.3, 0.1], [0.0, 0.0, 0.2], [0.0, 0.0, 0.0]], scale_atoms=True)
    copper.rattle(0.05, seed=1)
    alloy = Atoms(
        "AuCu3",
        scaled_positions=[[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]],
        cell=[3.75, 3.75, 3.75],
        pbc=True,
    )
    alloy.rattle(0.05, seed=2)
    return [copper, alloy]


@pytest.mark.parametrize("forces", ["direct", "conservative"])
def test_torch_sim_validates_the_model(potential, forces):
    model = EquiformerV2Model(potential, forces=forces, compute_stress=False)
    validate_model_outputs(model, torch.device("cpu"), torch.float64)
    assert model.compute_stress  # the validator switched stress on and checked it


@pytest.mark.parametrize(("forces", "dtype", "tolerance"), [("direct", "float64", 1e-10),
                                                            ("conservative", "float64", 1e-10),
                                                            ("conservative", "float32", 2e-5)])  # fmt: skip
def test_batched_state_equals_the_calculator_per_structure(forces, dtype, tolerance):
    structures = [symmetric_slab("Cu", "O", 0), symmetric_slab("Pt", "H", 1), *bulk_cells()]
    potential = tiny_potential(**GATE_MODEL, dtype=getattr(torch, dtype))
    model = EquiformerV2Model(potential, forces=forces)
    output = model(ts.io.atoms_to_state(structures, model.device, model.dtype))
    assert output["energy"].shape == (4,) and output["stress"].shape == (4, 3, 3)
    first_atom = np.cumsum([0] + [len(atoms) for atoms in structures])
    for index, atoms in enumerate(structures):
        atoms = atoms.copy()
        atoms.calc = eqv2.Calculator(potential, forces=forces)
        atoms_slice = slice(first_atom[index], first_atom[index + 1])
        assert output["energy"][index].item() == pytest.approx(atoms.get_potential_energy(), abs=tolerance)
        np.testing.assert_allclose(output["forces"][atoms_slice].numpy(), atoms.get_forces(), atol=tolerance)
        np.testing.assert_allclose(output["stress"][index].numpy(), atoms.get_stress(voigt=False), atol=tolerance)


def test_fire_relaxation_of_16_slabs_ends_at_the_energies_of_eqv2_relax(potential):
    metals_and_adsorbates = itertools.product(["Cu", "Ag", "Pt", "Ni"], ["O", "H", "N", "C"])
    slabs = [symmetric_slab(metal, adsorbate, seed) for seed, (metal, adsorbate) in enumerate(metals_and_adsorbates)]
    fmax = 0.005
    reference = eqv2.relax(potential, slabs, fmax=fmax, steps=200, forces="conservative")
    assert all(result.converged for result in reference)

    model = EquiformerV2Model(potential, forces="conservative", compute_stress=False)
    relaxed = ts.optimize(
        ts.io.atoms_to_state(slabs, model.device, model.dtype),
        model,
        optimizer=ts.Optimizer.fire if NEW_API else ts.optimizers.fire,
        convergence_fn=ts.generate_force_convergence_fn(fmax, include_cell_forces=False),
        max_steps=200,
    )
    output = model(relaxed)
    largest_force = np.zeros(len(slabs))
    np.maximum.at(largest_force, relaxed.system_idx.numpy(), np.linalg.norm(output["forces"].numpy(), axis=1))
    assert (largest_force < fmax).all()
    np.testing.assert_allclose(output["energy"].numpy(), [result.energy for result in reference], atol=1e-3)  # eV


def test_nve_follows_eqv2_md_and_conserves_energy(potential):
    atoms = bulk_cells()[1]
    draw_momenta(atoms, temperature_k=300.0, seed=0)
    steps, interval = 20, 5
    reference = run_md(potential, atoms, "nve", timestep_fs=1.0, steps=steps, interval=interval)

    model = EquiformerV2Model(potential, forces="conservative", compute_stress=False)
    initialize, step = nve_integrator(model, timestep_ps=1e-3)
    state = initialize(ts.io.atoms_to_state([atoms], model.device, model.dtype))
    state.momenta = torch.tensor(atoms.get_momenta())  # ASE's and torch-sim's metal units agree
    total_energies = []
    for count in range(steps + 1):
        if count % interval == 0:
            kinetic = 0.5 * (state.momenta**2 / state.masses[:, None]).sum()
            total_energies.append((state.energy + kinetic).item())
        if count < steps:
            state = step(state)
    np.testing.assert_allclose(total_energies, reference.total_energies, atol=1e-8)
    assert np.abs(np.array(total_energies) - total_energies[0]).max() / len(atoms) < 1e-3  # eV/atom
    assert reference.temperatures.max() > 100.0  # the atoms did move
    # torch-sim wraps positions into the cell; ASE does not
    offset = np.linalg.solve(atoms.cell[:].T, (state.positions.numpy() - reference.atoms.positions).T).T
    np.testing.assert_allclose(offset, np.round(offset), atol=1e-8)


def nve_integrator(model: EquiformerV2Model, timestep_ps: float):
    """torch-sim's velocity Verlet as (initialize(state), step(state)), in its 0.3.0 or 0.4+ spelling."""
    dt = torch.tensor(timestep_ps * ts.units.MetalUnits.time, dtype=model.dtype)  # internal units
    kT = torch.tensor(0.0, dtype=model.dtype)  # the momenta are set after initialization
    if not NEW_API:
        return ts.integrators.nve(model, dt=dt, kT=kT)
    nve = ts.integrators.nve_init, ts.integrators.nve_step
    return (lambda state: nve[0](state, model, kT=kT)), (lambda state: nve[1](state, model, dt=dt))


def test_stress_is_nan_without_a_periodic_cell(potential):
    model = EquiformerV2Model(potential)
    output = model(ts.io.atoms_to_state([molecule("H2O")], model.device, model.dtype))
    assert torch.isfinite(output["energy"]).all() and torch.isfinite(output["forces"]).all()
    assert torch.isnan(output["stress"]).all()


def test_bad_states_are_clear_errors(potential):
    model = EquiformerV2Model(potential)
    cells = bulk_cells()
    unknown = cells[1].copy()
    unknown.numbers[0] = 95  # the model embeds Z < 90
    with pytest.raises(DataError, match="system 1: atomic number 95 of atom 0"):
        model(ts.io.atoms_to_state([cells[0], unknown], model.device, model.dtype))
    with pytest.raises(ValueError, match="the state is torch.float32 on cpu but the model is torch.float64"):
        model(ts.io.atoms_to_state(cells, model.device, torch.float32))
    elsewhere = EquiformerV2Model(tiny_potential(**GATE_MODEL), device="meta")
    with pytest.raises(ValueError, match="on cpu but the model is torch.float64 on meta"):
        elsewhere(ts.io.atoms_to_state(cells, model.device, model.dtype))
    with pytest.raises(ValueError, match="forces must be one of"):
        EquiformerV2Model(potential, forces="exact")
