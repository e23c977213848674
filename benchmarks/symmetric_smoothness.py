"""How smooth each norm type is at perfect crystals: energy jumps under tiny noise, forces by symmetry.

For every norm type and lmax, a random-weight model (the demo's size, float64) predicts the energy of a
perfect fcc and bcc Cu cell and of the same cell with every atom moved by Gaussian noise of ``--noise`` Å.
A smooth model changes by about |F| * noise (F = 0 here by symmetry), so the printed jump should be far below
1e-7 eV/atom; it also prints max |conservative force| on the perfect cell (0 by symmetry).

    python benchmarks/symmetric_smoothness.py --lmax 2 3 4 6
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import torch
from ase.build import bulk

from eqv2.batch import Structure
from eqv2.nn.norms import NORM_TYPES
from eqv2.testing import predict, tiny_potential

DEMO_SIZE = dict(
    num_layers=3,
    sphere_channels=32,
    attn_hidden_channels=32,
    num_heads=4,
    attn_alpha_channels=8,
    attn_value_channels=8,
    ffn_hidden_channels=64,
    edge_channels=32,
    mmax_list=[2],
    max_radius=5.0,
    max_neighbors=500,
    cutoff_envelope=True,
    distance_gaussians=32,
)


def crystals() -> dict[str, Structure]:
    """Perfect fcc and bcc Cu, 2x2x2 conventional-cell supercells (32 and 16 atoms)."""
    return {
        "fcc": Structure.from_atoms(bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2), name="fcc"),
        "bcc": Structure.from_atoms(bulk("Cu", "bcc", a=2.87, cubic=True).repeat(2), name="bcc"),
    }


def smoothness(norm_type: str, lmax: int, noise: float, seed: int = 0) -> dict[str, float]:
    """Largest energy jump per atom under ``noise`` Å and largest conservative |F| over the two crystals."""
    potential = tiny_potential(
        seed, torch.float64, **DEMO_SIZE, lmax_list=[lmax], norm_type=norm_type, grid_resolution=2 * lmax + 6
    )
    rng = np.random.default_rng(seed)
    jump, force = 0.0, 0.0
    for structure in crystals().values():
        perfect = predict(potential, structure, forces="conservative")
        moved = dataclasses.replace(
            structure, positions=structure.positions + noise * rng.normal(size=structure.positions.shape)
        )
        jump = max(jump, abs(predict(potential, moved)["energy"] - perfect["energy"]) / structure.num_atoms)
        force = max(force, float(np.abs(perfect["forces"]).max()))
    return {"jump": jump, "force": force}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lmax", type=int, nargs="+", default=[2, 3, 4])
    parser.add_argument("--norms", nargs="+", default=list(NORM_TYPES))
    parser.add_argument("--noise", type=float, default=1e-8, help="Å")
    args = parser.parse_args()
    print(f"{'norm_type':24s} lmax  jump eV/atom  max|F| eV/Å  (noise {args.noise:g} Å)")
    for norm_type in args.norms:
        for lmax in args.lmax:
            result = smoothness(norm_type, lmax, args.noise)
            print(f"{norm_type:24s} {lmax:4d}  {result['jump']:12.2e}  {result['force']:11.2e}", flush=True)


if __name__ == "__main__":
    main()
