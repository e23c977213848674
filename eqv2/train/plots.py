"""PNG plots of a run: learning curves from metrics.csv, parity plots of validation predictions."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from eqv2.train.metrics import Predictions


def headless_pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def learning_curves(metrics_csv: Path, out: Path) -> None:
    """Train loss and validation energy/force MAE against the optimizer step (log scale)."""
    plt = headless_pyplot()
    with open(metrics_csv) as handle:
        rows = list(csv.DictReader(handle))
    steps = [int(row["step"]) for row in rows]
    figure, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    panels = (
        ("train_loss", "train loss"),
        ("val_energy_per_atom_mae", "val energy MAE (eV/atom)"),
        ("val_forces_mae", "val forces MAE (eV/Å)"),
    )
    for axis, (key, label) in zip(axes, panels):
        axis.plot(steps, [float(row[key]) for row in rows], marker="o", markersize=3)
        axis.set_xlabel("step")
        axis.set_ylabel(label)
        axis.set_yscale("log")
        axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(out, dpi=120)
    plt.close(figure)


def parity(predictions: Predictions, out: Path, title: str) -> None:
    """Predicted against true energy per atom and force components."""
    plt = headless_pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(9, 4.2))
    pairs = (
        (
            predictions.energy_true / predictions.num_atoms,
            predictions.energy / predictions.num_atoms,
            "energy (eV/atom)",
        ),
        (predictions.forces_true.ravel(), predictions.forces.ravel(), "force components (eV/Å)"),
    )
    for axis, (true, predicted, label) in zip(axes, pairs):
        low, high = float(np.min([true.min(), predicted.min()])), float(np.max([true.max(), predicted.max()]))
        axis.plot([low, high], [low, high], color="grey", linewidth=0.8)
        axis.scatter(true, predicted, s=3, alpha=0.4)
        axis.set_xlabel(f"true {label}")
        axis.set_ylabel(f"predicted {label}")
        axis.set_aspect("equal")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(out, dpi=120)
    plt.close(figure)
