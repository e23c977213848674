"""CPU time and peak memory of one training step against lmax, for the lmax experiment.

Usage: ``python benchmarks/training_step_lmax.py [--config configs/demo.yaml] [--lmax 2 4 6]
[--grids 10 14 18] [--steps 5] [key.sub=value ...]`` (overrides as for ``eqv2 train``)

The model of ``--config`` at each lmax (mmax of the config, S2 grid ``--grids``), one training step
= forward, energy + force loss, backward, on the first ``batch_size`` structures of the config's
training split. Each lmax runs in its own process (so its peak RSS is its own) on one thread, and
the time is process CPU time per step (median of ``--steps``), which other processes on the machine
disturb less than wall time.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import torch


def one(config_path: str, lmax: int, grid: int, steps: int, extra_overrides: list[str]) -> dict[str, float]:
    """Measure one lmax in this process."""
    from eqv2.train.config import load_config
    from eqv2.train.setup import initial_potential, open_split, scan

    torch.set_num_threads(1)
    overrides = [*extra_overrides, f"model.lmax_list=[{lmax}]", f"model.grid_resolution={grid}"]
    config = load_config(config_path, overrides)
    dataset = open_split(config.data, config.data.train, ("energy", "forces"))
    _, data_statistics = scan(dataset)
    potential = initial_potential(config, data_statistics).train()
    batch = potential.collate([dataset[i] for i in range(config.optim.batch_size)])
    times = []
    for _ in range(steps + 1):
        start = time.process_time()
        results = potential.energy_and_derivatives(batch, forces=False, create_graph=True)
        loss = (results["energy"] - batch.energy).abs().sum() + (results["direct_forces"] - batch.forces).abs().sum()
        loss.backward()
        times.append(time.process_time() - start)
    return {
        "lmax": lmax,
        "grid": grid,
        "seconds_per_step": statistics.median(times[1:]),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "parameters": sum(p.numel() for p in potential.model.parameters()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/demo.yaml")
    parser.add_argument("--lmax", type=int, nargs="+", default=[2, 4, 6])
    parser.add_argument("--grids", type=int, nargs="+", default=[10, 14, 18])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("overrides", nargs="*", help="dotted config overrides, e.g. model.distance_gaussians=600")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.config, args.lmax[0], args.grids[0], args.steps, args.overrides)))
        return
    print("| lmax | S2 grid | parameters | CPU s per training step | peak RSS MiB |")
    print("| --- | --- | --- | --- | --- |")
    for lmax, grid in zip(args.lmax, args.grids):
        command = [sys.executable, __file__, "--one", "--config", args.config, "--lmax", str(lmax)]
        command += ["--grids", str(grid), "--steps", str(args.steps), *args.overrides]
        row = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
        print(
            f"| {row['lmax']} | {row['grid']} | {row['parameters']:,} | {row['seconds_per_step']:.3f} "
            f"| {row['peak_rss_mib']:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
