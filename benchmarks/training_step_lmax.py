"""CPU time, peak memory and equivariance error of one training step against lmax: the lmax study's cost arm.

Usage: ``python benchmarks/training_step_lmax.py [--config configs/experiments/recipe.yaml] [--lmax 2 4 6]
[--grids 10 14 18] [--steps 5] [key.sub=value ...]`` (overrides as for ``eqv2 train``; without ``--grids``
each lmax gets the studies' grid rule, 2 (lmax + 1) + 4 points each way)

The model of ``--config`` at each lmax (mmax of the config, S2 grid ``--grids``), one training step
= forward, energy + force loss, backward, on the first ``batch_size`` structures of the config's
training split. Each lmax runs in its own process (so its peak RSS is its own) on one thread, and
the time is process CPU time per step (median of ``--steps``), which other processes on the machine
disturb less than wall time. The equivariance error is the largest relative change of the energy and
forces under a random rotation (`eqv2.testing.equivariance_errors`) of the untrained model on a rattled
bulk cell, in float32 and float64: what the S2 grid's quadrature leaves.
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
    from eqv2.testing import equivariance_errors, structures
    from eqv2.train.config import load_config
    from eqv2.train.setup import init_source, initial_potential, open_split, scan

    torch.set_num_threads(1)
    overrides = [*extra_overrides, f"model.lmax_list=[{lmax}]", f"model.grid_resolution={grid}"]
    config = load_config(config_path, overrides)
    dataset = open_split(config.data, config.data.train, ("energy", "forces"))
    _, data_statistics = scan(dataset)
    potential = initial_potential(config, data_statistics, init_source(config)).train()
    batch = potential.collate([dataset[i] for i in range(config.optim.batch_size)])
    times = []
    for _ in range(steps + 1):
        start = time.process_time()
        results = potential.energy_and_derivatives(batch, forces=False, create_graph=True)
        loss = (results["energy"] - batch.energy).abs().sum() + (results["direct_forces"] - batch.forces).abs().sum()
        loss.backward()
        times.append(time.process_time() - start)
    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    potential.eval()
    errors = {}
    for dtype in (torch.float32, torch.float64):
        found = equivariance_errors(potential.to(dtype), structures()[2], seed=1)
        errors[str(dtype).removeprefix("torch.")] = max(found["rotation_energy"], found["rotation_forces"])
    return {
        "lmax": lmax,
        "grid": grid,
        "seconds_per_step": statistics.median(times[1:]),
        "peak_rss_mib": peak_rss_mib,
        "parameters": sum(p.numel() for p in potential.model.parameters()),
        "rotation_error": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/experiments/recipe.yaml")
    parser.add_argument("--lmax", type=int, nargs="+", default=[2, 4, 6])
    parser.add_argument("--grids", type=int, nargs="+", default=None, help="default: 2 (lmax + 1) + 4 each")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("overrides", nargs="*", help="dotted config overrides, e.g. model.distance_gaussians=600")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        grid = args.grids[0] if args.grids else 2 * (args.lmax[0] + 1) + 4
        print(json.dumps(one(args.config, args.lmax[0], grid, args.steps, args.overrides)))
        return
    grids = args.grids or [2 * (lmax + 1) + 4 for lmax in args.lmax]
    print("| lmax | S2 grid | parameters | CPU s per training step | peak RSS MiB | rotation error float32 | float64 |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for lmax, grid in zip(args.lmax, grids):
        command = [sys.executable, __file__, "--one", "--config", args.config, "--lmax", str(lmax)]
        command += ["--grids", str(grid), "--steps", str(args.steps), *args.overrides]
        row = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
        print(
            f"| {row['lmax']} | {row['grid']} | {row['parameters']:,} | {row['seconds_per_step']:.3f} "
            f"| {row['peak_rss_mib']:.0f} | {row['rotation_error']['float32']:.1e} "
            f"| {row['rotation_error']['float64']:.1e} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
