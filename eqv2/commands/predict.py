"""``eqv2 predict CHECKPOINT INPUT -o OUTPUT``: energies, forces and stress for every structure in a file."""

from __future__ import annotations

import argparse
import sys

import ase.io
import torch

from eqv2.checkpoint import load
from eqv2.predict import attach_results, timed_predict

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="eqv2 or fairchem-core 1.x EquiformerV2 checkpoint")
    parser.add_argument("input", help="any file ASE reads (all frames are used)")
    parser.add_argument("-o", "--output", required=True, help="extxyz file to write")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--forces", choices=("direct", "conservative"), default="direct")
    parser.add_argument("--no-stress", action="store_true", help="skip the stress of 3D-periodic cells")
    parser.add_argument("--device", default=None, help="e.g. cpu, cuda")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default=None)


def run(args: argparse.Namespace) -> int:
    potential = load(args.checkpoint, device=args.device, dtype=DTYPES.get(args.dtype))
    atoms_list = ase.io.read(args.input, index=":")
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
