"""``eqv2 relax CHECKPOINT INPUT -o OUTPUT``: relax every structure in a file together, one model call per step."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import ase.io

from eqv2.commands.common import add_model_arguments, load_potential, read_structures, reports_errors
from eqv2.potential import FORCE_MODES
from eqv2.simulate.relax import MAX_FORCE, OPTIMIZERS, RelaxResult, relax

HELP = "relax every structure in a file together (FIRE or L-BFGS, optional cell)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("input", help="any file ASE reads (all frames are relaxed)")
    parser.add_argument("-o", "--output", required=True, help="extxyz file for the final structures")
    parser.add_argument("--fmax", type=float, default=0.05, help="convergence: max force on a free atom, eV/Å")
    parser.add_argument("--steps", type=int, default=300, help="most optimizer steps per structure")
    parser.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="fire")
    parser.add_argument("--relax-cell", action="store_true", help="also relax the cell of 3D-periodic structures")
    parser.add_argument("--forces", choices=FORCE_MODES, default="direct")
    parser.add_argument("--batch-size", type=int, default=None, help="most structures per model call (default: all)")
    parser.add_argument("--max-force", type=float, default=MAX_FORCE, help="eV/Å above which a structure has blown up")
    parser.add_argument("--trajectory-dir", default=None, help="write each structure's frames to DIR/<index>.extxyz")


def summary(results: list[RelaxResult], seconds: float) -> str:
    converged = sum(r.converged for r in results)
    failed = [r for r in results if r.error]
    lines = [
        f"{len(results)} structures in {seconds:.1f} s: {converged} converged, "
        f"{len(results) - converged - len(failed)} not converged, {len(failed)} failed"
    ]
    lines += [f"  failed: {r.error}" for r in failed]
    return "\n".join(lines)


def write_trajectories(results: list[RelaxResult], directory: str) -> None:
    Path(directory).mkdir(parents=True, exist_ok=True)
    for index, result in enumerate(results):
        ase.io.write(Path(directory) / f"{index:04d}.extxyz", result.trajectory, format="extxyz")


@reports_errors
def run(args: argparse.Namespace) -> int:
    potential = load_potential(args)
    structures = read_structures(args.input)
    start = time.perf_counter()
    results = relax(
        potential,
        structures,
        fmax=args.fmax,
        steps=args.steps,
        optimizer=args.optimizer,
        relax_cell=args.relax_cell,
        forces=args.forces,
        batch_size=args.batch_size,
        max_force=args.max_force,
        trajectory=args.trajectory_dir is not None,
        progress=True,
    )
    seconds = time.perf_counter() - start
    ase.io.write(args.output, [r.atoms for r in results], format="extxyz")
    if args.trajectory_dir:
        write_trajectories(results, args.trajectory_dir)
    print(summary(results, seconds), file=sys.stderr)
    return 0
