"""``eqv2 data <subcommand>``: dataset tools. ``emt`` writes the built-in EMT dataset, ``emt-eos`` its
equation-of-state frames (bulk crystals across a range of volumes)."""

from __future__ import annotations

import argparse

from eqv2.commands.common import reports_errors

HELP = "dataset tools: generate the built-in EMT dataset (eqv2 data emt, eqv2 data emt-eos)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    subcommands = parser.add_subparsers(dest="data_command", required=True)
    emt = subcommands.add_parser(
        "emt",
        help="generate the built-in OC20-like dataset (EMT: adsorbates on fcc slabs, bulk metals, molecules)",
        description="Write train/val/test/test_ood/test_size.extxyz labelled with ASE's EMT; reuses matching output.",
    )
    emt.add_argument("--out", required=True, help="output directory")
    emt.add_argument("--n", type=int, default=1000, help="number of structures over all splits (default 1000)")
    emt.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    emt.add_argument("--overwrite", action="store_true", help="replace a different dataset already in --out")
    eos = subcommands.add_parser(
        "emt-eos",
        help="generate equation-of-state frames: bulk metals across a range of volumes (EMT)",
        description="Write train.extxyz: perfect and rattled fcc/bcc crystals of every metal of the built-in "
        "dataset at 0.92-1.08 times the equilibrium lattice constant; reuses matching output.",
    )
    eos.add_argument("--out", required=True, help="output directory")
    eos.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    eos.add_argument("--overwrite", action="store_true", help="replace different data already in --out")


@reports_errors
def run(args: argparse.Namespace) -> int:
    from eqv2.data.emt import generate
    from eqv2.data.emt_eos import generate_eos

    if args.data_command == "emt-eos":
        print(f"train: {generate_eos(args.out, seed=args.seed, overwrite=args.overwrite)}")
        return 0
    if args.n < 1:
        raise ValueError(f"--n must be at least 1, got {args.n}")
    paths = generate(args.out, n=args.n, seed=args.seed, overwrite=args.overwrite)
    for split, path in paths.items():
        print(f"{split}: {path}")
    return 0
