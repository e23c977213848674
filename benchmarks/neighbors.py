"""Neighbour-list speed: `eqv2.radius_graph` against ASE, and the cost of each max_neighbors mode.

    python benchmarks/neighbors.py [--repeat 10] [--cutoff 6.0] [--trials 5]
    python benchmarks/neighbors.py modes [--trials 5]
    python benchmarks/neighbors.py derivatives

The first form times ASE's `neighbor_list` and `eqv2.radius_graph` on periodic copper (4,000 atoms
for the default repeat of 10 conventional cells) and prints the best time of each and the ratio.
``modes`` times `radius_graph` with max_neighbors = 20 in every mode on a 256-atom copper cell at 6
and 12 Å, next to one forward pass of the oc20-31M preset (random weights, float32) on that cell
with the 12 Å / 20-neighbour graph of the OC20 checkpoints.
``derivatives`` compares conservative forces and stress with central finite differences of the
energy in every mode, in float64, for the strict fairchem test checkpoint (`tests/fixtures/reference/
tiny_gate_L2M1`: 16 neighbours at 6 Å) on `eqv2.testing.structures_with_ties`, and prints the
energy and the largest error of each relative to the largest finite-difference value.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from ase.build import bulk
from ase.neighborlist import neighbor_list

from eqv2 import EquiformerV2, Potential, load
from eqv2.batch import Structure
from eqv2.graph.neighbors import NEIGHBOR_MODES, radius_graph
from eqv2.testing import finite_difference_forces, finite_difference_stress, predict, structures_with_ties

STRICT_CHECKPOINT = Path(__file__).parents[1] / "tests/fixtures/reference/tiny_gate_L2M1/eqv2_tiny_gate_L2M1_oc20.pt"


def best_time(function, trials: int) -> float:
    """Shortest wall time in seconds over ``trials`` calls of ``function()``."""
    times = []
    for _ in range(trials):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def compare_with_ase(repeat: int, cutoff: float, trials: int) -> None:
    crystal = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(repeat)
    crystal.rattle(0.05, seed=0)
    ase_seconds = best_time(lambda: neighbor_list("ijS", crystal, cutoff), trials)
    eqv2_seconds = best_time(lambda: radius_graph(crystal.positions, crystal.cell[:], crystal.pbc, cutoff), trials)
    edges = radius_graph(crystal.positions, crystal.cell[:], crystal.pbc, cutoff)[0].shape[1]
    print(f"{len(crystal)} Cu atoms, cutoff {cutoff} Å, {edges} edges")
    print(f"ase.neighborlist.neighbor_list: {ase_seconds * 1e3:8.1f} ms")
    print(f"eqv2.radius_graph:              {eqv2_seconds * 1e3:8.1f} ms")
    print(f"speed-up: {ase_seconds / eqv2_seconds:.1f}x")


def compare_modes(trials: int, max_neighbors: int = 20) -> None:
    crystal = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(4)  # 256 atoms, degenerate shells
    arguments = (crystal.positions, crystal.cell[:], crystal.pbc)
    print(f"{len(crystal)} Cu atoms, max_neighbors {max_neighbors}, best of {trials} (ms)")
    print("| mode | 6 Å | 12 Å |\n| --- | --- | --- |")
    for mode in NEIGHBOR_MODES:
        seconds = [
            best_time(lambda c=cutoff, m=mode: radius_graph(*arguments, c, max_neighbors, mode=m), trials)
            for cutoff in (6.0, 12.0)
        ]
        print(f"| {mode} | {seconds[0] * 1e3:.1f} | {seconds[1] * 1e3:.1f} |")
    model = EquiformerV2.from_preset("oc20-31M", max_radius=12.0, max_neighbors=max_neighbors).eval()
    potential = Potential(model)
    batch = potential.collate([Structure.from_atoms(crystal)])
    with torch.no_grad():
        forward = best_time(lambda: potential(batch), 1)
    print(f"oc20-31M forward on this cell (12 Å, {max_neighbors} neighbours, graph not included): {forward:.2f} s")


def compare_derivatives() -> None:
    print("| structure | mode | edges | energy (eV) | forces | stress |\n| --- | --- | --- | --- | --- | --- |")
    for structure in structures_with_ties():
        for mode in NEIGHBOR_MODES:
            potential = load(STRICT_CHECKPOINT, dtype=torch.float64, neighbor_mode=mode)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # reference_strict warns that its energy jumps
                results = predict(potential, structure, forces="conservative", stress=True)
                forces = finite_difference_forces(potential, structure, list(range(structure.num_atoms)))
                stress = finite_difference_stress(potential, structure)
            errors = [
                np.abs(results[name] - numeric).max() / max(np.abs(numeric).max(), 1e-300)
                for name, numeric in (("forces", forces), ("stress", stress))
            ]
            edges = potential.collate([structure]).edge_index.shape[1]
            energy = results["energy"]
            print(f"| {structure.name} | {mode} | {edges} | {energy:.8f} | {errors[0]:.1e} | {errors[1]:.1e} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="?", default="ase", choices=["ase", "modes", "derivatives"])
    parser.add_argument("--repeat", type=int, default=10, help="conventional fcc cells along each axis")
    parser.add_argument("--cutoff", type=float, default=6.0, help="cutoff radius in Å")
    parser.add_argument("--trials", type=int, default=5, help="timed calls of each; the best is kept")
    args = parser.parse_args()
    if args.what == "ase":
        compare_with_ase(args.repeat, args.cutoff, args.trials)
    elif args.what == "modes":
        compare_modes(args.trials)
    else:
        compare_derivatives()


if __name__ == "__main__":
    main()
