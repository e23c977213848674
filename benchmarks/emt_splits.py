"""A model on the splits of the built-in EMT dataset, overall and by the kind of structure.

    python benchmarks/emt_splits.py CHECKPOINT DATA_DIR [--splits test test_ood test_size]
                                    [--by kind surface_cell layers coverage] [--json OUT]

For each split file ``DATA_DIR/<split>.extxyz``: the energy MAE per atom (meV/atom), the forces MAE
(eV/Å, over all atoms and components, as `eqv2 eval` reports it), the mean |F| of the force labels
(the norm of each atom's stored force, over all atoms, fixed ones included), their ratio, the stress
MAE of the structures with stress labels, and whether the demo's targets hold (forces MAE at most 10 %
of the mean |F|, energy at most 10 meV/atom). Then the same figures for each value of each ``--by``
key of the frames' info (files of the first generator, which had no ``kind``, count as ``slab``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import ase.io
import numpy as np
import torch

import eqv2
from eqv2.data import ReadOptions, open_dataset
from eqv2.train.metrics import Predictions, predict_dataset

FORCES_TARGET = 0.10  # forces MAE / mean |F|
ENERGY_TARGET = 0.010  # eV/atom


def subset(predictions: Predictions, chosen: np.ndarray, with_stress: np.ndarray) -> Predictions:
    """The predictions of the structures where ``chosen`` [S] is True; ``with_stress`` [S] marks the
    structures whose stress the predictions hold (in order)."""
    offsets = np.concatenate([[0], np.cumsum(predictions.num_atoms)])
    atoms = np.concatenate([np.arange(offsets[k], offsets[k + 1]) for k in np.nonzero(chosen)[0]])
    stress_rows = chosen[with_stress]  # [S'] the chosen ones among the structures with stress
    return Predictions(
        energy=predictions.energy[chosen],
        energy_true=predictions.energy_true[chosen],
        num_atoms=predictions.num_atoms[chosen],
        forces=predictions.forces[atoms],
        forces_true=predictions.forces_true[atoms],
        stress=predictions.stress[stress_rows],
        stress_true=predictions.stress_true[stress_rows],
    )


def figures(predictions: Predictions) -> dict[str, float]:
    """Energy MAE per atom, forces MAE, mean |F| of the labels, their ratio, stress MAE, targets met."""
    p = predictions
    energy = float((np.abs(p.energy - p.energy_true) / p.num_atoms).mean())
    forces = float(np.abs(p.forces - p.forces_true).mean())
    mean_force = float(np.linalg.norm(p.forces_true, axis=1).mean())
    row = {"n": len(p.energy), "energy_per_atom_mae": energy, "forces_mae": forces, "mean_force": mean_force}
    row["forces_ratio"] = forces / mean_force
    if len(p.stress):
        row["stress_mae"] = float(np.abs(p.stress - p.stress_true).mean())
    row["targets_met"] = bool(row["forces_ratio"] <= FORCES_TARGET and energy <= ENERGY_TARGET)
    return row


def format_row(name: str, row: dict[str, float]) -> str:
    stress = f" {1000 * row['stress_mae']:8.2f}" if "stress_mae" in row else " " * 9
    return (
        f"{name:<24} {row['n']:>5} {1000 * row['energy_per_atom_mae']:9.2f} {row['forces_mae']:8.4f} "
        f"{row['mean_force']:7.3f} {100 * row['forces_ratio']:6.1f}%{stress}  {'yes' if row['targets_met'] else 'no'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("data_dir")
    parser.add_argument("--splits", nargs="+", default=["test", "test_ood", "test_size"])
    parser.add_argument("--by", nargs="*", default=["kind", "surface_cell", "layers", "coverage"])
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", default=None, help="write every row to this JSON file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    potential = eqv2.load(args.checkpoint)
    forces = "direct" if potential.model.force_head is not None else "conservative"
    print(f"{args.checkpoint} on {args.data_dir}")
    columns = ("n", "meV/atom", "F MAE", "mean|F|", "ratio", "meV/Å^3")
    print(f"{'split / group':<24} " + " ".join(f"{c:>{w}}" for c, w in zip(columns, (5, 9, 8, 7, 7, 8))) + "  targets")
    table = {}
    for split in args.splits:
        path = Path(args.data_dir) / f"{split}.extxyz"
        if not path.exists():
            continue
        dataset = open_dataset(path, ReadOptions(required_labels=("energy", "forces")))
        predictions = predict_dataset(potential, dataset, list(range(len(dataset))), args.batch_size, forces)
        table[split] = figures(predictions)
        print(format_row(split, table[split]))
        infos = [atoms.info for atoms in ase.io.read(path, index=":")]
        with_stress = np.array(
            [dataset[k].stress is not None and dataset[k].stress_is_defined for k in range(len(dataset))]
        )
        for key in args.by:
            values = np.array([str(info.get(key, "slab" if key == "kind" else "-")) for info in infos])
            if len(set(values)) < 2:
                continue
            for value in sorted(set(values)):
                table[f"{split} {key}={value}"] = figures(subset(predictions, values == value, with_stress))
                print(format_row(f"  {key}={value}", table[f"{split} {key}={value}"]))
    if args.json:
        Path(args.json).write_text(json.dumps(table, indent=2) + "\n")


if __name__ == "__main__":
    main()
