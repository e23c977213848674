"""``eqv2 relax CHECKPOINT INPUT -o OUTPUT``: relax every structure in a file, many at a time."""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

from eqv2.commands.common import (
    add_job_arguments,
    add_model_arguments,
    job_budget,
    job_settings,
    load_potential,
    reports_errors,
)
from eqv2.jobs.run import Summary, run_job
from eqv2.jobs.tasks import RelaxTask, StructureFile
from eqv2.potential import FORCE_MODES
from eqv2.simulate.relax import MAX_FORCE, OPTIMIZERS, BatchRelaxation

HELP = "relax every structure in a file, many at a time (FIRE or L-BFGS, optional cell)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("input", help="extxyz, .db or .aselmdb (read a structure at a time), or any file ASE reads")
    add_job_arguments(parser)
    parser.add_argument("--fmax", type=float, default=0.05, help="convergence: max force on a free atom, eV/Å")
    parser.add_argument("--steps", type=int, default=300, help="most optimizer steps per structure")
    parser.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="fire")
    parser.add_argument("--relax-cell", action="store_true", help="also relax the cell of 3D-periodic structures")
    parser.add_argument("--forces", choices=FORCE_MODES, default="direct")
    parser.add_argument("--max-force", type=float, default=MAX_FORCE, help="eV/Å above which a structure has blown up")
    parser.add_argument("--trajectory-dir", default=None, help="write each structure's frames to DIR/<index>.extxyz")


def summary_line(summary: Summary) -> str:
    outcomes = summary.outcomes
    return (
        f"{summary.computed} structures in {summary.seconds:.1f} s: {outcomes['converged']} converged, "
        f"{outcomes['not converged']} not converged, {outcomes['failed']} failed (info['error'] in the output); "
        f"{summary.skipped} from an earlier run"
    )


@reports_errors
def run(args: argparse.Namespace) -> int:
    potential = load_potential(args)
    relaxation = functools.partial(
        BatchRelaxation, potential, args.fmax, args.steps, args.optimizer, args.relax_cell, args.forces,
        args.max_force, trajectory=args.trajectory_dir is not None,
    )  # fmt: skip
    trajectory_dir = Path(args.trajectory_dir) if args.trajectory_dir else None
    task = RelaxTask(potential, StructureFile(args.input), relaxation, trajectory_dir)
    summary = run_job(task, Path(args.output), job_settings(args), job_budget(args), args.chunk_size)
    if summary.rank == 0:
        print(summary_line(summary), file=sys.stderr)
    return 0
