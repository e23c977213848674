"""The pair search under every radius graph: vesin's cell list, kept clear of boxes that are mostly empty.

A cell list bins the bounding box of the atoms (along non-periodic directions) into cells about one
search radius wide. When one atom sits far from the others (it flew off in MD, or a coordinate was
given in the wrong unit) the box holds more bins than vesin handles: beyond about 10^5 radii it dies
with an integer division by zero, taking the process with it. `close_empty_gaps` narrows such empty
stretches before the search; the pairs found, their shifts and their distances are those of the
positions as given.
"""

from __future__ import annotations

import numpy as np
import vesin

MAX_EMPTY_GAP = 100.0  # search radii: the widest empty stretch along a non-periodic direction the search sees


def cell_list_pairs(
    positions: np.ndarray, box: np.ndarray, periodic: np.ndarray, radius: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every pair (i, j, image S) with |positions[j] + S @ box - positions[i]| <= radius (about: the
    callers filter their own cutoff), both directions: i [E], j [E], shifts [E, 3], distances [E].

    positions [N, 3] float64, box [3, 3] (rows = lattice vectors, zero rows where not periodic),
    periodic [3] bool.
    """
    search_positions = close_empty_gaps(positions, box, periodic, radius)
    search = vesin.NeighborList(cutoff=radius, full_list=True)
    i, j, shifts, distances = search.compute(search_positions, box, periodic.tolist(), quantities="ijSd")
    if search_positions is not positions:  # distances of the positions as given, not of the moved ones
        distances = np.linalg.norm(positions[j] + shifts @ box - positions[i], axis=1)
    return i, j, shifts, distances


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
