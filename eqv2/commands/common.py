"""Options and error reporting shared by the commands that run a checkpoint (predict, relax, md, adsorbml)."""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable

import ase.io
from ase import Atoms

from eqv2.checkpoint import load
from eqv2.graph import NEIGHBOR_MODES
from eqv2.potential import DTYPES, Potential


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The checkpoint positional argument and --device/--dtype/--bf16."""
    parser.add_argument("checkpoint", help="eqv2 or fairchem-core 1.x EquiformerV2 checkpoint")
    parser.add_argument("--device", default=None, help="e.g. cpu, cuda")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default=None)
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast: faster, approximate (opt-in)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the network (the first call compiles)")
    parser.add_argument(
        "--neighbor-mode", choices=NEIGHBOR_MODES, help="ties at max_neighbors (default: the checkpoint's rule)"
    )


def load_potential(args: argparse.Namespace) -> Potential:
    potential = load(
        args.checkpoint, device=args.device, dtype=args.dtype, neighbor_mode=args.neighbor_mode, compile=args.compile
    )
    potential.bf16 = args.bf16
    return potential


def read_structures(path: str) -> list[Atoms]:
    """Every frame of a file ASE reads."""
    frames = ase.io.read(path, index=":")
    return frames if isinstance(frames, list) else [frames]


def reports_errors(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn bad input (missing file, not a checkpoint, invalid structure) into one line on stderr and exit code 2."""

    @functools.wraps(run)
    def wrapped(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except (FileNotFoundError, ValueError) as error:  # DataError is a ValueError
            print(f"eqv2 {args.command}: error: {error}", file=sys.stderr)
            return 2

    return wrapped
