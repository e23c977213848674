"""``eqv2 adsorbml CHECKPOINT --slab SLABS --adsorbate NAMES -o OUTPUT``: AdsorbML-style search for the lowest
adsorption energy of every slab and adsorbate."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from pathlib import Path

import ase.io
import numpy as np
from ase.calculators.calculator import Calculator as AseCalculator
from ase.calculators.emt import EMT

from eqv2.commands.common import (
    add_job_arguments,
    add_model_arguments,
    job_budget,
    job_settings,
    load_potential,
    reports_errors,
)
from eqv2.jobs.run import Summary, run_job
from eqv2.jobs.tasks import AdsorbmlTask, StructureFile
from eqv2.simulate.relax import OPTIMIZERS

HELP = "AdsorbML-style search for the lowest adsorption energy of every slab and adsorbate"
REPORTED_SYSTEMS = 20  # runs with at most this many systems print one line per system


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("--slab", required=True, help="clean slabs (every frame of a file), FixAtoms set")
    parser.add_argument(
        "--adsorbate",
        default=None,
        help="comma-separated names (H, C, N, O, OH, CO, NH, CH, CH2, NO or ASE g2), each tried on every slab; "
        "omit to pair each slab with the adsorbate in its info['adsorbate']",
    )
    add_job_arguments(parser)
    parser.add_argument("--placements", type=int, default=20, help="initial placements to relax with the model")
    parser.add_argument("--top-k", type=int, default=5, help="placements passed to the reference calculator")
    parser.add_argument("--reference", default="emt", help="'emt' or module:Class of an ASE calculator")
    parser.add_argument("--mode", choices=("relax", "single-point"), default="relax", help="reference calculation")
    parser.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="fire")
    parser.add_argument("--fmax", type=float, default=0.05)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0, help="which placements, when there are more sites")


def reference_calculator(spec: str) -> Callable[[], AseCalculator]:
    """'emt' or 'package.module:ClassName' -> a factory of fresh calculators."""
    if spec == "emt":
        return EMT
    module_name, _, class_name = spec.partition(":")
    if not class_name:
        raise ValueError(f"--reference must be 'emt' or module:Class, got {spec!r}")
    return getattr(importlib.import_module(module_name), class_name)


def report(output: str, summary: Summary) -> str:
    """A line per system (for small runs), the lowest adsorption energy and the counts."""
    lines = []
    if summary.computed + summary.skipped <= REPORTED_SYSTEMS:
        records = ase.io.read(output, index=":")
        lines.append(f"{'system':>6} {'slab':>12} {'adsorbate':>9} {'site':>6} {'E_ads eV':>9} {'ref calls':>9}  note")
        for index, record in enumerate(records):
            info = record.info
            lines.append(
                f"{index:>6} {info['slab']:>12} {info['adsorbate']:>9} {info.get('site', '-'):>6} "
                f"{info['adsorption_energy']:>9.4f} {info['reference_calls']:>9}  {info.get('error', '')}"
            )
        energies = [r.info["adsorption_energy"] for r in records]
        if energies and not np.isnan(energies).all():
            best = int(np.nanargmin(energies))
            lines.append(f"lowest adsorption energy: {energies[best]:.4f} eV (system {best})")
    lines.append(
        f"{summary.computed} systems screened in {summary.seconds:.1f} s, {summary.outcomes['failed']} without a "
        f"valid placement; {summary.skipped} from an earlier run"
    )
    return "\n".join(lines)


@reports_errors
def run(args: argparse.Namespace) -> int:
    potential = load_potential(args)
    adsorbates = args.adsorbate.split(",") if args.adsorbate else None
    task = AdsorbmlTask(
        potential, StructureFile(args.slab), adsorbates, reference_calculator(args.reference), args.placements,
        args.top_k, args.mode, args.optimizer, args.fmax, args.steps, args.seed,
    )  # fmt: skip
    summary = run_job(task, Path(args.output), job_settings(args), job_budget(args), args.chunk_size)
    if summary.rank == 0:
        print(report(args.output, summary), file=sys.stderr)
    return 0
