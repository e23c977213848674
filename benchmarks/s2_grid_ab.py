"""A/B of the S2 grid transforms: dense [B*A, R] matrices against the separable form `S2Grid.apply` uses.

    python -m benchmarks.s2_grid_ab [--repeats 3]

One oc20-31M forward (random weights, 38-atom slab, one thread, process CPU time, best of
``--repeats``), alternating the two implementations in one process so that a busy machine disturbs
both alike; prints both times and the largest output difference.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
from torch import Tensor

import eqv2
from benchmarks.structures import slab_38
from eqv2.batch import Structure
from eqv2.nn.activations import GRID_CHUNK_VALUES, S2Grid

SEPARABLE_APPLY = S2Grid.apply


def dense_apply(self: S2Grid, x: Tensor, function: Callable[[Tensor], Tensor]) -> Tensor:
    """from_grid(function(to_grid(x))) with the dense matrices, in the same cache-sized chunks."""
    to_grid = self.to_grid_matrix.to(x.dtype).flatten(0, 1)  # [B*A, R]
    from_grid = self.from_grid_matrix.to(x.dtype).flatten(0, 1).transpose(0, 1)  # [R, B*A]
    chunk = max(1, GRID_CHUNK_VALUES["cpu"] // (to_grid.shape[0] * x.shape[2]))
    pieces = [torch.matmul(from_grid, function(torch.matmul(to_grid, part))) for part in x.split(chunk)]
    return torch.cat(pieces)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = eqv2.EquiformerV2.from_preset("oc20-31M").eval()
    batch = eqv2.Potential(model).collate([Structure.from_atoms(slab_38())])
    implementations = {"dense": dense_apply, "separable": SEPARABLE_APPLY}
    outputs, seconds = {}, {name: [] for name in implementations}
    with torch.inference_mode():
        for _ in range(args.repeats + 1):
            for name, apply in implementations.items():
                S2Grid.apply = apply
                start = time.process_time()
                outputs[name] = model(batch)
                seconds[name].append(time.process_time() - start)
    S2Grid.apply = SEPARABLE_APPLY
    difference = max(float((outputs["dense"][k] - outputs["separable"][k]).abs().max()) for k in outputs["dense"])
    print(f"dense {min(seconds['dense'][1:]):.3f} s, separable {min(seconds['separable'][1:]):.3f} s per forward; "
          f"largest output difference {difference:.1e}")  # fmt: skip


if __name__ == "__main__":
    main()
