"""How far from the origin a structure can sit before float32 costs force accuracy.

    python benchmarks/translation_error.py [--checkpoint runs/demo/best.pt] [--dtype float32]

Translates a rattled 2x2x2 fcc Cu cell (32 atoms) by 10^2 to 10^5 Å along (1, 1, 1) and prints the change
of its energy and the largest change of a force component against the untranslated cell. The function is
translation invariant, so every change is round-off: in float32 the edge vectors are differences of
float32 positions.
"""

from __future__ import annotations

import argparse

import ase.build
import numpy as np

import eqv2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="runs/demo/best.pt")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = parser.parse_args()

    calculator = eqv2.Calculator(args.checkpoint, dtype=args.dtype)
    cell = ase.build.bulk("Cu", "fcc", a=3.6, cubic=True) * (2, 2, 2)
    cell.rattle(0.05, seed=1)
    cell.calc = calculator
    energy, forces = cell.get_potential_energy(), cell.get_forces()
    print(f"{args.checkpoint}, {args.dtype}, {len(cell)} atoms\n")
    print("| translation (Å) | energy change (eV) | largest force change (eV/Å) |")
    print("| --- | --- | --- |")
    for distance in (1e2, 1e3, 1e4, 1e5):
        moved = cell.copy()
        moved.positions += distance
        moved.calc = calculator
        energy_change = moved.get_potential_energy() - energy
        force_change = np.abs(moved.get_forces() - forces).max()
        print(f"| {distance:.0e} | {energy_change:.1e} | {force_change:.1e} |")


if __name__ == "__main__":
    main()
