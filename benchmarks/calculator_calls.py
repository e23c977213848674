"""Time per `eqv2.Calculator` call on one slab, as MD and ASE optimizers make them.

Usage: ``python benchmarks/calculator_calls.py [--checkpoint runs/demo/best.pt] [--calls 50] [--threads 2]
[--glibc-defaults]``

Moves the atoms a little before each call (so that each call evaluates the model) and prints the
median milliseconds per call. The calculator is made with ``keep_freed_memory=True`` (eqv2's malloc
settings, `eqv2.cpu_memory`) unless ``--glibc-defaults`` is given; run it both ways to see what the
settings do.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

import eqv2
from eqv2.data.emt import SlabSpec, build_system

WARM_UP_CALLS = 5  # not timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="runs/demo/best.pt")
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--glibc-defaults", action="store_true", help="leave malloc as glibc sets it")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    atoms = build_system(SlabSpec("Cu", "fcc111", "CO"), np.random.default_rng(0))
    atoms.calc = eqv2.Calculator(eqv2.load(args.checkpoint), keep_freed_memory=not args.glibc_defaults)
    seconds = []
    for _ in range(WARM_UP_CALLS + args.calls):
        atoms.positions += 1e-3
        start = time.perf_counter()
        atoms.get_forces()
        seconds.append(time.perf_counter() - start)
    malloc = "glibc defaults" if args.glibc_defaults else "eqv2 settings"
    print(
        f"{len(atoms)} atoms, {args.threads} threads, malloc: {malloc}: "
        f"{1000 * statistics.median(seconds[WARM_UP_CALLS:]):.1f} ms per call (median of {args.calls})"
    )


if __name__ == "__main__":
    main()
