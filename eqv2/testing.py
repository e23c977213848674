"""Model-level checks that every EquiformerV2 variant is held to (used by the test suite).

All work on a `Potential` and lists of `Structure`; run them in float64 for tight tolerances.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from eqv2.batch import Structure
from eqv2.potential import Potential


def random_rotation(seed: int) -> np.ndarray:
    """A uniformly random proper rotation matrix [3, 3] (QR of a Gaussian matrix)."""
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def rotated(structure: Structure, rotation: np.ndarray) -> Structure:
    """The structure with positions and cell rotated: r -> R r (rows: r @ R^T)."""
    return dataclasses.replace(structure, positions=structure.positions @ rotation.T, cell=structure.cell @ rotation.T)


def translated(structure: Structure, shift: np.ndarray) -> Structure:
    return dataclasses.replace(structure, positions=structure.positions + shift)


def permuted(structure: Structure, permutation: np.ndarray) -> Structure:
    return dataclasses.replace(
        structure,
        positions=structure.positions[permutation],
        atomic_numbers=structure.atomic_numbers[permutation],
    )


def predict(potential: Potential, structure: Structure, forces: str = "direct", stress: bool = False) -> dict:
    """Energy (float), forces [N, 3] and stress [3, 3] as float64 numpy arrays."""
    results = potential(potential.collate([structure]), forces=forces, stress=stress)
    out = {"energy": float(results["energy"][0]), "forces": results["forces"].double().cpu().numpy()}
    if stress:
        out["stress"] = results["stress"][0].double().cpu().numpy()
    return out


def equivariance_errors(potential: Potential, structure: Structure, seed: int = 0, forces: str = "direct") -> dict:
    """Relative errors of E invariance and F equivariance under a rotation, a translation and a
    permutation: |E' - E| / |E| and max|F' - R F| / max|F|."""
    reference = predict(potential, structure, forces)
    energy_scale = abs(reference["energy"]) or 1.0
    force_scale = np.abs(reference["forces"]).max() or 1.0
    rotation = random_rotation(seed)
    permutation = np.random.default_rng(seed).permutation(structure.num_atoms)
    cases = {
        "rotation": (rotated(structure, rotation), reference["forces"] @ rotation.T),
        "translation": (translated(structure, np.array([0.37, -1.21, 2.05])), reference["forces"]),
        "permutation": (permuted(structure, permutation), reference["forces"][permutation]),
    }
    errors = {}
    for name, (transformed, expected_forces) in cases.items():
        result = predict(potential, transformed, forces)
        errors[f"{name}_energy"] = abs(result["energy"] - reference["energy"]) / energy_scale
        errors[f"{name}_forces"] = np.abs(result["forces"] - expected_forces).max() / force_scale
    return errors


def finite_difference_forces(potential: Potential, structure: Structure, atoms: list[int], step: float = 1e-5) -> np.ndarray:
    """Central differences -dE/dr for the listed atoms: [len(atoms), 3]."""
    forces = np.zeros((len(atoms), 3))
    for row, atom in enumerate(atoms):
        for axis in range(3):
            energies = []
            for sign in (1, -1):
                positions = structure.positions.copy()
                positions[atom, axis] += sign * step
                energies.append(predict(potential, dataclasses.replace(structure, positions=positions))["energy"])
            forces[row, axis] = -(energies[0] - energies[1]) / (2 * step)
    return forces


def finite_difference_stress(potential: Potential, structure: Structure, step: float = 1e-6) -> np.ndarray:
    """Central differences (1/V) dE/d(strain) [3, 3] with symmetric strains applied to cell and positions."""
    volume = abs(np.linalg.det(structure.cell))
    stress = np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            energies = []
            for sign in (1, -1):
                strain = np.zeros((3, 3))
                strain[i, j] += 0.5 * sign * step
                strain[j, i] += 0.5 * sign * step
                deformation = np.eye(3) + strain
                strained = dataclasses.replace(
                    structure, positions=structure.positions @ deformation, cell=structure.cell @ deformation
                )
                energies.append(predict(potential, strained)["energy"])
            stress[i, j] = (energies[0] - energies[1]) / (2 * step) / volume
    return stress
