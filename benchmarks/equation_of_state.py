"""Energy-volume curve of a perfect fcc crystal from a checkpoint, against EMT: the lattice constant at the minimum.

    python benchmarks/equation_of_state.py runs/demo/best.pt --element Cu

Energies per atom of the perfect conventional cell (4 atoms) scaled from a = 0.94 a0 to 1.06 a0 (a0: the
element's ASE reference lattice constant), for the model (float64) and for ASE's EMT; each curve's minimum
from a Birch-Murnaghan fit (ase.eos). Prints both curves, both lattice constants and their relative difference.
"""

from __future__ import annotations

import argparse

import numpy as np
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.data import atomic_numbers, reference_states
from ase.eos import EquationOfState

import eqv2


def curve(calculator, element: str, lattice_constants: np.ndarray) -> np.ndarray:
    """[A] energy per atom (eV) of the perfect fcc cell at each lattice constant."""
    energies = []
    for a in lattice_constants:
        atoms = bulk(element, "fcc", a=float(a), cubic=True)
        atoms.calc = calculator
        energies.append(atoms.get_potential_energy() / len(atoms))
    return np.array(energies)


def minimum(lattice_constants: np.ndarray, energies: np.ndarray) -> float:
    """Lattice constant (Å) at the minimum of a Birch-Murnaghan fit of E(V)."""
    volumes = lattice_constants**3 / 4
    fitted_volume, _, _ = EquationOfState(volumes, energies, eos="birchmurnaghan").fit()
    return float((4 * fitted_volume) ** (1 / 3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint")
    parser.add_argument("--element", default="Cu")
    parser.add_argument("--points", type=int, default=13)
    args = parser.parse_args()
    a0 = reference_states[atomic_numbers[args.element]]["a"]
    lattice_constants = np.linspace(0.94 * a0, 1.06 * a0, args.points)
    model = curve(
        eqv2.Calculator(args.checkpoint, dtype="float64", forces="conservative"), args.element, lattice_constants
    )
    reference = curve(EMT(), args.element, lattice_constants)
    print("| a (Å) | model eV/atom | EMT eV/atom |")
    print("| --- | --- | --- |")
    for a, e_model, e_emt in zip(lattice_constants, model, reference):
        print(f"| {a:.3f} | {e_model:.4f} | {e_emt:.4f} |")
    if np.argmin(model) in (0, len(model) - 1):
        print("model: no minimum inside the range (its lowest energy is at an end)")
        return
    a_model, a_emt = minimum(lattice_constants, model), minimum(lattice_constants, reference)
    print(f"minimum: model a = {a_model:.4f} Å, EMT a = {a_emt:.4f} Å, difference {100 * (a_model / a_emt - 1):+.2f} %")


if __name__ == "__main__":
    main()
