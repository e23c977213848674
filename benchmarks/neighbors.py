"""Neighbour-list speed: `eqv2.radius_graph` against ASE's `neighbor_list` on periodic copper.

Usage: ``python benchmarks/neighbors.py [--repeat 10] [--cutoff 6.0] [--trials 5]``
(4,000 atoms for the default repeat of 10 conventional cells). Prints the best time of each
and the ratio.
"""

from __future__ import annotations

import argparse
import time

from ase.build import bulk
from ase.neighborlist import neighbor_list

from eqv2.graph import radius_graph


def best_time(function, trials: int) -> float:
    """Shortest wall time in seconds over ``trials`` calls of ``function()``."""
    times = []
    for _ in range(trials):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10, help="conventional fcc cells along each axis")
    parser.add_argument("--cutoff", type=float, default=6.0, help="cutoff radius in Å")
    parser.add_argument("--trials", type=int, default=5, help="timed calls of each; the best is kept")
    args = parser.parse_args()

    crystal = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(args.repeat)
    crystal.rattle(0.05, seed=0)
    ase_seconds = best_time(lambda: neighbor_list("ijS", crystal, args.cutoff), args.trials)
    eqv2_seconds = best_time(
        lambda: radius_graph(crystal.positions, crystal.cell[:], crystal.pbc, args.cutoff), args.trials
    )
    edges = radius_graph(crystal.positions, crystal.cell[:], crystal.pbc, args.cutoff)[0].shape[1]
    print(f"{len(crystal)} Cu atoms, cutoff {args.cutoff} Å, {edges} edges")
    print(f"ase.neighborlist.neighbor_list: {ase_seconds * 1e3:8.1f} ms")
    print(f"eqv2.radius_graph:              {eqv2_seconds * 1e3:8.1f} ms")
    print(f"speed-up: {ase_seconds / eqv2_seconds:.1f}x")


if __name__ == "__main__":
    main()
