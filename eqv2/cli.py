"""Command line: ``eqv2 <command> ...``. Each command lives in its own module that provides
``add_arguments(parser)`` and ``run(args) -> int``."""

from __future__ import annotations

import argparse
import importlib
import sys

# command name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "predict": ("eqv2.commands.predict", "energies, forces and stress for every structure in a file"),
    "relax": ("eqv2.commands.relax", "relax every structure in a file together (FIRE or L-BFGS, optional cell)"),
    "md": ("eqv2.commands.md", "molecular dynamics (NVE or Langevin NVT) through ASE's integrators"),
    "adsorbml": ("eqv2.commands.adsorbml", "AdsorbML-style search for the lowest adsorption energy on a slab"),
    "data": ("eqv2.data.cli", "dataset tools: generate the built-in EMT dataset (eqv2 data emt)"),
    "train": ("eqv2.commands.train", "train or fine-tune a potential from a YAML config (DDP under torchrun)"),
    "experiment": (
        "eqv2.commands.experiment",
        "a sweep of training runs (variants x seeds) with a Markdown report and plots",
    ),
    "eval": ("eqv2.commands.eval", "energy and force metrics of a checkpoint on labelled structures"),
    "convert": (
        "eqv2.commands.convert",
        "rewrite a fairchem-core 1.x checkpoint (old or hydra format) in eqv2's format",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="eqv2", description="EquiformerV2 for atomistic systems")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        module.add_arguments(subparsers.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    module = importlib.import_module(COMMANDS[args.command][0])
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
