"""``eqv2 md CHECKPOINT INPUT --ensemble nve|nvt -o TRAJ``: molecular dynamics through ASE's integrators."""

from __future__ import annotations

import argparse
import json
import sys

from eqv2.commands.common import add_model_arguments, load_potential, read_structures, reports_errors
from eqv2.potential import FORCE_MODES
from eqv2.simulate.md import ENSEMBLES, run_md

HELP = "molecular dynamics (NVE or Langevin NVT) through ASE's integrators"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("input", help="starting structure (the last frame of any file ASE reads)")
    parser.add_argument("-o", "--output", required=True, help="ASE trajectory (.traj) to write")
    parser.add_argument("--ensemble", choices=ENSEMBLES, default="nve")
    parser.add_argument("--temperature", type=float, default=300.0, help="K: initial velocities; NVT target")
    parser.add_argument("--timestep", type=float, default=1.0, help="fs")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--friction", type=float, default=0.01, help="Langevin friction, 1/fs (nvt)")
    parser.add_argument("--interval", type=int, default=10, help="record and write every this many steps")
    parser.add_argument("--forces", choices=FORCE_MODES, default="conservative")
    parser.add_argument("--seed", type=int, default=0)


@reports_errors
def run(args: argparse.Namespace) -> int:
    potential = load_potential(args)
    atoms = read_structures(args.input)[-1]
    result = run_md(
        potential,
        atoms,
        ensemble=args.ensemble,
        temperature_k=args.temperature,
        timestep_fs=args.timestep,
        steps=args.steps,
        forces=args.forces,
        friction_per_fs=args.friction,
        interval=args.interval,
        trajectory=args.output,
        seed=args.seed,
    )
    record = {
        "ensemble": args.ensemble,
        "atoms": len(atoms),
        "steps": args.steps,
        "timestep_fs": args.timestep,
        "forces": args.forces,
        "mean_temperature_k": float(result.temperatures.mean()),
    }
    if args.ensemble == "nve":
        record["drift_ev_per_atom_per_ps"] = result.drift_per_atom_per_ps
        record["max_deviation_ev_per_atom"] = result.max_deviation_per_atom
    with open(f"{args.output}.json", "w") as file:
        json.dump(record, file, indent=2)
    message = f"{args.steps} steps of {args.ensemble.upper()}: mean T {record['mean_temperature_k']:.1f} K"
    if args.ensemble == "nve":
        message += f", total-energy drift {record['drift_ev_per_atom_per_ps']:.2e} eV/atom/ps"
    print(f"{message} (summary in {args.output}.json)", file=sys.stderr)
    return 0
