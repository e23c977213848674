"""Training losses as (sum, count) pairs, so that a mean over a batch split across ranks or micro-batches
equals the mean over the whole batch: the trainer divides each sum by the count summed over all ranks.

Errors are divided by the potential's scales (energy std, force std) so that the loss is in the
network's normalized units while predictions and labels stay in eV and eV/Å.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from eqv2.batch import Batch
from eqv2.train.config import LossConfig


@dataclass
class LossTerm:
    """One loss term: ``coefficient * total / count`` once ``count`` is summed over ranks."""

    total: Tensor  # scalar, sum of errors in this batch
    count: Tensor  # scalar, number of errors summed (float)
    coefficient: float


def energy_term(predicted: Tensor, batch: Batch, per_atom: bool, scale: float, coefficient: float) -> LossTerm:
    """Sum of |E_pred - E| / scale over the G structures ([G] eV), divided by N_atoms if ``per_atom``."""
    error = (predicted - batch.energy).abs() / scale  # [G]
    if per_atom:
        error = error / batch.num_atoms.to(error.dtype)
    return LossTerm(error.sum(), torch.tensor(float(error.numel())), coefficient)


def forces_term(
    predicted: Tensor, batch: Batch, kind: str, free_only: bool, scale: float, coefficient: float
) -> LossTerm:
    """ "l2mae": sum over atoms of |F_pred - F| / scale; "mae": sum over components. [N, 3] eV/Å."""
    difference = (predicted - batch.forces) / scale  # [N, 3]
    if free_only:
        difference = difference[~batch.fixed]
    error = difference.norm(dim=-1) if kind == "l2mae" else difference.abs()
    return LossTerm(error.sum(), torch.tensor(float(error.numel())), coefficient)


def stress_term(predicted: Tensor, batch: Batch, scale: float, coefficient: float) -> LossTerm:
    """Sum over the structures with a stress label and the 9 components of |sigma_pred - sigma| / scale
    ([G, 3, 3] eV/Å^3); a batch without stress labels adds nothing (count 0)."""
    labelled = batch.stress_labelled  # [G]
    if not labelled.any():
        return LossTerm(torch.zeros((), dtype=predicted.dtype, device=predicted.device), torch.tensor(0.0), coefficient)
    error = (predicted[labelled] - batch.stress[labelled]).abs() / scale
    return LossTerm(error.sum(), torch.tensor(float(error.numel())), coefficient)


def loss_terms(
    predictions: dict[str, Tensor], batch: Batch, config: LossConfig, energy_scale: float, forces_scale: float
) -> dict[str, LossTerm]:
    """The configured terms for one batch, from physical predictions (keys "energy", "forces", "stress")."""
    terms = {
        "energy": energy_term(
            predictions["energy"], batch, config.energy == "per_atom_mae", energy_scale, config.energy_coefficient
        )
    }
    if config.forces_coefficient > 0:
        terms["forces"] = forces_term(
            predictions["forces"],
            batch,
            config.forces,
            config.train_on_free_atoms,
            forces_scale,
            config.forces_coefficient,
        )
    if config.stress_coefficient > 0:
        terms["stress"] = stress_term(predictions["stress"], batch, forces_scale, config.stress_coefficient)
    return terms
