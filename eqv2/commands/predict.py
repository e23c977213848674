"""``eqv2 predict CHECKPOINT INPUT -o OUTPUT``: energies, forces and stress for every structure in a file."""

from __future__ import annotations

import argparse
import sys

import ase.io

from eqv2.commands.common import add_model_arguments, load_potential, read_structures, reports_errors
from eqv2.potential import FORCE_MODES
from eqv2.prediction import attach_results, timed_predict

HELP = "energies, forces and stress for every structure in a file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("input", help="any file ASE reads (all frames are used)")
    parser.add_argument("-o", "--output", required=True, help="extxyz file to write")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--forces", choices=FORCE_MODES, default="direct")
    parser.add_argument("--no-stress", action="store_true", help="skip the stress of 3D-periodic cells")


@reports_errors
def run(args: argparse.Namespace) -> int:
    potential = load_potential(args)
    atoms_list = read_structures(args.input)
    results, seconds = timed_predict(
        potential,
        atoms_list,
        batch_size=args.batch_size,
        forces=args.forces,
        stress=not args.no_stress,
        progress=True,
    )
    ase.io.write(args.output, [attach_results(a, r) for a, r in zip(atoms_list, results)], format="extxyz")
    rate = len(atoms_list) / seconds
    print(f"wrote {len(atoms_list)} structures to {args.output} ({rate:.2f} structures/s)", file=sys.stderr)
    return 0
