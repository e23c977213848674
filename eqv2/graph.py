"""Periodic radius graphs (placeholder: a simple, correct O(N^2 * images) search)."""

from __future__ import annotations

import itertools

import numpy as np
import torch
from torch import Tensor


def radius_graph(
    positions,
    cell,
    pbc,
    cutoff: float,
    max_neighbors: int | None = None,
    mode: str = "shell",
) -> tuple[Tensor, Tensor]:
    """All pairs (j, i, shift) with 0 < |r_j + shift @ cell - r_i| <= cutoff.

    Returns ``edge_index`` [2, E] (row 0 source j, row 1 target i) and ``shifts`` [E, 3] int64.
    """
    positions = np.asarray(positions, dtype=np.float64)
    cell = np.asarray(cell, dtype=np.float64)
    pbc = np.asarray(pbc, dtype=bool)
    repeats = []
    volume = abs(np.linalg.det(cell)) if pbc.any() else 0.0
    for axis in range(3):
        if not pbc[axis]:
            repeats.append(0)
            continue
        other = [a for a in range(3) if a != axis]
        area = np.linalg.norm(np.cross(cell[other[0]], cell[other[1]]))
        repeats.append(int(np.ceil(cutoff * area / volume)))
    sources, targets, shift_list = [], [], []
    for shift in itertools.product(*[range(-r, r + 1) for r in repeats]):
        offset = np.asarray(shift, dtype=np.float64) @ cell
        diff = positions[None, :, :] + offset - positions[:, None, :]  # [i, j, 3]
        dist = np.linalg.norm(diff, axis=-1)
        i, j = np.nonzero((dist <= cutoff) & (dist > 1e-8))
        sources.append(j)
        targets.append(i)
        shift_list.append(np.broadcast_to(np.asarray(shift), (len(i), 3)))
    source = np.concatenate(sources)
    target = np.concatenate(targets)
    shifts = np.concatenate(shift_list).astype(np.int64)
    if max_neighbors is not None:
        keep = _max_neighbor_mask(positions, cell, source, target, shifts, max_neighbors, mode)
        source, target, shifts = source[keep], target[keep], shifts[keep]
    order = np.lexsort((source, target))
    edge_index = torch.as_tensor(np.stack([source[order], target[order]]), dtype=torch.long)
    return edge_index, torch.as_tensor(shifts[order], dtype=torch.long)


def _max_neighbor_mask(positions, cell, source, target, shifts, max_neighbors, mode) -> np.ndarray:
    dist = np.linalg.norm(positions[source] + shifts @ cell - positions[target], axis=-1)
    keep = np.zeros(len(source), dtype=bool)
    for i in np.unique(target):
        edges = np.nonzero(target == i)[0]
        order = edges[np.lexsort((source[edges], dist[edges]))]
        if len(order) <= max_neighbors:
            keep[order] = True
        elif mode == "strict":
            keep[order[:max_neighbors]] = True
        elif mode == "shell":
            keep[edges[dist[edges] <= dist[order[max_neighbors - 1]] + 1e-6]] = True
        else:
            raise ValueError(f"unknown max_neighbors mode {mode!r}")
    return keep
