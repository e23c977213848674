"""Periodic radius graphs: every pair of atoms closer than a cutoff, for any cell.

Conventions (shared with `eqv2.batch`):

- ``edge_index[0]`` is the source j (the neighbour), ``edge_index[1]`` the target i (the centre);
  the edge vector is ``positions[j] + shifts @ cell - positions[i]``.
- An edge exists for every image with ``0 < distance <= cutoff`` (the cutoff is inclusive; zero-length
  edges, such as an atom with itself at zero shift, are never made).
- Edges are sorted by target, then source, then shift (lexicographic), so the graph is
  deterministic.

The pair search is `vesin`'s cell list (linear in atoms, exact for triclinic cells, cells smaller
than the cutoff and mixed periodicity); this module adds the inclusive cutoff, the neighbour limit
and the ordering.

Neighbour limit (``max_neighbors = k``), applied per target atom to neighbours sorted by distance.
Distances that differ by at most `SHELL_TOLERANCE` from the previous one in that order belong to
the same *shell*:

- ``"strict"``: exactly the k first, ordered by shell, then source index, then shift
  (lexicographic); the reference's ``enforce_max_neighbors_strictly=True``.
- ``"shell"`` (default for new models): the k closest plus every neighbour in the same shell as the
  k-th, so an equidistant shell is never cut and a symmetric crystal keeps its symmetry.
- ``"reference_loose"``: the reference's non-strict rule: keep every neighbour with
  ``d^2 <= d_{k+1}^2 + 0.01 Å^2``, d_{k+1} the (k+1)-th smallest distance (so that neighbour is
  always kept).
- ``"reference_strict"``: exactly the k neighbours the reference's strict rule keeps, ties included:
  its float32 distances and its unstable sort, per structure (`eqv2.graph.reference_strict`). The
  cutoff test is made on the reference's float32 squared distances too.

An atom with at most k neighbours keeps them all in every mode.

Energy derivatives need a graph that a small displacement does not change. Exact ties are common:
the images at +n and -n of a cell vector are equidistant from an atom in every geometry and under
every strain. ``"strict"`` breaks ties within `SHELL_TOLERANCE` by index, ``"shell"`` and
``"reference_loose"`` keep or drop tied neighbours together, so a displacement too small to move a
distance across a shell edge or the cutoff keeps the graph. ``"reference_strict"`` breaks exact
ties by the rounding of float32 distances, which any displacement changes: its energy jumps and
has no derivative there (`DISCONTINUOUS_NEIGHBOR_MODES`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from eqv2.graph.cell_list import cell_list_pairs
from eqv2.graph.reference_strict import reference_strict_edges

NEIGHBOR_MODES = ("strict", "shell", "reference_loose", "reference_strict")
DISCONTINUOUS_NEIGHBOR_MODES = ("reference_strict",)  # their energy jumps at exact ties (module docstring)
SHELL_TOLERANCE = 1e-4  # Å: neighbours this close in distance belong to the same shell
REFERENCE_LOOSE_TOLERANCE = 0.01  # Å^2, added to the squared distance of the (k+1)-th neighbour
_CUTOFF_MARGIN = 1e-6  # Å: the search runs this much past the cutoff, then filters d <= cutoff
SEARCH_GROWTH = 1.5  # factor by which a neighbour-limited search radius grows until the limit is settled


def radius_graph(
    positions,
    cell,
    pbc,
    cutoff: float,
    max_neighbors: int | None = None,
    mode: str = "shell",
) -> tuple[Tensor, Tensor]:
    """Radius graph of one structure.

    positions [N, 3] Å, cell [3, 3] (rows = lattice vectors; zero rows allowed along non-periodic
    directions), pbc [3] bool; numpy arrays or torch tensors.
    Returns ``edge_index`` [2, E] int64 (source j, target i) and ``shifts`` [E, 3] int64, on the
    device of ``positions`` when it is a tensor.
    """
    positions_np = _to_numpy(positions, np.float64).reshape(-1, 3)
    return radius_graph_batch(
        positions,
        _to_numpy(cell, np.float64).reshape(1, 3, 3),
        _to_numpy(pbc, bool).reshape(1, 3),
        np.array([len(positions_np)]),
        cutoff,
        max_neighbors=max_neighbors,
        mode=mode,
    )


def radius_graph_batch(
    positions,
    cells,
    pbc,
    num_atoms,
    cutoff: float,
    max_neighbors: int | None = None,
    mode: str = "shell",
) -> tuple[Tensor, Tensor]:
    """Radius graph of G structures stored one after another.

    positions [N, 3] Å, cells [G, 3, 3], pbc [G, 3] bool, num_atoms [G]; numpy or torch.
    Returns global ``edge_index`` [2, E] (atom indices into ``positions``) and ``shifts`` [E, 3]
    int64, on the device of ``positions`` when it is a tensor.
    """
    if mode not in NEIGHBOR_MODES:
        raise ValueError(f"unknown neighbour mode {mode!r}; expected one of {NEIGHBOR_MODES}")
    if cutoff <= 0:
        raise ValueError(f"cutoff must be positive, got {cutoff}")
    if max_neighbors is not None and max_neighbors < 1:
        raise ValueError(f"max_neighbors must be at least 1, got {max_neighbors}")
    device = positions.device if isinstance(positions, Tensor) else torch.device("cpu")
    positions_np = _to_numpy(positions, np.float64).reshape(-1, 3)
    cells_np = _to_numpy(cells, np.float64).reshape(-1, 3, 3)
    pbc_np = _to_numpy(pbc, bool).reshape(-1, 3)
    num_atoms_np = _to_numpy(num_atoms, np.int64).reshape(-1)
    if num_atoms_np.sum() != len(positions_np):
        raise ValueError(f"num_atoms sums to {num_atoms_np.sum()} but there are {len(positions_np)} positions")

    blocks = [(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 3), np.int64))]
    first_atom = 0
    for cell, periodic, count in zip(cells_np, pbc_np, num_atoms_np):
        if count > 0:
            structure = positions_np[first_atom : first_atom + count]
            source, target, shifts = _structure_edges(structure, cell, periodic, cutoff, max_neighbors, mode)
            blocks.append((source + first_atom, target + first_atom, shifts))
        first_atom += count
    source, target, shifts = (np.concatenate(parts) for parts in zip(*blocks))
    order = _edge_order(target, source, shifts, len(positions_np))
    edge_index = torch.as_tensor(np.stack([source[order], target[order]]), dtype=torch.long)
    return edge_index.to(device), torch.as_tensor(shifts[order], dtype=torch.long).to(device)


def _to_numpy(value, dtype) -> np.ndarray:
    """A numpy copy of a torch tensor, numpy array or nested list, as ``dtype``."""
    if isinstance(value, Tensor):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=dtype)


def _structure_edges(
    positions: np.ndarray, cell: np.ndarray, periodic: np.ndarray, cutoff: float, max_neighbors: int | None, mode: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source [E], target [E], shifts [E, 3] of one structure's edges, unordered.

    With a neighbour limit the pair search starts at a radius that holds about twice the needed
    neighbours (from the atom density) and grows until every atom's kept neighbours are settled
    (`_limit_is_settled`): the same edges as a search at the full cutoff, without its pairs.
    """
    _check_periodic_cell(cell, periodic)
    if mode == "reference_strict":
        return reference_strict_edges(positions, cell, periodic, cutoff, max_neighbors)
    radius = cutoff if max_neighbors is None else _first_search_radius(len(positions), cell, periodic, max_neighbors)
    while True:
        radius = min(radius, cutoff)
        source, target, shifts, distances = _pairs_within(positions, cell, periodic, radius)
        if max_neighbors is None:
            return source, target, shifts
        if radius >= cutoff or _limit_is_settled(target, distances, len(positions), max_neighbors, mode, radius):
            break
        radius *= SEARCH_GROWTH
    keep = _neighbor_limit_mask(target, source, shifts, distances, max_neighbors, mode)
    return source[keep], target[keep], shifts[keep]


def pairs_within(
    positions: np.ndarray, cell: np.ndarray, periodic: np.ndarray, radius: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every pair of an atom and another atom or a periodic image (its own or another atom's) with
    distance <= radius, both directions: source [E], target [E], shifts [E, 3] int64, distances [E]
    float64; the vector is ``positions[source] + shifts @ cell - positions[target]``.

    Coincident atoms give zero-length pairs (the radius graph drops them; `eqv2.validation` refuses
    them); an atom with itself at zero shift is no pair. positions [N, 3], cell [3, 3], periodic [3].
    """
    box = np.where(periodic[:, None], cell, 0.0)  # non-periodic rows play no part
    i, j, shifts, distances = cell_list_pairs(positions, box, periodic, radius + _CUTOFF_MARGIN)
    keep = distances <= radius
    return j[keep].astype(np.int64), i[keep].astype(np.int64), shifts[keep].astype(np.int64), distances[keep]


def _pairs_within(
    positions: np.ndarray, cell: np.ndarray, periodic: np.ndarray, radius: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Edges with 0 < distance <= radius: source, target, shifts [E, 3] int64, distances (float64)."""
    source, target, shifts, distances = pairs_within(positions, cell, periodic, radius)
    keep = distances > 0.0
    return source[keep], target[keep], shifts[keep], distances[keep]


def _first_search_radius(num_atoms: int, cell: np.ndarray, periodic: np.ndarray, max_neighbors: int) -> float:
    """A radius holding about 2 (k + 1) neighbours at the cell's mean density, plus 1 Å (inf without a
    3D-periodic cell: then the search starts at the cutoff)."""
    volume = abs(np.linalg.det(cell)) if periodic.all() else 0.0
    if volume <= 0.0:
        return np.inf
    density = num_atoms / volume
    return (3 * 2 * (max_neighbors + 1) / (4 * np.pi * density)) ** (1 / 3) + 1.0


def _limit_is_settled(
    target: np.ndarray, distances: np.ndarray, num_atoms: int, max_neighbors: int, mode: str, radius: float
) -> bool:
    """True when the neighbours within ``radius`` decide every atom's kept set under the limit.

    "strict", "shell": each atom has k neighbours within the radius and the shell of its k-th one ends
    more than `SHELL_TOLERANCE` inside it. "reference_loose": each has k + 1 and
    d_{k+1}^2 + `REFERENCE_LOOSE_TOLERANCE` < radius^2.
    """
    needed = max_neighbors + 1 if mode == "reference_loose" else max_neighbors
    counts = np.bincount(target, minlength=num_atoms)
    if (counts < needed).any():
        return False
    by_distance = np.lexsort((distances, target))
    target_sorted, distances_sorted = target[by_distance], distances[by_distance]
    first = np.cumsum(counts) - counts  # [N] where each atom's sorted block starts
    if mode == "reference_loose":
        threshold = distances_sorted[first + max_neighbors] ** 2 + REFERENCE_LOOSE_TOLERANCE
        return bool((threshold < radius**2).all())
    new_shell_next = (np.diff(distances_sorted) > SHELL_TOLERANCE) | (np.diff(target_sorted) != 0)
    shell_ends = np.append(np.nonzero(new_shell_next)[0], len(distances_sorted) - 1)  # last index of each shell
    kth_shell_end = shell_ends[np.searchsorted(shell_ends, first + max_neighbors - 1)]  # [N]
    return bool((distances_sorted[kth_shell_end] + SHELL_TOLERANCE < radius).all())


def _edge_order(target: np.ndarray, source: np.ndarray, shifts: np.ndarray, num_atoms: int) -> np.ndarray:
    """[E] permutation sorting edges by target, then source, then shift (lexicographic)."""
    pair_key = target * num_atoms + source
    offset_shifts = shifts - shifts.min(axis=0, initial=0)
    radix = offset_shifts.max(axis=0, initial=0) + 1
    shift_key = (offset_shifts[:, 0] * radix[1] + offset_shifts[:, 1]) * radix[2] + offset_shifts[:, 2]
    return np.lexsort((shift_key, pair_key))


def _check_periodic_cell(cell: np.ndarray, periodic: np.ndarray) -> None:
    """Raise if the periodic lattice vectors are zero or linearly dependent."""
    vectors = cell[periodic]  # [P, 3]
    if len(vectors) == 0:
        return
    singular_values = np.linalg.svd(vectors, compute_uv=False)
    if singular_values[-1] <= 1e-8 * max(singular_values[0], 1.0):
        raise ValueError(f"the periodic cell vectors {vectors.tolist()} span zero volume (pbc={periodic.tolist()})")


def _neighbor_limit_mask(
    target: np.ndarray,
    source: np.ndarray,
    shifts: np.ndarray,
    distances: np.ndarray,
    max_neighbors: int,
    mode: str,
) -> np.ndarray:
    """[E] bool: the edges kept under ``max_neighbors`` per target in ``mode`` (module docstring)."""
    by_distance = np.lexsort((distances, target))
    target_sorted, distances_sorted = target[by_distance], distances[by_distance]
    first_of_target = _first_index_of_runs(target_sorted)  # [E] start of each edge's target block
    count = np.bincount(target_sorted, minlength=target.max(initial=-1) + 1)[target_sorted]  # [E]
    new_shell = np.ones(len(target_sorted), dtype=bool)
    new_shell[1:] = (np.diff(distances_sorted) > SHELL_TOLERANCE) | (np.diff(target_sorted) != 0)
    shell = np.cumsum(new_shell)  # [E] global shell id, increasing with target then distance
    limited = count > max_neighbors

    if mode == "strict":
        tie_order = np.lexsort(
            (shifts[by_distance, 2], shifts[by_distance, 1], shifts[by_distance, 0], source[by_distance], shell)
        )
        kept_sorted = np.empty(len(tie_order), dtype=bool)
        kept_sorted[tie_order] = (np.arange(len(tie_order)) - first_of_target[tie_order]) < max_neighbors
    elif mode == "shell":
        last_shell = _value_at_rank(shell, first_of_target, count, max_neighbors - 1)
        kept_sorted = shell <= last_shell
    else:
        squared = distances_sorted**2
        threshold = _value_at_rank(squared, first_of_target, count, max_neighbors) + REFERENCE_LOOSE_TOLERANCE
        kept_sorted = squared <= threshold
    keep = np.empty(len(target), dtype=bool)
    keep[by_distance] = kept_sorted | ~limited
    return keep


def _first_index_of_runs(sorted_keys: np.ndarray) -> np.ndarray:
    """[E] for each position in a sorted array, the index where its run of equal keys starts."""
    starts = np.ones(len(sorted_keys), dtype=bool)
    starts[1:] = sorted_keys[1:] != sorted_keys[:-1]
    return np.maximum.accumulate(np.where(starts, np.arange(len(sorted_keys)), 0))


def _value_at_rank(values: np.ndarray, first_of_target: np.ndarray, count: np.ndarray, rank: int) -> np.ndarray:
    """[E] ``values`` at the given rank within each edge's target block (clipped to the block)."""
    return values[first_of_target + np.minimum(rank, count - 1)]
