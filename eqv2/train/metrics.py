"""Evaluation: predictions over a dataset and the S2EF metrics of the paper.

energy_mae            mean |E_pred - E| over structures (eV)
energy_per_atom_mae   mean |E_pred - E| / N_atoms (eV/atom)
forces_mae            mean |F_pred - F| over atoms and components (eV/Å)
forces_cos            mean cosine similarity of predicted and true force vectors over atoms
efwt                  fraction of structures with |E_pred - E| < 0.02 eV and max |F_pred - F| over
                      atoms and components < 0.03 eV/Å (energy and forces within threshold)
stress_mae            mean |sigma_pred - sigma| over the 9 components (eV/Å^3), structures with labels
n                     number of structures
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from eqv2.batch import batches
from eqv2.potential import Potential

EFWT_ENERGY = 0.02  # eV
EFWT_FORCES = 0.03  # eV/Å


@dataclass
class Predictions:
    """Predicted and true labels of S structures with N atoms in all (numpy, float64)."""

    energy: np.ndarray  # [S] predicted, eV
    energy_true: np.ndarray  # [S]
    num_atoms: np.ndarray  # [S]
    forces: np.ndarray  # [N, 3] predicted, eV/Å
    forces_true: np.ndarray  # [N, 3]
    stress: np.ndarray = field(default_factory=lambda: np.zeros((0, 3, 3)))  # [S', 3, 3] predicted
    stress_true: np.ndarray = field(default_factory=lambda: np.zeros((0, 3, 3)))

    @classmethod
    def empty(cls) -> Predictions:
        return cls(np.zeros(0), np.zeros(0), np.zeros(0, np.int64), np.zeros((0, 3)), np.zeros((0, 3)))

    @classmethod
    def concatenate(cls, parts: list[Predictions]) -> Predictions:
        parts = [part for part in parts if len(part.energy)] or [cls.empty()]
        return cls(**{name: np.concatenate([getattr(p, name) for p in parts]) for name in cls.__dataclass_fields__})


def compute_metrics(predictions: Predictions) -> dict[str, float]:
    """The metrics in this module's docstring."""
    p = predictions
    energy_error = np.abs(p.energy - p.energy_true)  # [S]
    force_difference = p.forces - p.forces_true  # [N, 3]
    norms = np.linalg.norm(p.forces, axis=1) * np.linalg.norm(p.forces_true, axis=1)
    cosine = (p.forces * p.forces_true).sum(axis=1) / np.maximum(norms, 1e-8)
    atom_offsets = np.concatenate([[0], np.cumsum(p.num_atoms)])
    max_force_error = np.array(
        [np.abs(force_difference[a:b]).max() for a, b in zip(atom_offsets[:-1], atom_offsets[1:])]
    )
    metrics = {
        "energy_mae": float(energy_error.mean()),
        "energy_per_atom_mae": float((energy_error / p.num_atoms).mean()),
        "forces_mae": float(np.abs(force_difference).mean()),
        "forces_cos": float(cosine.mean()),
        "efwt": float(((energy_error < EFWT_ENERGY) & (max_force_error < EFWT_FORCES)).mean()),
        "n": len(p.energy),
    }
    if len(p.stress):
        metrics["stress_mae"] = float(np.abs(p.stress - p.stress_true).mean())
    return metrics


def predict_dataset(
    potential: Potential,
    dataset: Dataset,
    indices: list[int],
    batch_size: int,
    forces: str = "direct",
    progress: bool = False,
) -> Predictions:
    """Predictions for ``dataset[i]`` for i in ``indices``; stress where labels exist on 3D-periodic cells."""
    parts = []
    with tqdm(total=len(indices), desc="eval", unit="structure", disable=not progress) as bar:
        for group in batches(indices, batch_size):
            structures = [dataset[i] for i in group]
            with_stress = np.array([s.stress is not None and s.stress_is_defined for s in structures])  # [B]
            batch = potential.collate(structures)
            results = potential(batch, forces=forces, stress=bool(with_stress.any()))
            parts.append(_as_predictions(results, batch, with_stress))
            bar.update(len(group))
    return Predictions.concatenate(parts)


def _as_predictions(results: dict[str, torch.Tensor], batch, with_stress: np.ndarray) -> Predictions:
    """``with_stress`` [G] bool: the structures whose stress enters the predictions."""

    def numpy(tensor: torch.Tensor) -> np.ndarray:
        return tensor.detach().double().cpu().numpy()

    if batch.energy is None or batch.forces is None:
        raise ValueError(f"evaluation needs energy and force labels ({batch.names[0]} has none)")
    stress = {}
    if with_stress.any():
        stress = {"stress": numpy(results["stress"])[with_stress], "stress_true": numpy(batch.stress)[with_stress]}
    return Predictions(
        energy=numpy(results["energy"]),
        energy_true=numpy(batch.energy),
        num_atoms=batch.num_atoms.cpu().numpy(),
        forces=numpy(results["forces"]),
        forces_true=numpy(batch.forces),
        **stress,
    )
