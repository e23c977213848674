"""Screening at scale: memory per edge, size packing against fixed-count batching, flat memory.

    python benchmarks/screening.py memory    # peak memory of a model call per edge (eqv2.simulate.packing's constants)
    python benchmarks/screening.py packing   # structures/s on 1,000 mixed-size slabs: packed vs fixed count
    python benchmarks/screening.py rss       # peak RSS of `eqv2 predict` for 1,000 and 20,000 structures

Sections:
- memory: one model call (random weights) on batches of OC20-like slabs of two sizes, each in its
  own process; the slope of peak RSS over edges, per edge value (m-truncated coefficients x
  sphere_channels), for "direct" forces (no autograd; on CPUs the edges run in chunks), "direct"
  with every edge in one chunk (as on GPUs), "stress" (direct forces and the stress by autograd
  through the strain, the slabs in 3D-periodic boxes) and "conservative" forces (autograd); the demo
  model and oc20-31M.
- packing: structures per second against the edge budget of a batch, then `eqv2 predict` on 1,000
  and `eqv2 relax` on 100 mixed-size slabs (25-120 atoms) of the built-in generator with the demo
  architecture (random weights, forces scaled down so relaxations move gently), in this process:
  batches packed by edges (the default budget) against the old fixed counts (predict: 8 structures
  per call; relax: every structure in one batch).
- rss: `eqv2 predict` (tiny model) on files of 1,000 and 20,000 small molecules-in-a-box, each in
  its own process; peak RSS and its growth per structure, and the current RSS of the largest run at
  each tenth of its time (whether it levels off or keeps growing).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import ase.io
import numpy as np
import torch
import yaml
from ase import Atoms

import eqv2
from eqv2.adsorbates import ADSORBATES
from eqv2.data.emt import FACETS, METALS, SlabSpec, build_system
from eqv2.model import EquiformerV2
from eqv2.nn import graph_ops
from eqv2.potential import Normalizer, Potential, TargetStatistics
from eqv2.simulate.packing import Budget, default_budget, edge_values
from eqv2.simulate.prediction import predict_stream

ROOT = Path(__file__).resolve().parent.parent
MEMORY_BATCHES = {"demo": (4, 16), "oc20-31M": (2, 5)}  # slabs in the small and the large batch
MEMORY_MODES = ("direct", "direct unchunked", "stress", "conservative")


def model(name: str, force_scale: float = 1.0) -> Potential:
    """Random weights of the demo architecture (configs/demo.yaml) or a preset, eval mode, float32."""
    torch.manual_seed(0)
    if name == "demo":
        network = EquiformerV2(**yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())["model"])
    else:
        network = EquiformerV2.from_preset(name)
    statistics = TargetStatistics(Normalizer(0.0, force_scale), Normalizer(0.0, force_scale))
    return Potential(network.eval(), statistics)


def mixed_slabs(count: int, seed: int = 0) -> list[Atoms]:
    """``count`` OC20-like systems of the built-in generator, cycling metals, facets and adsorbates, each
    repeated 1x1, 2x1 or 2x2 in plane by a seeded draw: 25 to 120 atoms."""
    rng = np.random.default_rng(seed)
    adsorbates = sorted(ADSORBATES)
    slabs = []
    for i in range(count):
        spec = SlabSpec(METALS[i % len(METALS)], FACETS[i % len(FACETS)], adsorbates[i % len(adsorbates)])
        slab = build_system(spec, rng)
        slabs.append(slab.repeat([(1, 1, 1), (2, 1, 1), (2, 2, 1)][rng.choice(3, p=[0.5, 0.3, 0.2])]))
    return slabs


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize()


def memory_probe(name: str, count: int, mode: str) -> dict:
    """Peak RSS growth of one model call on ``count`` slabs (run in a process of its own)."""
    if mode == "direct unchunked":
        graph_ops.EDGE_CHUNK_VALUES["cpu"] = 2**40
    potential = model(name)
    warm_up, *slabs = mixed_slabs(1) + mixed_slabs(count, seed=1)
    stress = mode == "stress"
    if stress:
        for slab in (warm_up, *slabs):
            slab.pbc = True  # a slab in a 3D-periodic box has a stress
    batch = potential.collate([eqv2.Structure.from_atoms(a) for a in slabs])
    forces = "conservative" if mode == "conservative" else "direct"
    potential(potential.collate([eqv2.Structure.from_atoms(warm_up)]), forces=forces, stress=stress)
    before = rss_bytes()
    potential(batch, forces=forces, stress=stress)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"edges": int(batch.edge_index.shape[1]), "atoms": int(batch.num_atoms.sum()), "growth": peak - before}


def run_probe(name: str, count: int, mode: str) -> dict:
    command = [sys.executable, __file__, "memory-probe", name, str(count), mode]
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


def memory_section(models: list[str], modes: list[str]) -> None:
    print("| model | layers | forces | edges (small, large batch) | peak growth MB | bytes per edge | per edge value |")
    print("|---|---|---|---|---|---|---|")
    for name in models:
        potential, counts = model(name), MEMORY_BATCHES[name]
        values, layers = edge_values(potential), potential.model.config.num_layers
        for mode in modes:
            small, large = (run_probe(name, count, mode) for count in counts)
            slope = (large["growth"] - small["growth"]) / (large["edges"] - small["edges"])
            print(f"| {name} | {layers} | {mode} | {small['edges']}, {large['edges']} | {small['growth'] / 2**20:.0f}, "
                  f"{large['growth'] / 2**20:.0f} | {slope:.0f} | {slope / values:.2f} |")  # fmt: skip


def command_rate(arguments: list[str], count: int) -> float:
    """Structures per second of one `eqv2` command run in this process."""
    from eqv2.cli import main

    start = time.perf_counter()
    assert main(arguments) == 0
    return count / (time.perf_counter() - start)


def packing_section(count: int, relax_count: int, steps: int) -> None:
    slabs = mixed_slabs(count)
    potential = model("demo", force_scale=0.1)
    edges = [potential.collate([eqv2.Structure.from_atoms(a)]).edge_index.shape[1] for a in slabs[:100]]
    print(f"{count} slabs, {sum(map(len, slabs)) / count:.0f} atoms and {np.mean(edges):.0f} edges on average; "
          f"default budget on this machine: {default_budget(potential)}")  # fmt: skip
    print("structures/s of one call's worth by edge budget (in one process, the first 96 slabs):")
    for max_edges in (5_000, 20_000, 40_000, 80_000, 160_000):
        start = time.perf_counter()
        done = sum(
            1 for _ in predict_stream(potential, enumerate(slabs[:96]), Budget(max_edges=max_edges), stress=False)
        )
        print(f"  {max_edges:>7} edges: {done / (time.perf_counter() - start):.2f}")
    with tempfile.TemporaryDirectory() as directory:
        path, checkpoint, relax_path = (Path(directory) / name for name in ("slabs.extxyz", "demo.pt", "r.extxyz"))
        ase.io.write(path, slabs)
        ase.io.write(relax_path, slabs[:relax_count])
        eqv2.save(potential, checkpoint)
        common = [str(checkpoint), str(path), "-o", str(Path(directory) / "p.extxyz"), "--no-stress"]
        fixed = command_rate(["predict", *common, "--batch-size", "8"], count)
        packed = command_rate(["predict", *common], count)
        print(f"eqv2 predict: fixed count (--batch-size 8, the old default) {fixed:.2f} structures/s, packed by "
              f"edges (default) {packed:.2f} structures/s ({packed / fixed:.2f}x)")  # fmt: skip
        common = [str(checkpoint), str(relax_path), "-o", str(Path(directory) / "r.out"), "--steps", str(steps)]
        everything = str(relax_count)
        fixed = command_rate(["relax", *common, "--batch-size", everything, "--chunk-size", everything], relax_count)
        packed = command_rate(["relax", *common], relax_count)
        print(f"eqv2 relax, {relax_count} slabs, at most {steps} steps: all in one batch (the old default) "
              f"{fixed:.2f} structures/s, packed and refilled (default) {packed:.2f} structures/s "
              f"({packed / fixed:.2f}x)")  # fmt: skip


def small_structures(count: int) -> list[Atoms]:
    """``count`` small molecules (3-6 atoms) in 10 Å boxes, rattled by a seeded draw."""
    rng = np.random.default_rng(0)
    names = ("H2O", "CO2", "NH3", "CH4")
    structures = []
    for i in range(count):
        atoms = ase.build.molecule(names[i % len(names)], cell=[10, 10, 10], pbc=True)
        atoms.positions += 5.0 + rng.normal(scale=0.05, size=atoms.positions.shape)
        structures.append(atoms)
    return structures


def rss_section(counts: list[int]) -> None:
    from eqv2.testing import tiny_potential

    peaks = {}
    with tempfile.TemporaryDirectory() as directory:
        checkpoint = Path(directory) / "tiny.pt"
        eqv2.save(tiny_potential(dtype=torch.float32), checkpoint)
        for count in counts:
            path = Path(directory) / f"in_{count}.extxyz"
            ase.io.write(path, small_structures(count))
            command = [
                sys.executable,
                __file__,
                "rss-probe",
                str(checkpoint),
                str(path),
                str(Path(directory) / "o.extxyz"),
            ]
            output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            peaks[count] = json.loads(output)
            print(f"eqv2 predict, {count} structures: peak RSS {peaks[count]['peak'] / 2**20:.0f} MB, "
                  f"{peaks[count]['seconds']:.0f} s")  # fmt: skip
    first, last = counts[0], counts[-1]
    growth = (peaks[last]["peak"] - peaks[first]["peak"]) / (last - first)
    print(f"growth: {growth:.0f} bytes per structure from {first} to {last}")
    samples = peaks[last]["samples"]
    tenths = [samples[min(len(samples) - 1, len(samples) * k // 10)] for k in range(1, 11)] if samples else []
    print(f"current RSS (MB) of the {last}-structure run at each tenth of its time: {tenths}")


def current_rss_mb() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) // 1024 for line in status if line.startswith("VmRSS"))


def rss_probe(checkpoint: str, path: str, output: str) -> dict:
    """Peak RSS of one `eqv2 predict`, and its current RSS sampled every second (MB)."""
    import threading

    from eqv2.cli import main

    samples, done = [], threading.Event()

    def sample() -> None:
        while not done.wait(1.0):
            samples.append(current_rss_mb())

    threading.Thread(target=sample, daemon=True).start()
    start = time.perf_counter()
    main(["predict", checkpoint, path, "-o", output, "--max-atoms", "2000"])
    done.set()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"peak": peak, "seconds": time.perf_counter() - start, "samples": samples}


def main() -> None:
    if sys.argv[1:2] == ["memory-probe"]:
        name, count, mode = sys.argv[2], int(sys.argv[3]), sys.argv[4]
        print(json.dumps(memory_probe(name, count, mode)))
        return
    if sys.argv[1:2] == ["rss-probe"]:
        print(json.dumps(rss_probe(*sys.argv[2:5])))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("section", choices=("memory", "packing", "rss"))
    parser.add_argument("--count", type=int, default=1000, help="packing: slabs to predict")
    parser.add_argument("--relax-count", type=int, default=100, help="packing: slabs to relax")
    parser.add_argument("--steps", type=int, default=30, help="packing: most relaxation steps per slab")
    parser.add_argument("--models", nargs="+", choices=sorted(MEMORY_BATCHES), default=list(MEMORY_BATCHES))
    parser.add_argument("--modes", nargs="+", choices=MEMORY_MODES, default=list(MEMORY_MODES), help="memory")
    parser.add_argument("--rss-counts", type=int, nargs="+", default=[1000, 20000])
    args = parser.parse_args()
    print(f"{date.today()}, {platform.machine()} {torch.get_num_threads()} threads, torch {torch.__version__}: "
          f"python benchmarks/screening.py {' '.join(sys.argv[1:])}")  # fmt: skip
    if args.section == "memory":
        memory_section(args.models, args.modes)
    elif args.section == "packing":
        packing_section(args.count, args.relax_count, args.steps)
    else:
        rss_section(args.rss_counts)


if __name__ == "__main__":
    main()
