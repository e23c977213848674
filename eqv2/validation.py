"""Input checks for one `Structure`: each problem raises `DataError` naming the structure and the fault."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase.data import chemical_symbols

from eqv2.batch import Structure
from eqv2.graph.neighbors import pairs_within

LAST_ELEMENT = len(chemical_symbols) - 1  # 118: ASE has no symbol above it (nor for a negative number)
MIN_DISTANCE = 0.1  # Å: two atoms closer than this are a broken structure
_SEARCH_RADIUS = 1.0  # Å: the pair search radius; a cell list's bin count grows as (box / radius)^3
LABELS = ("energy", "forces", "stress")


class DataError(ValueError):
    """A structure that cannot be used; the message starts with its name, e.g. ``train.extxyz[12]``."""


def validate_structure(
    structure: Structure,
    max_atomic_number: int = 100,
    required_labels: Sequence[str] = (),
) -> None:
    """Raise `DataError` for the first problem found; isolated atoms with no neighbours are valid.

    Checks, in order: at least one atom; finite positions; atomic numbers in 1..max_atomic_number
    (at most `LAST_ELEMENT`);
    periodic cell vectors spanning non-zero volume; no two atoms (or periodic images) closer than
    `MIN_DISTANCE`; every label in ``required_labels`` present, finite and of the right shape.
    """
    name = structure.name or "structure"
    checks = (
        lambda: _atoms_problem(structure, min(max_atomic_number, LAST_ELEMENT)),
        lambda: _cell_problem(structure),
        lambda: _distance_problem(structure),
        lambda: _labels_problem(structure, required_labels),
    )
    for check in checks:  # in order: later checks assume the earlier ones passed
        if problem := check():
            raise DataError(f"{name}: {problem}")


def check_elements(structure: Structure, elements: Sequence[int]) -> None:
    """Raise `DataError` naming the structure when it holds an atomic number outside ``elements``
    (those a model was trained on: its energies and forces there are an untrained embedding's guess)."""
    unknown = np.setdiff1d(structure.atomic_numbers, np.asarray(elements, dtype=np.int64))
    if len(unknown):
        known = ", ".join(chemical_symbols[number] for number in elements)
        names = ", ".join(f"{chemical_symbols[number]} ({number})" for number in unknown)
        subject = f"element {names} is" if len(unknown) == 1 else f"elements {names} are"
        raise DataError(
            f"{structure.name or 'structure'}: {subject} not among the {len(elements)} elements the model "
            f"was trained on ({known})"
        )


def has_element_symbols(numbers: np.ndarray) -> bool:
    """True when ASE has a symbol for every atomic number in ``numbers`` [N] (0..118, 0 being its dummy
    "X"); its chemical formula and extxyz writer fail (IndexError) or misname an atom otherwise."""
    return bool(((numbers >= 0) & (numbers <= LAST_ELEMENT)).all())


def _atoms_problem(structure: Structure, max_atomic_number: int) -> str | None:
    if structure.num_atoms == 0:
        return "empty structure (no atoms)"
    bad_rows = np.nonzero(~np.isfinite(structure.positions).all(axis=1))[0]
    if len(bad_rows):
        return f"position of atom {bad_rows[0]} is not finite: {structure.positions[bad_rows[0]].tolist()}"
    numbers = structure.atomic_numbers
    outside = np.nonzero((numbers < 1) | (numbers > max_atomic_number))[0]
    if len(outside):
        return f"atomic number {numbers[outside[0]]} of atom {outside[0]} is outside 1..{max_atomic_number}"
    return None


def _cell_problem(structure: Structure) -> str | None:
    periodic = np.asarray(structure.pbc, dtype=bool)
    vectors = np.asarray(structure.cell, dtype=np.float64)[periodic]  # [P, 3]
    if not np.isfinite(structure.cell).all():
        return "cell is not finite"
    if len(vectors) and np.linalg.matrix_rank(vectors, tol=1e-6) < len(vectors):
        return f"cell has zero volume along its periodic directions (pbc={periodic.tolist()})"
    return None


def _distance_problem(structure: Structure) -> str | None:
    source, target, shifts, distances = pairs_within(
        np.asarray(structure.positions, dtype=np.float64),
        np.asarray(structure.cell, dtype=np.float64),
        np.asarray(structure.pbc, dtype=bool),
        _SEARCH_RADIUS,
    )
    if not (distances < MIN_DISTANCE).any():
        return None
    closest = np.lexsort((source, target, distances))[0]  # the closest pair; ties by atom index
    image = f" (periodic image {shifts[closest].tolist()})" if shifts[closest].any() else ""
    return (
        f"atoms {target[closest]} and {source[closest]}{image} are {distances[closest]:.3g} Å apart "
        f"(minimum {MIN_DISTANCE} Å)"
    )


def _labels_problem(structure: Structure, required_labels: Sequence[str]) -> str | None:
    expected_shapes = {"energy": (), "forces": (structure.num_atoms, 3), "stress": (3, 3)}
    for label in required_labels:
        if label not in expected_shapes:
            raise ValueError(f"unknown label {label!r}; expected one of {LABELS}")
        value = getattr(structure, label)
        if value is None:
            return f"missing {label} label"
        value = np.asarray(value, dtype=np.float64)
        if value.shape != expected_shapes[label]:
            return f"{label} has shape {value.shape}, expected {expected_shapes[label]}"
        if not np.isfinite(value).all():
            return f"{label} is not finite"
    return None
