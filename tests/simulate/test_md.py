import json

import ase.io
import numpy as np
from ase.build import bulk

from eqv2.cli import main
from eqv2.simulate.md import run_md


def test_short_nve_run_conserves_energy(potential):
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    result = run_md(potential, atoms, "nve", temperature_k=300.0, timestep_fs=1.0, steps=60, interval=5)
    assert len(result.times_ps) == 13 and result.temperatures.max() > 10.0
    assert result.max_deviation_per_atom < 1e-3  # eV/atom, while the kinetic energy is ~0.04 eV/atom
    assert abs(result.drift_per_atom_per_ps) < 1e-2


def test_nvt_command_writes_trajectory_and_summary(checkpoint, slabs, tmp_path):
    ase.io.write(tmp_path / "start.extxyz", slabs[0])
    output = tmp_path / "md.traj"
    code = main(["md", checkpoint, str(tmp_path / "start.extxyz"), "-o", str(output), "--ensemble", "nvt",
                 "--steps", "6", "--interval", "2", "--temperature", "500"])  # fmt: skip
    assert code == 0
    frames = ase.io.read(output, index=":")
    assert len(frames) == 4
    fixed = slabs[0].constraints[0].index
    np.testing.assert_allclose(frames[-1].positions[fixed], slabs[0].positions[fixed])
    summary = json.loads((tmp_path / "md.traj.json").read_text())
    assert summary["ensemble"] == "nvt" and summary["mean_temperature_k"] > 0
