"""``eqv2 adsorbml CHECKPOINT --slab SLAB --adsorbate NAME``: AdsorbML-style search for the lowest adsorption energy."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable

import ase.io
from ase.calculators.calculator import Calculator as AseCalculator
from ase.calculators.emt import EMT

from eqv2.commands.common import add_model_arguments, load_potential, read_structures, reports_errors
from eqv2.simulate.adsorbml import Screening, screen
from eqv2.simulate.relax import OPTIMIZERS

HELP = "AdsorbML-style search for the lowest adsorption energy on a slab"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("--slab", required=True, help="clean slab (any file ASE reads; last frame), FixAtoms set")
    parser.add_argument("--adsorbate", required=True, help="H, C, N, O, OH, CO, NH, CH, CH2, NO or an ASE g2 name")
    parser.add_argument("--placements", type=int, default=20, help="initial placements to relax with the model")
    parser.add_argument("--top-k", type=int, default=5, help="placements passed to the reference calculator")
    parser.add_argument("--reference", default="emt", help="'emt' or module:Class of an ASE calculator")
    parser.add_argument("--mode", choices=("relax", "single-point"), default="relax", help="reference calculation")
    parser.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="fire")
    parser.add_argument("--fmax", type=float, default=0.05)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0, help="which placements, when there are more sites")
    parser.add_argument("-o", "--output", default=None, help="extxyz of the top-k reference results, best first")


def reference_calculator(spec: str) -> Callable[[], AseCalculator]:
    """'emt' or 'package.module:ClassName' -> a factory of fresh calculators."""
    if spec == "emt":
        return EMT
    module_name, _, class_name = spec.partition(":")
    if not class_name:
        raise ValueError(f"--reference must be 'emt' or module:Class, got {spec!r}")
    return getattr(importlib.import_module(module_name), class_name)


def report(screening: Screening) -> str:
    lines = [f"{'placement':>9} {'site':>6} {'model eV':>10} {'reference eV':>12} {'ref calls':>9}  note"]
    for index in screening.reference:
        model, reference = screening.model[index], screening.reference[index]
        note = screening.reference_anomalies[index] or ("" if reference.converged else "not converged")
        site = screening.placements[index].info["site"]
        lines.append(
            f"{index:>9} {site:>6} {model.energy:>10.4f} {reference.energy:>12.4f} {reference.calls:>9}  {note}"
        )
    excluded = sum(a is not None for a in screening.model_anomalies)
    lines.append(f"{len(screening.placements)} placements relaxed with the model, {excluded} anomalous or failed")
    lines.append(
        f"lowest adsorption energy: {screening.adsorption_energy:.4f} eV (placement {screening.best}), "
        f"{screening.reference_calls} reference calls"
    )
    return "\n".join(lines)


@reports_errors
def run(args: argparse.Namespace) -> int:
    potential = load_potential(args)
    slab = read_structures(args.slab)[-1]
    screening = screen(
        potential,
        slab,
        args.adsorbate,
        num_placements=args.placements,
        top_k=args.top_k,
        calculator=reference_calculator(args.reference),
        mode=args.mode,
        optimizer=args.optimizer,
        fmax=args.fmax,
        steps=args.steps,
        seed=args.seed,
        progress=True,
    )
    print(report(screening), file=sys.stderr)
    if args.output:
        order = sorted(screening.reference, key=lambda i: screening.reference[i].energy)
        ase.io.write(args.output, [screening.reference[i].atoms for i in order], format="extxyz")
    return 0
