"""torch.compile in a molecular-dynamics run: compilations, compile time and time per step.

    python benchmarks/compile_md.py [--checkpoint runs/demo/best.pt] [--steps 200] [--forces conservative]

Runs NVE MD (`eqv2.run_md`, 300 K, 1 fs) on a 29-atom CO/Cu(111) slab of the built-in generator
twice: eager, then with ``compile=True``. The number of edges changes as atoms move, so this counts
how often torch.compile compiles (graphs made by dynamo and its recompilations) over the run, and
prints the first call's time (compilation included), the mean time per MD step after it, and the
largest force difference between the two runs' first calls. Without ``--checkpoint`` the oc20-31M
preset with random weights is used.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch._dynamo.utils import counters

import eqv2
from eqv2.data.emt import SlabSpec, build_system


def potential(checkpoint: str | None) -> eqv2.Potential:
    if checkpoint:
        return eqv2.load(checkpoint)
    torch.manual_seed(0)
    return eqv2.Potential(eqv2.EquiformerV2.from_preset("oc20-31M").eval())


def run(checkpoint: str | None, compile: bool, steps: int, forces: str) -> dict:
    atoms = build_system(SlabSpec("Cu", "fcc111", "CO"), np.random.default_rng(0))
    model = potential(checkpoint)
    calculator = eqv2.Calculator(model, forces=forces, compile=compile, keep_freed_memory=True)
    edges = []
    original = model.collate

    def counting_collate(structures):
        batch = original(structures)
        edges.append(int(batch.edge_index.shape[1]))
        return batch

    model.collate = counting_collate
    graphs_before = counters["stats"]["unique_graphs"]
    atoms.calc = calculator
    start = time.perf_counter()
    first_forces = atoms.get_forces().copy()
    first_call = time.perf_counter() - start
    atoms.calc = None
    start = time.perf_counter()
    eqv2.run_md(model, atoms, "nve", temperature_k=300.0, steps=steps, forces=forces, interval=steps)
    return {
        "first_call_s": first_call,
        "step_s": (time.perf_counter() - start) / steps,
        "graphs": counters["stats"]["unique_graphs"] - graphs_before,
        "recompiles": sum(counters["recompiles"].values()),
        "edge_counts": len(set(edges)),
        "first_forces": first_forces,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--forces", choices=("direct", "conservative"), default="conservative")
    args = parser.parse_args()
    eager = run(args.checkpoint, False, args.steps, args.forces)
    compiled = run(args.checkpoint, True, args.steps, args.forces)
    difference = np.abs(eager["first_forces"] - compiled["first_forces"]).max()
    print(f"{args.steps} NVE steps, {args.forces} forces, {torch.get_num_threads()} threads")
    print(f"distinct edge counts over the run: {compiled['edge_counts']}")
    print(f"graphs compiled: {compiled['graphs']}, recompilations: {compiled['recompiles']}")
    for name, result in (("eager", eager), ("compiled", compiled)):
        print(f"{name}: first call {result['first_call_s']:.2f} s, then {1000 * result['step_s']:.1f} ms per MD step")
    print(f"compiled vs eager per step: {eager['step_s'] / compiled['step_s']:.2f}x")
    print(f"max |F_compiled - F_eager| at the first step: {difference:.2e} eV/Å")


if __name__ == "__main__":
    main()
