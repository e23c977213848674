"""Options shared by the commands that run a checkpoint (predict, relax, md, adsorbml, eval), and the one-line
error reporting of every command (`reports_errors`)."""

from __future__ import annotations

import argparse
import functools
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import ase.io
from ase import Atoms

from eqv2.graph.neighbors import NEIGHBOR_MODES
from eqv2.integrations.loading import ready_potential
from eqv2.potential import Potential
from eqv2.runtime import DTYPES, launched_by_torchrun, rank_device
from eqv2.simulate.packing import Budget

BATCHING_OPTIONS = ("batch_size", "max_atoms", "max_edges", "chunk_size")  # kept in a run's plan, not its settings


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
    """The checkpoint set up as the options of `add_model_arguments` say, on ``--device`` (under torchrun,
    ``cuda`` is the rank's own GPU)."""
    return ready_potential(
        args.checkpoint,
        device=rank_device(args.device),
        dtype=args.dtype,
        neighbor_mode=args.neighbor_mode,
        bf16=args.bf16,
        compile=args.compile,
    )


def add_job_arguments(parser: argparse.ArgumentParser) -> None:
    """The output and batching options of the commands that run a job over a file (predict, relax, adsorbml)."""
    parser.add_argument("-o", "--output", required=True, help="extxyz file of the results, in input order")
    parser.add_argument("--max-atoms", type=int, default=None, help="most atoms per model call")
    parser.add_argument(
        "--max-edges", type=int, default=None, help="most graph edges per model call (default: from free memory)"
    )
    parser.add_argument("--batch-size", type=int, default=None, help="most structures per model call")
    parser.add_argument(
        "--chunk-size",
        type=int,
        default=None,
        help="inputs batched together (default: those of 1 batch for predict, of 8 for relax and adsorbml)",
    )


def job_budget(args: argparse.Namespace) -> Budget | None:
    """The budget the options give; None when none is given (the default from free memory)."""
    limits = (args.batch_size, args.max_atoms, args.max_edges)
    return None if limits == (None, None, None) else Budget(*limits)


def job_settings(args: argparse.Namespace) -> dict:
    """The options a resumed run must repeat: all but the output and batching options, paths made absolute."""
    settings = {key: value for key, value in vars(args).items() if key not in (*BATCHING_OPTIONS, "output")}
    for key in ("checkpoint", "input", "slab"):
        if settings.get(key) is not None:
            settings[key] = str(Path(settings[key]).resolve())
    return settings


def read_structures(path: str) -> list[Atoms]:
    """Every frame of a file ASE reads."""
    frames = ase.io.read(path, index=":")
    return frames if isinstance(frames, list) else [frames]


def reports_errors(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """The one way every command reports bad input (a missing file, an output that holds something else, not a
    checkpoint, a config error, an invalid structure): one line on stderr and exit code 2 (on each torchrun rank
    that meets it)."""

    @functools.wraps(run)
    def wrapped(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except (FileNotFoundError, FileExistsError, ValueError) as error:  # DataError, ConfigError are ValueErrors
            print(f"eqv2 {args.command}: error: {error}", file=sys.stderr)
            if launched_by_torchrun():
                # torchrun stops the other ranks (SIGTERM) once one has exited: this one is exiting with code 2
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
            return 2

    return wrapped
