"""Seconds per training step of a training config under float32 or bf16 autocast, 1 or 2 threads, 1 or 2 processes.

Usage: ``python benchmarks/training_step_cost.py [--config configs/demo.yaml] [--lmax 2 4] [--steps 30]
[--cases fp32-1t bf16-1t fp32-2t bf16-2t fp32-ddp2 bf16-ddp2] [--set key.sub=value ...]``

Every case is the config's model at each ``--lmax`` (S2 grid 2 lmax + 6, the demo's rule) trained by the
real `Trainer` (collate, forward, loss, backward, clipping, AdamW, EMA) with a global batch of
``optim.batch_size`` structures (configs/demo.yaml's 4 is per process: ``--set optim.batch_size=8`` gives
the demo's global batch): in one process (``-1t``: one thread, ``-2t``: two threads) or in
two DDP processes of one thread and half the batch each (``-ddp2``). After 3 warm-up steps, ``--steps``
steps are timed: the median wall seconds per step, the process CPU seconds per step (rank 0) and the peak
RSS (rank 0). Each case runs in its own process(es); validation and checkpoints are not part of it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

WARMUP_STEPS = 3
CASES = ("fp32-1t", "bf16-1t", "fp32-2t", "bf16-2t", "fp32-ddp2", "bf16-ddp2")


def one(config_path: str, lmax: int, case: str, steps: int, overrides: list[str]) -> dict | None:
    """Measure one case in this process (one rank of it under torchrun); rank 0 returns the row."""
    import torch

    from eqv2 import runtime
    from eqv2.train.config import load_config
    from eqv2.train.trainer import Trainer

    precision, layout = case.split("-")
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    torch.set_num_threads(2 if layout == "2t" else 1)
    model = [f"model.lmax_list=[{lmax}]", f"model.grid_resolution={2 * lmax + 6}"]
    config = load_config(config_path, [*overrides, *model, "tensorboard=false", "plots=false"])
    global_batch = config.optim.batch_size
    optim = dataclasses.replace(config.optim, batch_size=global_batch // world_size)
    config = dataclasses.replace(config, optim=optim, bf16=precision == "bf16")
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(config, run_dir)
        stream = trainer.sampler.stream(trainer.state.position)
        window = dict.fromkeys(("steps", "loss", "energy_error", "forces_error", "structures", "components"), 0.0)
        wall, cpu = [], []
        for step in range(WARMUP_STEPS + steps):
            runtime.barrier()
            start_wall, start_cpu = time.perf_counter(), time.process_time()
            trainer.train_step(stream, window)
            runtime.barrier()
            if step >= WARMUP_STEPS:
                wall.append(time.perf_counter() - start_wall)
                cpu.append(time.process_time() - start_cpu)
        rank = trainer.rank
        del trainer
        runtime.teardown()
    if rank != 0:
        return None
    return {
        "lmax": lmax,
        "case": case,
        "global_batch": global_batch,
        "wall_s_per_step": statistics.median(wall),
        "cpu_s_per_step": statistics.median(cpu),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "load_average": os.getloadavg()[0],
    }


def launch(args: argparse.Namespace, lmax: int, case: str) -> dict:
    """Run one case in fresh process(es) and return rank 0's row."""
    inner = [
        __file__,
        "--one",
        "--config",
        args.config,
        "--lmax",
        str(lmax),
        "--cases",
        case,
        "--steps",
        str(args.steps),
    ]
    if case.endswith("ddp2"):
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *inner]
    else:
        command = [sys.executable, *inner]
    environment = {**os.environ, "OMP_NUM_THREADS": "2" if case.endswith("2t") else "1"}
    settings = [f"--set={override}" for override in args.overrides]
    result = subprocess.run([*command, *settings], check=True, capture_output=True, text=True, env=environment)
    return json.loads([line for line in result.stdout.splitlines() if line.startswith("{")][-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/demo.yaml")
    parser.add_argument("--lmax", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    parser.add_argument(
        "--set", action="append", default=[], dest="overrides", metavar="KEY=VALUE", help="a config override"
    )
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        row = one(args.config, args.lmax[0], args.cases[0], args.steps, args.overrides)
        if row is not None:
            print(json.dumps(row), flush=True)
        return
    print(
        "| lmax | case | global batch | wall s per step | CPU s per step (rank 0) | peak RSS MiB (rank 0) | load avg |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |", flush=True)
    for lmax in args.lmax:
        for case in args.cases:
            row = launch(args, lmax, case)
            print(
                f"| {row['lmax']} | {row['case']} | {row['global_batch']} | {row['wall_s_per_step']:.3f} "
                f"| {row['cpu_s_per_step']:.3f} | {row['peak_rss_mib']:.0f} | {row['load_average']:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
