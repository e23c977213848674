"""Molecular dynamics with an eqv2 potential through ASE's integrators.

    nve: velocity Verlet                         (ase.md.verlet.VelocityVerlet)
    nvt: Langevin thermostat at ``temperature``  (ase.md.langevin.Langevin, friction per fs)

Forces are conservative (-dE/dr) by default, so NVE conserves the total energy up to the
integration error. The drift is the slope of a least-squares line through the total energy
(potential + kinetic) against time, per atom: eV / atom / ps.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from ase import Atoms, units
from ase.io.trajectory import Trajectory
from ase.md.langevin import Langevin
from ase.md.md import MolecularDynamics
from ase.md.velocitydistribution import Stationary
from ase.md.verlet import VelocityVerlet

from eqv2.integrations.ase import Calculator
from eqv2.potential import Potential

ENSEMBLES = ("nve", "nvt")


@dataclass
class MDResult:
    """What an MD run produced: the final atoms and the total-energy record."""

    atoms: Atoms
    times_ps: np.ndarray  # [T] time of each record, ps
    potential_energies: np.ndarray  # [T] eV
    kinetic_energies: np.ndarray  # [T] eV
    temperatures: np.ndarray  # [T] K

    @property
    def total_energies(self) -> np.ndarray:
        return self.potential_energies + self.kinetic_energies

    @property
    def drift_per_atom_per_ps(self) -> float:
        """Slope of the total energy against time, eV / atom / ps (least squares)."""
        if len(self.times_ps) < 2:
            return 0.0
        slope = np.polyfit(self.times_ps, self.total_energies, 1)[0]
        return float(slope / len(self.atoms))

    @property
    def max_deviation_per_atom(self) -> float:
        """Largest |E_total(t) - E_total(0)| per atom, eV."""
        return float(np.abs(self.total_energies - self.total_energies[0]).max() / len(self.atoms))


def draw_momenta(atoms: Atoms, temperature_k: float, seed: int) -> None:
    """Maxwell-Boltzmann momenta at ``temperature_k``, no centre-of-mass motion, zero on FixAtoms atoms."""
    thermal = np.sqrt(atoms.get_masses()[:, None] * units.kB * temperature_k)  # [N, 1]
    atoms.set_momenta(np.random.default_rng(seed).normal(size=(len(atoms), 3)) * thermal)
    Stationary(atoms)


def integrator(
    atoms: Atoms, ensemble: str, timestep_fs: float, temperature_k: float, friction_per_fs: float, seed: int
):
    """ASE's integrator for ``ensemble`` ("nve" or "nvt")."""
    if ensemble == "nve":
        return VelocityVerlet(atoms, timestep=timestep_fs * units.fs)
    if ensemble == "nvt":
        return Langevin(
            atoms,
            timestep=timestep_fs * units.fs,
            temperature_K=temperature_k,
            friction=friction_per_fs / units.fs,
            fixcm=False,
            rng=np.random.default_rng(seed),
        )
    raise ValueError(f"ensemble must be one of {ENSEMBLES}, got {ensemble!r}")


def run_md(
    potential: Potential,
    atoms: Atoms,
    ensemble: str = "nve",
    temperature_k: float = 300.0,
    timestep_fs: float = 1.0,
    steps: int = 1000,
    forces: str = "conservative",
    friction_per_fs: float = 0.01,
    interval: int = 10,
    trajectory: str | os.PathLike | None = None,
    seed: int = 0,
) -> MDResult:
    """Run ``steps`` steps from ``atoms`` (a copy) with velocities drawn at ``temperature_k``.

    Velocities already set on ``atoms`` are kept. Every ``interval`` steps the energies are
    recorded and, when ``trajectory`` is given, the frame is written there (ASE .traj).
    """
    if ensemble not in ENSEMBLES:
        raise ValueError(f"ensemble must be one of {ENSEMBLES}, got {ensemble!r}")
    atoms = atoms.copy()
    atoms.calc = Calculator(potential, forces=forces)
    if not atoms.get_momenta().any():
        draw_momenta(atoms, temperature_k, seed)
    dynamics: MolecularDynamics = integrator(atoms, ensemble, timestep_fs, temperature_k, friction_per_fs, seed)
    record: list[tuple[float, float, float, float]] = []

    def observe() -> None:
        time_ps = dynamics.get_time() / (1000 * units.fs)
        record.append((time_ps, atoms.get_potential_energy(), atoms.get_kinetic_energy(), atoms.get_temperature()))

    dynamics.attach(observe, interval=interval)
    writer = Trajectory(trajectory, "w", atoms) if trajectory else None
    if writer is not None:
        dynamics.attach(writer.write, interval=interval)
    try:
        dynamics.run(steps)
    finally:
        if writer is not None:
            writer.close()
    columns = np.array(record).T  # [4, T]
    return MDResult(atoms, *columns)
