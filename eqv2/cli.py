"""Command line: ``eqv2 <command> ...``. Each command is a module of `eqv2.commands` with a one-line
``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``.

The ``eqv2`` command owns its process, so it applies eqv2's malloc settings
(`eqv2.cpu_memory.keep_freed_memory`; ``EQV2_DEFAULT_MALLOC=1`` opts out).
"""

from __future__ import annotations

import argparse
import sys
from types import ModuleType

from eqv2.commands import adsorbml, convert, data, evaluate, experiment, md, predict, relax, train
from eqv2.cpu_memory import keep_freed_memory

COMMANDS: dict[str, ModuleType] = {
    "predict": predict,
    "relax": relax,
    "md": md,
    "adsorbml": adsorbml,
    "data": data,
    "train": train,
    "experiment": experiment,
    "eval": evaluate,
    "convert": convert,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="eqv2", description="EquiformerV2 for atomistic systems")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name, module in COMMANDS.items():
        module.add_arguments(subparsers.add_parser(name, help=module.HELP, description=module.HELP))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    keep_freed_memory()
    return int(COMMANDS[args.command].run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
