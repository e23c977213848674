"""``eqv2 predict CHECKPOINT INPUT -o OUTPUT``: energies, forces and stress for every structure in a file."""

from __future__ import annotations

import argparse
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
from eqv2.jobs.run import run_job
from eqv2.jobs.tasks import PredictTask, StructureFile
from eqv2.potential import FORCE_MODES
from eqv2.simulate.prediction import ERROR_MODES

HELP = "energies, forces and stress for every structure in a file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("input", help="extxyz, .db or .aselmdb (read a structure at a time), or any file ASE reads")
    add_job_arguments(parser)
    parser.add_argument("--forces", choices=FORCE_MODES, default="direct")
    parser.add_argument("--no-stress", action="store_true", help="skip the stress of 3D-periodic cells")
    parser.add_argument(
        "--on-error", choices=ERROR_MODES, default="raise", help="flag: record an invalid structure's error and go on"
    )


@reports_errors
def run(args: argparse.Namespace) -> int:
    potential = load_potential(args)
    task = PredictTask(potential, StructureFile(args.input), args.forces, not args.no_stress, args.on_error)
    summary = run_job(task, Path(args.output), job_settings(args), job_budget(args), args.chunk_size)
    if summary.rank == 0:
        rate = summary.computed / summary.seconds
        print(
            f"wrote {summary.computed + summary.skipped} structures to {args.output} ({summary.skipped} from an "
            f"earlier run, {summary.outcomes['failed']} failed; {rate:.2f} structures/s)",
            file=sys.stderr,
        )
    return 0
