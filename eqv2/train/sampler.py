"""The order in which training structures are visited: seeded per epoch, split across ranks by atom count.

Epoch e visits ``permutation(seed, e)`` in global batches of ``batch_size * world_size`` structures
(the last incomplete one is dropped). Each global batch is dealt to the ranks so that every rank gets
``batch_size`` structures and the atom counts are as even as a greedy largest-first deal makes them.
The order is a pure function of (seed, epoch, batch index), so a resumed run needs only the position.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Position:
    """Where the stream of micro-batches stands: the next batch is batch ``batch`` of epoch ``epoch``."""

    epoch: int = 0
    batch: int = 0


class BalancedBatches:
    """Micro-batches of structure indices for one rank."""

    def __init__(self, num_atoms: np.ndarray, batch_size: int, rank: int, world_size: int, seed: int) -> None:
        self.num_atoms = np.asarray(num_atoms)  # [S]
        self.batch_size, self.rank, self.world_size, self.seed = batch_size, rank, world_size, seed
        if self.batches_per_epoch == 0:
            raise ValueError(
                f"the training set has {len(self.num_atoms)} structures, fewer than one global batch "
                f"({batch_size} x {world_size} ranks)"
            )

    @property
    def batches_per_epoch(self) -> int:
        return len(self.num_atoms) // (self.batch_size * self.world_size)

    def global_batch(self, epoch: int, batch: int) -> np.ndarray:
        """[batch_size * world_size] indices of global batch ``batch`` of ``epoch``."""
        permutation = np.random.default_rng([self.seed, epoch]).permutation(len(self.num_atoms))
        size = self.batch_size * self.world_size
        return permutation[batch * size : (batch + 1) * size]

    def rank_share(self, indices: np.ndarray) -> list[int]:
        """This rank's ``batch_size`` indices of a global batch, dealt largest first to the lightest rank."""
        loads = np.zeros(self.world_size)
        shares: list[list[int]] = [[] for _ in range(self.world_size)]
        for index in sorted(indices.tolist(), key=lambda i: (-self.num_atoms[i], i)):
            open_ranks = [r for r in range(self.world_size) if len(shares[r]) < self.batch_size]
            target = min(open_ranks, key=lambda r: (loads[r], r))
            shares[target].append(index)
            loads[target] += self.num_atoms[index]
        return sorted(shares[self.rank])

    def stream(self, start: Position) -> Iterator[tuple[Position, list[int]]]:
        """(position after this batch, this rank's indices), forever, from ``start``."""
        epoch, batch = start.epoch, start.batch
        while True:
            indices = self.rank_share(self.global_batch(epoch, batch))
            batch += 1
            if batch == self.batches_per_epoch:
                epoch, batch = epoch + 1, 0
            yield Position(epoch, batch), indices
