"""Estimated CPU time of full sweeps from a pilot: every variant run for a few steps at one seed.

Usage (after the pilot, from the repository root)::

    for sweep in ablation lmax data_efficiency; do
      OMP_NUM_THREADS=1 eqv2 experiment configs/experiments/$sweep.yaml --out pilot/$sweep --runs pilot/runs \\
          --seeds 0 --set optim.max_steps=30 --set eval_every=30
    done
    python benchmarks/sweep_estimate.py --pilot pilot configs/experiments/{ablation,lmax,data_efficiency}.yaml

For each variant, from its pilot run (``done.json``, ``metrics.csv``): wall seconds per training step, the
run's CPU share (CPU time over wall time of the whole run), CPU seconds per step = their product (an
approximation where the share changed during the run), and the CPU seconds outside the training steps
(set-up, one validation and the test). A full run is estimated as the sweep's ``optim.max_steps`` steps plus
the overhead scaled by its evaluations (max_steps / eval_every validations and the test, against the
pilot's 2). Sweep totals count every distinct run (config hash) once, at the sweep's seeds; a run shared
with an earlier sweep on the command line is counted there only.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from pathlib import Path

from eqv2.experiment import load_sweep, plan_runs
from eqv2.experiment.report import seconds_per_step, structures_per_step


def pilot_costs(pilot_run_dir: Path, structures: int) -> dict[str, float]:
    """CPU seconds per step and outside the steps, and peak memory, of one pilot run."""
    marker = json.loads((pilot_run_dir / "done.json").read_text())
    wall_step = seconds_per_step(pilot_run_dir / "metrics.csv", structures)
    share = marker["cpu_s"] / marker["wall_s"]
    cpu_step = wall_step * share
    return {
        "wall_step": wall_step,
        "cpu_step": cpu_step,
        "overhead": max(0.0, marker["cpu_s"] - marker["steps"] * cpu_step),
        "peak_rss_mib": marker["peak_rss_mib"],
        "steps": marker["steps"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweeps", nargs="+", help="the full sweep configs, in the order they will run")
    parser.add_argument("--pilot", required=True, help="the pilot's --out parent (holds <sweep>/ and runs/)")
    parser.add_argument("--pilot-steps", type=int, default=30)
    args = parser.parse_args()
    pilot = Path(args.pilot)
    seen: set[str] = set()
    grand_total = 0.0
    print(
        "| sweep | variant | wall s/step (pilot) | CPU s/step | CPU s outside steps (pilot) | peak RSS MiB "
        "| full run CPU h | runs counted |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for path in args.sweeps:
        sweep = load_sweep(path)
        full = plan_runs(sweep, Path("experiments") / sweep.name)
        short = (f"optim.max_steps={args.pilot_steps}", f"eval_every={args.pilot_steps}")
        pilot_sweep = dataclasses.replace(sweep, overrides=(*sweep.overrides, *short), seeds=(0,))
        pilot_runs = {run.variant.name: run for run in plan_runs(pilot_sweep, pilot / sweep.name, pilot / "runs")}
        total = 0.0
        for variant in sweep.variants:
            run = pilot_runs[variant.name]
            costs = pilot_costs(run.run_dir, structures_per_step(run))
            config = next(r.config for r in full if r.variant == variant)
            evaluations = math.ceil(config.optim.max_steps / config.eval_every) + 1
            run_cpu = config.optim.max_steps * costs["cpu_step"] + costs["overhead"] * evaluations / 2
            keys = {r.key for r in full if r.variant == variant} - seen
            seen |= keys
            total += run_cpu * len(keys)
            print(
                f"| {sweep.name} | {variant.name} | {costs['wall_step']:.2f} | {costs['cpu_step']:.2f} "
                f"| {costs['overhead']:.0f} | {costs['peak_rss_mib']:.0f} | {run_cpu / 3600:.2f} | {len(keys)} |"
            )
        grand_total += total
        print(f"| {sweep.name} | **total** | | | | | **{total / 3600:.1f}** | |")
    print(f"\nAll sweeps: {grand_total / 3600:.1f} CPU hours ({len(seen)} distinct runs).")


if __name__ == "__main__":
    main()
