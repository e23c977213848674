"""The data contract: one structure (`Structure`) and a batch of them (`Batch`).

Every part of eqv2 (model, loss, trainer, calculator, readers) speaks these two types.

Shape vocabulary: N atoms, E edges, G structures (graphs) in a batch.

Conventions:
- ``cell`` rows are the lattice vectors (Å); a non-periodic direction may have a zero row.
- ``edge_index[0]`` is the source (neighbour j), ``edge_index[1]`` the target (centre i); messages
  flow j -> i and the edge vector is ``positions[j] + shifts @ cell - positions[i]``.
- ``stress`` follows ASE's sign convention (positive = tensile), eV/Å^3, as a 3x3 matrix.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor


@dataclass
class Structure:
    """One atomic structure with optional DFT labels (numpy arrays, float64)."""

    positions: np.ndarray  # [N, 3] Å
    atomic_numbers: np.ndarray  # [N] int
    cell: np.ndarray  # [3, 3] Å, rows = lattice vectors
    pbc: np.ndarray  # [3] bool
    fixed: np.ndarray | None = None  # [N] bool, True for atoms held by FixAtoms
    tags: np.ndarray | None = None  # [N] int (OC20: 0 subsurface, 1 surface, 2 adsorbate)
    energy: float | None = None  # eV
    forces: np.ndarray | None = None  # [N, 3] eV/Å
    stress: np.ndarray | None = None  # [3, 3] eV/Å^3
    name: str = ""  # where it came from, e.g. "train.extxyz[12]", for error messages

    @property
    def num_atoms(self) -> int:
        return len(self.atomic_numbers)

    @property
    def stress_is_defined(self) -> bool:
        """True for cells periodic in all three directions with non-zero volume (bulk, or a slab in a
        3D-periodic box); the one rule eqv2 uses to decide whether a structure has a stress."""
        return bool(np.all(self.pbc)) and abs(np.linalg.det(self.cell)) > 1e-12

    @classmethod
    def from_atoms(cls, atoms, name: str = "") -> Structure:
        """Build from an ``ase.Atoms``; labels come from its calculator when it has results."""
        from ase.constraints import FixAtoms

        fixed = np.zeros(len(atoms), dtype=bool)
        for constraint in atoms.constraints:
            if isinstance(constraint, FixAtoms):
                fixed[constraint.index] = True
        energy = forces = stress = None
        results = getattr(atoms.calc, "results", None) or {}
        if "energy" in results:
            energy = float(results["energy"])
        if "forces" in results:
            forces = np.asarray(results["forces"], dtype=np.float64)
        if "stress" in results:
            stress = _stress_to_matrix(np.asarray(results["stress"], dtype=np.float64))
        return cls(
            positions=np.asarray(atoms.get_positions(), dtype=np.float64),
            atomic_numbers=np.asarray(atoms.get_atomic_numbers(), dtype=np.int64),
            cell=np.asarray(atoms.get_cell()[:], dtype=np.float64),
            pbc=np.asarray(atoms.get_pbc(), dtype=bool),
            fixed=fixed,
            tags=np.asarray(atoms.get_tags(), dtype=np.int64),
            energy=energy,
            forces=forces,
            stress=stress,
            name=name,
        )


def stress_to_voigt(stress: np.ndarray) -> np.ndarray:
    """[3, 3] -> ASE's Voigt order [6]: xx, yy, zz, yz, xz, xy."""
    return np.array([stress[0, 0], stress[1, 1], stress[2, 2], stress[1, 2], stress[0, 2], stress[0, 1]])


def _stress_to_matrix(stress: np.ndarray) -> np.ndarray:
    """ASE Voigt order (xx, yy, zz, yz, xz, xy) or a 3x3 matrix -> 3x3 matrix."""
    if stress.shape == (3, 3):
        return stress
    xx, yy, zz, yz, xz, xy = stress
    return np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])


@dataclass
class Batch:
    """G structures concatenated into one graph with N atoms and E edges (torch tensors)."""

    positions: Tensor  # [N, 3] Å
    atomic_numbers: Tensor  # [N] int64
    cell: Tensor  # [G, 3, 3] Å
    pbc: Tensor  # [G, 3] bool
    graph_index: Tensor  # [N] int64, the structure each atom belongs to
    num_atoms: Tensor  # [G] int64
    fixed: Tensor  # [N] bool
    tags: Tensor  # [N] int64
    edge_index: Tensor  # [2, E] int64, (source j, target i)
    shifts: Tensor  # [E, 3] integer cell offsets (int64) of the source image
    energy: Tensor | None = None  # [G] eV
    forces: Tensor | None = None  # [N, 3] eV/Å
    stress: Tensor | None = None  # [G, 3, 3] eV/Å^3; NaN rows for structures without a stress label
    names: tuple[str, ...] = ()  # [G]
    neighbor_mode: str | None = None  # the rule of the graph at max_neighbors (`eqv2.graph.neighbors.NEIGHBOR_MODES`)

    @property
    def stress_labelled(self) -> Tensor:
        """[G] bool: which structures carry a stress label (all False when the batch has none)."""
        if self.stress is None:
            return torch.zeros(self.num_graphs, dtype=torch.bool, device=self.num_atoms.device)
        return ~self.stress.isnan().flatten(1).any(dim=1)

    @property
    def num_graphs(self) -> int:
        return int(self.num_atoms.shape[0])

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> Batch:
        """Move every tensor to ``device``; floating tensors also to ``dtype`` when given."""
        changes = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, Tensor):
                target_dtype = dtype if (dtype is not None and value.is_floating_point()) else None
                changes[field.name] = value.to(device=device, dtype=target_dtype)
        return dataclasses.replace(self, **changes)

    def edge_vectors(self) -> Tensor:
        """[E, 3] vectors from each target atom to its source image: r_j + shift @ cell - r_i."""
        source, target = self.edge_index
        cell_of_edge = self.cell[self.graph_index[target]]  # [E, 3, 3]
        offsets = torch.einsum("ek,ekx->ex", self.shifts.to(self.positions.dtype), cell_of_edge)
        return self.positions[source] + offsets - self.positions[target]


def batches(items: Sequence, batch_size: int) -> Iterator[Sequence]:
    """Consecutive slices of ``items`` with ``batch_size`` items each (the last may hold fewer)."""
    for start in range(0, len(items), batch_size):
        yield items[start : start + batch_size]


def collate(
    structures: list[Structure],
    cutoff: float,
    max_neighbors: int | None = None,
    neighbor_mode: str = "shell",
    dtype: torch.dtype = torch.float32,
) -> Batch:
    """Concatenate structures into one `Batch` and build its radius graph.

    ``max_neighbors`` and ``neighbor_mode`` are passed to `eqv2.graph.neighbors.radius_graph_batch`, which
    builds the graph of all structures in one call.
    """
    from eqv2.graph.neighbors import radius_graph_batch

    if not structures:
        raise ValueError("collate needs at least one structure")
    num_atoms = torch.tensor([s.num_atoms for s in structures], dtype=torch.long)
    edge_index, shifts = radius_graph_batch(
        np.concatenate([s.positions for s in structures]),
        np.stack([s.cell for s in structures]),
        np.stack([s.pbc for s in structures]),
        num_atoms,
        cutoff,
        max_neighbors=max_neighbors,
        mode=neighbor_mode,
    )

    def stack_optional(values, shape_fn):
        if any(v is None for v in values):
            return None
        return torch.as_tensor(np.stack([shape_fn(v) for v in values]), dtype=dtype)

    stress = None  # a batch mixing bulk (with stress) and slabs or molecules (without) keeps the labels it has
    if any(s.stress is not None for s in structures):
        missing = np.full((3, 3), np.nan)
        stress = torch.as_tensor(np.stack([missing if s.stress is None else s.stress for s in structures]), dtype=dtype)
    forces = None
    if all(s.forces is not None for s in structures):
        forces = torch.as_tensor(np.concatenate([s.forces for s in structures]), dtype=dtype)
    return Batch(
        positions=torch.as_tensor(np.concatenate([s.positions for s in structures]), dtype=dtype),
        atomic_numbers=torch.as_tensor(np.concatenate([s.atomic_numbers for s in structures]), dtype=torch.long),
        cell=torch.as_tensor(np.stack([s.cell for s in structures]), dtype=dtype),
        pbc=torch.as_tensor(np.stack([s.pbc for s in structures]), dtype=torch.bool),
        graph_index=torch.repeat_interleave(torch.arange(len(structures)), num_atoms),
        num_atoms=num_atoms,
        fixed=torch.as_tensor(
            np.concatenate([s.fixed if s.fixed is not None else np.zeros(s.num_atoms, bool) for s in structures])
        ),
        tags=torch.as_tensor(
            np.concatenate([s.tags if s.tags is not None else np.zeros(s.num_atoms, np.int64) for s in structures])
        ),
        edge_index=edge_index,
        shifts=shifts,
        energy=stack_optional([s.energy for s in structures], np.asarray),
        forces=forces,
        stress=stress,
        names=tuple(s.name for s in structures),
        neighbor_mode=neighbor_mode,
    )
