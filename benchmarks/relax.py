"""Batched relaxation against ASE's optimizer of the same kind run one structure at a time.

Usage: ``python benchmarks/relax.py [--checkpoint runs/demo/best.pt] [--count 32] [--optimizer fire]
[--evaluations-only]``

Relaxes ``count`` adsorbate-on-slab systems of the built-in EMT dataset (24-30 atoms, lower half
fixed) twice with the same potential: `eqv2.simulate.relax` (all together, one model call per
step) and ASE's FIRE or L-BFGS with `eqv2.Calculator`, one structure after the other. Prints both
wall times and their ratio, and the largest final-energy difference over the structures both
runs converge. Runs in one process, so the ratio holds on a busy machine.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from ase import Atoms

import eqv2
from eqv2.adsorbates import ADSORBATES
from eqv2.data.emt import FACETS, METALS, SlabSpec, build_system
from eqv2.simulate.prediction import predict
from eqv2.simulate.relax import OPTIMIZERS, relax


def benchmark_slabs(count: int, seed: int = 0) -> list[Atoms]:
    """``count`` systems cycling through metals, facets and adsorbates, placed by a seeded draw."""
    rng = np.random.default_rng(seed)
    adsorbates = sorted(ADSORBATES)
    specs = [SlabSpec(METALS[i % 7], FACETS[i % 3], adsorbates[i % len(adsorbates)]) for i in range(count)]
    return [build_system(spec, rng) for spec in specs]


def one_at_a_time(potential, slabs: list[Atoms], optimizer: str, fmax: float, steps: int) -> list[tuple[float, bool]]:
    """(final energy, converged) of each slab relaxed by ASE's optimizer with `eqv2.Calculator`."""
    results = []
    for slab in slabs:
        atoms = slab.copy()
        atoms.calc = eqv2.Calculator(potential)
        try:
            converged = OPTIMIZERS[optimizer](atoms, logfile=None).run(fmax=fmax, steps=steps)
            results.append((atoms.get_potential_energy(), bool(converged)))
        except ValueError:  # the structure collapsed: eqv2 refuses atoms closer than 0.1 Å
            results.append((np.nan, False))
    return results


def evaluation_times(potential, slabs: list[Atoms]) -> tuple[float, float]:
    """Seconds for one batched evaluation of all slabs and for one `eqv2.Calculator` call per slab."""
    start = time.perf_counter()
    predict(potential, slabs, batch_size=len(slabs), stress=False)
    batched = time.perf_counter() - start
    start = time.perf_counter()
    for slab in slabs:
        atoms = slab.copy()
        atoms.calc = eqv2.Calculator(potential)
        atoms.get_forces()
    return batched, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="runs/demo/best.pt")
    parser.add_argument("--count", type=int, default=32)
    parser.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="fire")
    parser.add_argument("--fmax", type=float, default=0.05)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--evaluations-only", action="store_true", help="time one step's model calls only")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    potential = eqv2.load(args.checkpoint)
    slabs = benchmark_slabs(args.count)
    print(
        f"{args.count} slabs ({sum(map(len, slabs))} atoms), {args.optimizer}, fmax {args.fmax}, {args.threads} threads"
    )

    batched_call, single_calls = evaluation_times(potential, slabs)
    print(f"one step's model calls: batched {batched_call:.2f} s, one at a time {single_calls:.2f} s "
          f"({single_calls / batched_call:.2f}x)")  # fmt: skip
    if args.evaluations_only:
        return
    start = time.perf_counter()
    batched = relax(potential, slabs, fmax=args.fmax, steps=args.steps, optimizer=args.optimizer)
    batched_seconds = time.perf_counter() - start
    start = time.perf_counter()
    single = one_at_a_time(potential, slabs, args.optimizer, args.fmax, args.steps)
    single_seconds = time.perf_counter() - start

    both = [i for i, r in enumerate(batched) if r.converged and single[i][1]]
    difference = max((abs(batched[i].energy - single[i][0]) for i in both), default=np.nan)
    print(f"batched:       {batched_seconds:8.1f} s, {sum(r.converged for r in batched)} converged, "
          f"{sum(r.steps for r in batched)} steps in all")  # fmt: skip
    print(f"one at a time: {single_seconds:8.1f} s, {sum(c for _, c in single)} converged")
    print(f"speed-up: {single_seconds / batched_seconds:.2f}x; max |dE| over the {len(both)} structures both "
          f"converge: {1000 * difference:.3f} meV")  # fmt: skip


if __name__ == "__main__":
    main()
