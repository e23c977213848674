"""The strict neighbour selection of fairchem-core 1.x, reproduced edge for edge (``"reference_strict"``).

With ``enforce_max_neighbors_strictly`` (the OC20, OC22 and ODAC checkpoints) the reference keeps the
k nearest neighbours of each atom. Where the k-th shell is degenerate, which neighbours it keeps is
decided by an unstable sort of float32 squared distances, so only the same arithmetic reproduces it.
For one structure, as fairchem's ASE calculator builds it:

1. positions are wrapped into the cell along periodic directions (`ase.geometry.wrap_positions`,
   eps 0, with the completed cell), then positions and cell are cast to float32;
2. the candidate images n lie in the range r_k = ceil(cutoff |a_p x a_q| / V) per periodic axis
   (float32); their offsets come from one float32 ``bmm`` of the transposed cell with all images;
3. d^2 = sum over x, y, z of (r_i - (r_j + offset))^2 in float32, summed left to right; a pair is
   a candidate when 1e-4 < d^2 <= cutoff^2;
4. if some atom has more than k candidates: for each target atom, a row of its candidates' d^2 in
   the reference's enumeration order (source j, then image in cartesian-product order), padded with
   +inf to the largest candidate count of the structure, is sorted by ``torch.sort`` (the default,
   unstable) on the CPU, and the first k are kept.

The selection depends on the rounding of the float32 ``bmm`` in step 2, which differs between CPUs
(BLAS kernels with or without fused multiply-adds); eqv2 calls the same ``bmm`` as the reference, so
on one machine the two agree. `tests/graph/test_reference_strict.py` checks the selection against
edge lists recorded from the reference. Edges are returned for the caller's own
(unwrapped) positions: shift = n + w_j - w_i, with w_a the lattice translation that wrapped atom a.
"""

from __future__ import annotations

import numpy as np
import torch
from ase.geometry import complete_cell, wrap_positions

from eqv2.graph.cell_list import cell_list_pairs

_SEARCH_MARGIN = 1e-2  # Å: the float64 search runs past the cutoff; the float32 test then decides
_MIN_SQUARED_DISTANCE = 0.0001  # Å^2: the reference drops pairs this close (an atom and itself)


def reference_strict_edges(
    positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray, cutoff: float, max_neighbors: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The edges the reference keeps for one structure: source [E], target [E], shifts [E, 3] int64.

    positions [N, 3] and cell [3, 3] in Å (float64, as given by the user), pbc [3] bool. Edges come
    in the reference's enumeration order (target, source, image).
    """
    full_cell = complete_cell(cell)
    wrapped = wrap_positions(positions, full_cell, pbc=pbc, eps=0)
    positions32 = torch.from_numpy(np.ascontiguousarray(wrapped)).float()
    cell32 = torch.from_numpy(np.ascontiguousarray(full_cell)).float().view(1, 3, 3)
    ranges = _image_ranges(cell32, pbc, cutoff)
    images, offsets = _image_offsets(cell32, ranges)

    target, source, shifts = _candidate_pairs(wrapped, full_cell, pbc, cutoff, ranges)
    image = _image_index(shifts, ranges)
    offset = offsets[torch.from_numpy(image)]  # [E, 3]
    difference = positions32[torch.from_numpy(target)] - (positions32[torch.from_numpy(source)] + offset)
    squared = difference**2
    distance_sq = squared[:, 0] + squared[:, 1] + squared[:, 2]  # [E] float32, summed as the reference does
    keep = (torch.le(distance_sq, cutoff * cutoff) & torch.gt(distance_sq, _MIN_SQUARED_DISTANCE)).numpy()
    target, source, image, distance_sq = target[keep], source[keep], image[keep], distance_sq[torch.from_numpy(keep)]

    order = np.lexsort((image, source, target))  # the reference's enumeration order
    target, source, image, distance_sq = target[order], source[order], image[order], distance_sq[order]
    if max_neighbors is not None:
        kept = _k_nearest_as_sorted(target, distance_sq, len(positions), max_neighbors)
        target, source, image = target[kept], source[kept], image[kept]

    wrap_shifts = _wrap_translations(positions, wrapped, full_cell, pbc)
    shifts = images[image] + wrap_shifts[source] - wrap_shifts[target]
    return source, target, shifts


def _image_ranges(cell32: torch.Tensor, pbc: np.ndarray, cutoff: float) -> list[int]:
    """Images per axis the reference searches: ceil(cutoff |a_p x a_q| / V), 0 along non-periodic axes."""
    volume = torch.sum(cell32[:, 0] * torch.cross(cell32[:, 1], cell32[:, 2], dim=-1), dim=-1, keepdim=True)
    ranges = []
    for axis in range(3):
        if not pbc[axis]:
            ranges.append(0)
            continue
        normal = torch.cross(cell32[:, (axis + 1) % 3], cell32[:, (axis + 2) % 3], dim=-1)
        ranges.append(int(torch.ceil(cutoff * torch.norm(normal / volume, p=2, dim=-1)).item()))
    return ranges


def _image_offsets(cell32: torch.Tensor, ranges: list[int]) -> tuple[np.ndarray, torch.Tensor]:
    """All images n in cartesian-product order [C, 3] int64 and their float32 offsets n @ cell [C, 3]."""
    axes = [torch.arange(-r, r + 1, dtype=torch.float) for r in ranges]
    images = torch.cartesian_prod(*axes)  # [C, 3], the first axis varies slowest
    columns = torch.transpose(images, 0, 1).view(1, 3, len(images))
    offsets = torch.bmm(torch.transpose(cell32, 1, 2), columns)[0]  # [3, C]
    return images.numpy().astype(np.int64), offsets.T


def _image_index(shifts: np.ndarray, ranges: list[int]) -> np.ndarray:
    """[E] position of each image n in the cartesian product of the ranges."""
    widths = [2 * r + 1 for r in ranges]
    return ((shifts[:, 0] + ranges[0]) * widths[1] + shifts[:, 1] + ranges[1]) * widths[2] + shifts[:, 2] + ranges[2]


def _candidate_pairs(
    wrapped: np.ndarray, full_cell: np.ndarray, pbc: np.ndarray, cutoff: float, ranges: list[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs (target i, source j, image n) within the cutoff plus a margin, images inside the ranges."""
    periodic = np.asarray(pbc, dtype=bool)
    box = np.where(periodic[:, None], full_cell, 0.0)
    search_positions = wrapped.astype(np.float32).astype(np.float64)
    i, j, shifts, _ = cell_list_pairs(search_positions, box, periodic, cutoff + _SEARCH_MARGIN)
    shifts = shifts.astype(np.int64)
    inside = (np.abs(shifts) <= np.asarray(ranges)).all(axis=1)
    return i[inside].astype(np.int64), j[inside].astype(np.int64), shifts[inside]


def _k_nearest_as_sorted(target: np.ndarray, distance_sq: torch.Tensor, num_atoms: int, k: int) -> np.ndarray:
    """[E] bool: the k candidates per target the reference keeps; candidates in enumeration order."""
    counts = np.bincount(target, minlength=num_atoms)
    width = int(counts.max(initial=0))
    if width <= k:
        return np.ones(len(target), dtype=bool)
    first = np.cumsum(counts) - counts
    column = np.arange(len(target)) - first[target]
    rows = torch.full((num_atoms, width), float("inf"))
    rows[torch.from_numpy(target), torch.from_numpy(column)] = distance_sq
    _, sorted_columns = torch.sort(rows, dim=1)
    chosen = sorted_columns[:, :k].numpy()  # [N, k]; columns past an atom's count hold +inf padding
    chosen_atoms = np.repeat(np.arange(num_atoms), k)
    valid = chosen.reshape(-1) < counts[chosen_atoms]
    kept = np.zeros(len(target), dtype=bool)
    kept[first[chosen_atoms[valid]] + chosen.reshape(-1)[valid]] = True
    return kept


def _wrap_translations(
    positions: np.ndarray, wrapped: np.ndarray, full_cell: np.ndarray, pbc: np.ndarray
) -> np.ndarray:
    """[N, 3] int64 w with wrapped ~= positions + w @ cell (0 along non-periodic axes)."""
    fractional = np.linalg.solve(full_cell.T, (wrapped - positions).T).T
    return np.where(np.asarray(pbc), np.rint(fractional), 0).astype(np.int64)
