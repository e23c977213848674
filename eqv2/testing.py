"""Model-level checks that every EquiformerV2 variant is held to (used by the test suite).

All work on a `Potential` and lists of `Structure`; run them in float64 for tight tolerances.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from ase.build import bulk, fcc111

from eqv2.batch import Structure
from eqv2.model import EquiformerV2
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


def derivative_energy(potential: Potential, structure: Structure) -> float:
    """The energy whose derivatives the potential gives: on its `Potential.derivative_graph`."""
    batch = potential.derivative_graph(potential.collate([structure]))
    with torch.no_grad():
        return float(potential.energy_and_derivatives(batch)["energy"][0])


def finite_difference_forces(
    potential: Potential, structure: Structure, atoms: list[int], step: float = 1e-5
) -> np.ndarray:
    """Central differences -dE/dr of the `derivative_energy` for the listed atoms: [len(atoms), 3]."""
    forces = np.zeros((len(atoms), 3))
    for row, atom in enumerate(atoms):
        for axis in range(3):
            energies = []
            for sign in (1, -1):
                positions = structure.positions.copy()
                positions[atom, axis] += sign * step
                energies.append(derivative_energy(potential, dataclasses.replace(structure, positions=positions)))
            forces[row, axis] = -(energies[0] - energies[1]) / (2 * step)
    return forces


def finite_difference_stress(potential: Potential, structure: Structure, step: float = 1e-6) -> np.ndarray:
    """Central differences (1/V) dE/d(strain) [3, 3] of the `derivative_energy`, with symmetric strains
    applied to cell and positions (the strain is symmetric, so is the result: 6 components are computed)."""
    volume = abs(np.linalg.det(structure.cell))
    stress = np.zeros((3, 3))
    for i in range(3):
        for j in range(i, 3):
            energies = []
            for sign in (1, -1):
                strain = np.zeros((3, 3))
                strain[i, j] += 0.5 * sign * step
                strain[j, i] += 0.5 * sign * step
                deformation = np.eye(3) + strain
                strained = dataclasses.replace(
                    structure, positions=structure.positions @ deformation, cell=structure.cell @ deformation
                )
                energies.append(derivative_energy(potential, strained))
            stress[i, j] = stress[j, i] = (energies[0] - energies[1]) / (2 * step) / volume
    return stress


def structures_with_ties() -> list[Structure]:
    """Periodic Cu cells whose neighbour lists at 6 Å with max_neighbors 16 cut through equidistant
    images (those at +n and -n of a cell vector): a rattled 4-atom fcc cell, a rattled fcc(111) slab of
    three 1x1 layers (periodic in x and y) and the 1-atom fcc cell."""
    crystal = bulk("Cu", "fcc", a=3.61, cubic=True)
    crystal.rattle(0.05, seed=3)
    slab = fcc111("Cu", size=(1, 1, 3), a=3.61, vacuum=5.0)
    slab.rattle(0.05, seed=6)
    atom = bulk("Cu", "fcc", a=3.61)
    names = ("bulk", "slab", "atom")
    return [Structure.from_atoms(atoms, name=name) for atoms, name in zip((crystal, slab, atom), names)]


TINY_MODEL = dict(
    num_layers=2,
    sphere_channels=16,
    attn_hidden_channels=16,
    num_heads=2,
    attn_alpha_channels=8,
    attn_value_channels=4,
    ffn_hidden_channels=16,
    edge_channels=16,
    lmax_list=[3],
    mmax_list=[2],
    max_radius=4.0,
    max_neighbors=50,
    alpha_drop=0.0,
    drop_path_rate=0.0,
    norm_type="rms_norm_sh",
)
GATE_MODEL = dict(TINY_MODEL, use_gate_act=True)
S2_MODEL = dict(TINY_MODEL, use_grid_mlp=True, norm_type="layer_norm_sh", grid_resolution=12)


def tiny_potential(seed: int = 0, dtype: torch.dtype = torch.float64, **overrides) -> Potential:
    """A small random EquiformerV2 potential (float64 by default)."""
    torch.manual_seed(seed)
    model = EquiformerV2(**{**TINY_MODEL, **overrides}).to(dtype)
    with torch.no_grad():  # random, non-trivial values for parameters that start at 0 or 1
        for name, parameter in model.named_parameters():
            if "bias" in name or "affine" in name or "norm" in name:
                parameter.add_(0.1 * torch.randn_like(parameter))
    return Potential(model.eval())


def structures() -> list[Structure]:
    """Molecule (no cell), slab (periodic in x, y), bulk, and edges exactly along +-y."""
    rng = np.random.default_rng(7)
    molecule = Structure(
        positions=rng.normal(scale=1.2, size=(6, 3)),
        atomic_numbers=np.array([6, 1, 1, 8, 7, 1]),
        cell=np.zeros((3, 3)),
        pbc=np.zeros(3, bool),
        name="molecule",
    )
    slab_cell = np.array([[5.1, 0.0, 0.0], [2.55, 4.4, 0.0], [0.0, 0.0, 14.0]])
    slab = Structure(
        positions=rng.uniform(size=(8, 3)) @ np.diag([1.0, 1.0, 0.3]) @ slab_cell + [0, 0, 4.0],
        atomic_numbers=np.array([29, 29, 29, 29, 29, 29, 8, 1]),
        cell=slab_cell,
        pbc=np.array([True, True, False]),
        name="slab",
    )
    bulk_cell = np.array([[3.6, 0.1, 0.0], [0.2, 3.5, 0.1], [0.0, 0.3, 3.7]])
    bulk = Structure(
        positions=rng.uniform(size=(4, 3)) @ bulk_cell,
        atomic_numbers=np.array([13, 29, 29, 28]),
        cell=bulk_cell,
        pbc=np.ones(3, bool),
        name="bulk",
    )
    # Cubic cell with atoms stacked along y: many edges exactly along +y and -y.
    axis_cell = np.diag([4.5, 2.9, 4.5])
    polar_axis = Structure(
        positions=np.array([[0.0, 0.0, 0.0], [2.25, 0.0, 2.25], [1.0, 1.45, 3.0]]),
        atomic_numbers=np.array([29, 79, 8]),
        cell=axis_cell,
        pbc=np.ones(3, bool),
        name="polar_axis",
    )
    return [molecule, slab, bulk, polar_axis]


def cu111_slab(seed: int, adsorbate: str | None = "O", repeat: int = 1):
    """An ``ase.Atoms`` Cu(111) 2x2x3 (or ``repeat`` x 2 x 3) slab with an optional adsorbate in an fcc site,
    bottom layer fixed, rattled by 0.05 Å; 12-25 atoms."""
    from ase.build import add_adsorbate, fcc111
    from ase.constraints import FixAtoms

    atoms = fcc111("Cu", size=(2 * repeat, 2, 3), vacuum=6.0)
    if adsorbate:
        add_adsorbate(atoms, adsorbate, height=1.9, position="fcc")
    atoms.info.clear()  # ASE's adsorbate-site table, which extxyz cannot store
    atoms.set_constraint(FixAtoms(mask=atoms.positions[:, 2] < atoms.positions[:, 2].min() + 0.1))
    atoms.rattle(0.05, seed=seed)
    return atoms
