"""The pair search under every radius graph: vesin's cell list, kept within the sizes it handles.

vesin bins the box (along non-periodic directions, the bounding box of the atoms) into cells about
one search radius wide, at most 10^5 of them: above that it shrinks the count along every direction
in proportion, truncating, and a direction that ends with no cell at all divides by zero and kills
the process (SIGFPE). That happens to thin boxes that are wide in the other directions: a flat sheet
400 Å across at the 1 Å radius of `eqv2.validation`, or an atom far from the others (it flew off in
MD, or a coordinate was given in the wrong unit). So, before the search, `close_empty_gaps` narrows
long empty stretches along non-periodic directions and `safe_search_cutoff` widens the bins until
there are at most 10^5; the pairs found, their shifts and their distances are those within the
radius of the positions as given.
"""

from __future__ import annotations

import numpy as np
import vesin

MAX_EMPTY_GAP = 100.0  # search radii: the widest empty stretch along a non-periodic direction the search sees
MAX_CELLS = 1e5  # vesin's limit on its number of cells, above which it shrinks them (module docstring)


def cell_list_pairs(
    positions: np.ndarray, box: np.ndarray, periodic: np.ndarray, radius: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every pair (i, j, image S) with |positions[j] + S @ box - positions[i]| <= radius (about: the
    callers filter their own cutoff), both directions: i [E], j [E], shifts [E, 3], distances [E].

    positions [N, 3] float64, box [3, 3] (rows = lattice vectors, zero rows where not periodic),
    periodic [3] bool.
    """
    search_positions = close_empty_gaps(positions, box, periodic, radius)
    cutoff = safe_search_cutoff(search_positions, box, periodic, radius)
    search = vesin.NeighborList(cutoff=cutoff, full_list=True)
    i, j, shifts, distances = search.compute(search_positions, box, periodic.tolist(), quantities="ijSd")
    if search_positions is not positions:  # distances of the positions as given, not of the moved ones
        distances = np.linalg.norm(positions[j] + shifts @ box - positions[i], axis=1)
    if cutoff > radius:
        keep = distances <= radius
        i, j, shifts, distances = i[keep], j[keep], shifts[keep], distances[keep]
    return i, j, shifts, distances


def safe_search_cutoff(positions: np.ndarray, box: np.ndarray, periodic: np.ndarray, radius: float) -> float:
    """``radius``, or the smallest cutoff (in steps of 10 %) above it for which vesin's cell list has at
    most `MAX_CELLS` cells.

    vesin's cells per direction are max(1, trunc(w / cutoff)) for the width w of the box across that
    direction; the product is bounded here with upper bounds of w: a periodic lattice vector's length,
    and along a non-periodic direction 1.01 times the diagonal of the atoms' bounding box plus 1 Å
    (vesin's margins).
    """
    if len(positions) == 0:
        return radius
    span = 1.01 * float(np.linalg.norm(positions.max(axis=0) - positions.min(axis=0))) + 1.0
    widths = np.where(periodic, np.linalg.norm(box, axis=1), span)  # [3]
    cutoff = radius
    while np.prod(np.maximum(widths / cutoff, 1.0)) > MAX_CELLS:
        cutoff *= 1.1
    return cutoff


def close_empty_gaps(positions: np.ndarray, box: np.ndarray, periodic: np.ndarray, radius: float) -> np.ndarray:
    """Positions [N, 3] with every empty stretch wider than `MAX_EMPTY_GAP` search radii along a
    non-periodic direction narrowed to that width; ``positions`` itself when there is none.

    The directions are an orthonormal basis q of the complement of the periodic lattice vectors
    (``box`` [3, 3], zero rows where not periodic), so periodic images move with their atoms. Atoms on
    one side of a gap move together along q, so every pair within ``radius`` keeps its vector (no such
    pair spans a gap) and every pair across a gap stays farther apart than ``radius``.
    """
    lattice = box[periodic]  # [P, 3]
    if len(lattice) == 3 or len(positions) < 2:
        return positions
    complement = np.linalg.svd(lattice)[2][len(lattice) :] if len(lattice) else np.eye(3)  # [3 - P, 3]
    width = MAX_EMPTY_GAP * radius
    moved = positions
    for direction in complement:
        coordinates = moved @ direction
        order = np.argsort(coordinates, kind="stable")
        excess = np.maximum(np.diff(coordinates[order]) - width, 0.0)
        if not excess.any():
            continue
        moved = moved.copy()
        moved[order[1:]] -= np.cumsum(excess)[:, None] * direction
    return moved
