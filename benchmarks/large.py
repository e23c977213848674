"""Large structures: time and peak memory of the oc20-31M preset on slabs and bulk cells of many atoms.

    python benchmarks/large.py                                  # 5,000, 20,000 and 100,000 atoms
    python benchmarks/large.py --sizes 5000 20000 --kinds bulk
    python benchmarks/large.py --conservative 5000              # conservative forces and stress
    python benchmarks/large.py --sizes 100000 --layers 1        # the first block only (see below)

Each measurement runs in its own process (peak RSS is per process): build a Cu(111) slab or an fcc
Cu bulk cell of about the given number of atoms (slightly rattled), the oc20-31M preset (random
weights, float32, 12 Å cutoff, 20 neighbours), the radius graph, then one forward with direct
forces (or, with --conservative, forces and stress by autograd). Prints a Markdown table with
graph and model seconds, peak RSS, the RSS above the idle model, that per atom and per edge, and
the exponents of time and memory fitted against the number of atoms.

Each transformer block is timed on its own. With ``--layers K`` the network keeps only the first K of
the preset's 8 blocks: at inference a block's tensors are freed before the next block runs, so
peak memory is close to the whole network's (5,000-atom slab, 2026-12-02: 1.50 GiB with one block,
1.85 GiB with all 8), and the "all blocks s" column adds the measured mean block time for each
block left out (there: 103.9 s estimated, 98.2 s measured), an estimate for sizes whose full run
takes too long.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time

import numpy as np

KINDS = ("slab", "bulk")


def structure(kind: str, atoms: int):
    """About ``atoms`` Cu atoms: an fcc(111) slab with 10 Å of vacuum on each side, or a cubic fcc cell."""
    from ase.build import bulk, fcc111

    if kind == "slab":
        layers = max(4, round((atoms / 4) ** (1 / 3)))
        side = max(2, round(math.sqrt(atoms / layers)))
        built = fcc111("Cu", size=(side, side, layers), a=3.61, vacuum=10.0, periodic=True)
    else:
        side = max(1, round((atoms / 4) ** (1 / 3)))
        built = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(side)
    built.rattle(0.02, seed=0)
    return built


def measure(kind: str, atoms: int, conservative: bool, layers: int | None) -> dict:
    """One measurement in this process; ``layers`` keeps the first blocks of the preset only."""
    import torch

    import eqv2
    from eqv2.batch import Structure

    eqv2.keep_freed_memory()
    torch.manual_seed(0)
    full_layers = eqv2.EquiformerV2.from_preset("oc20-31M").config.num_layers
    network = eqv2.EquiformerV2.from_preset("oc20-31M", num_layers=layers or full_layers)
    potential = eqv2.Potential(network.eval())
    block_seconds = []
    for block in network.blocks:
        block.register_forward_pre_hook(lambda *_: block_seconds.append(-time.perf_counter()))
        block.register_forward_hook(lambda *_: block_seconds.append(block_seconds.pop() + time.perf_counter()))
    crystal = structure(kind, atoms)
    idle = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    start = time.perf_counter()
    batch = potential.collate([Structure.from_atoms(crystal)])
    graph_seconds = time.perf_counter() - start
    start = time.perf_counter()
    potential(batch, forces="conservative" if conservative else "direct", stress=conservative)
    model_seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    block_mean = float(np.mean(block_seconds))
    return {
        "kind": kind,
        "atoms": len(crystal),
        "edges": int(batch.edge_index.shape[1]),
        "graph_s": graph_seconds,
        "model_s": model_seconds,
        "blocks": len(block_seconds),
        "block_s": block_mean,
        "full_model_s": model_seconds + (full_layers - len(block_seconds)) * block_mean,
        "peak_gib": peak,
        "above_idle_gib": peak - idle,
        "threads": torch.get_num_threads(),
    }


def run_in_subprocess(kind: str, atoms: int, conservative: bool, layers: int | None = None) -> dict:
    command = [sys.executable, __file__, "--one", kind, str(atoms)] + (["--conservative-one"] if conservative else [])
    command += ["--layers", str(layers)] if layers else []
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        return {"kind": kind, "atoms": atoms, "error": result.stderr.strip().splitlines()[-1:]}
    return json.loads(result.stdout.strip().splitlines()[-1])


def fitted_exponent(rows: list[dict], key: str) -> float:
    """Slope of log(key) against log(atoms)."""
    return float(np.polyfit(np.log([r["atoms"] for r in rows]), np.log([r[key] for r in rows]), 1)[0])


def table(rows: list[dict], title: str) -> str:
    lines = [
        f"### {title}",
        "",
        "| structure | atoms | edges | graph s | blocks run | model s | s per block | all blocks s | peak RSS GiB "
        "| above idle GiB | KiB/atom | KiB/edge |",
        "| --- " * 12 + "|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['kind']} | {r['atoms']} | failed: {r['error']} |" + "  |" * 9)
            continue
        per_atom, per_edge = r["above_idle_gib"] * 2**20 / r["atoms"], r["above_idle_gib"] * 2**20 / r["edges"]
        lines.append(
            f"| {r['kind']} | {r['atoms']:,} | {r['edges']:,} | {r['graph_s']:.1f} | {r['blocks']} | "
            f"{r['model_s']:.1f} | {r['block_s']:.2f} | {r['full_model_s']:.1f} | "
            f"{r['peak_gib']:.2f} | {r['above_idle_gib']:.2f} | {per_atom:.1f} | {per_edge:.2f} |"
        )
    for kind in KINDS:
        done = [r for r in rows if r["kind"] == kind and "error" not in r]
        if len(done) > 1:
            lines.append(
                f"\n{kind}: time per block ~ atoms^{fitted_exponent(done, 'block_s'):.2f}, "
                f"memory above idle ~ atoms^{fitted_exponent(done, 'above_idle_gib'):.2f}"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000, 100000])
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument("--conservative", type=int, nargs="*", default=None, metavar="ATOMS")
    parser.add_argument("--one", nargs=2, metavar=("KIND", "ATOMS"), help=argparse.SUPPRESS)
    parser.add_argument("--conservative-one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--layers", type=int, default=None, help="keep only the first LAYERS blocks (docstring)")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one[0], int(args.one[1]), args.conservative_one, args.layers)))
        return
    if args.conservative is not None:
        sizes = args.conservative or [5000]
        rows = [run_in_subprocess(kind, n, True, args.layers) for kind in args.kinds for n in sizes]
        print(table(rows, "conservative forces and stress (autograd, float32)"))
        return
    rows = [run_in_subprocess(kind, n, False, args.layers) for kind in args.kinds for n in args.sizes]
    print(table(rows, "inference, direct forces (float32)"))


if __name__ == "__main__":
    main()
