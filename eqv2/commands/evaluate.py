"""``eqv2 eval CHECKPOINT DATA [--json OUT] [--forces direct|conservative]``: S2EF metrics on a labelled file."""

from __future__ import annotations

import argparse
import json
import sys

from eqv2.commands.common import add_model_arguments, load_potential, reports_errors
from eqv2.potential import FORCE_MODES

HELP = "energy and force metrics of a checkpoint on labelled structures"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("data", nargs="+", help="labelled structure files (extxyz, .db, .aselmdb, ...)")
    parser.add_argument("--json", default=None, help="write the metrics to this JSON file")
    parser.add_argument("--parity", default=None, help="write a parity plot (PNG) of energies and forces")
    parser.add_argument(
        "--forces",
        choices=FORCE_MODES,
        default=None,
        help="default: direct when the model has a force head, else conservative",
    )
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--energy-key", default="energy")
    parser.add_argument("--forces-key", default="forces")


@reports_errors
def run(args: argparse.Namespace) -> int:
    from eqv2.data import ReadOptions, open_dataset
    from eqv2.train.metrics import compute_metrics, predict_dataset

    potential = load_potential(args)
    forces = args.forces or ("direct" if potential.model.force_head is not None else "conservative")
    options = ReadOptions(args.energy_key, args.forces_key, required_labels=("energy", "forces"))
    dataset = open_dataset(args.data, options)
    predictions = predict_dataset(potential, dataset, list(range(len(dataset))), args.batch_size, forces, progress=True)
    metrics = compute_metrics(predictions)
    print(format_table(metrics, " ".join(args.data)))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(metrics, handle, indent=2)
        print(f"wrote {args.json}", file=sys.stderr)
    if args.parity:
        from eqv2.train.plots import parity

        parity(predictions, args.parity, f"{' '.join(args.data)}: {args.checkpoint}")
    return 0


UNITS = {
    "energy_mae": "eV",
    "energy_per_atom_mae": "eV/atom",
    "forces_mae": "eV/Å",
    "forces_cos": "",
    "efwt": "fraction",
    "stress_mae": "eV/Å^3",
    "n": "structures",
}


def format_table(metrics: dict[str, float], title: str) -> str:
    lines = [title]
    for key, value in metrics.items():
        text = str(value) if key == "n" else f"{value:.6g}"
        lines.append(f"  {key:<20} {text:>12}  {UNITS.get(key, '')}")
    return "\n".join(lines)
