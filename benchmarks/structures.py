"""Deterministic OC20-like test structures for benchmarks: fcc(111) slabs with small adsorbates.

Slabs are periodic in x and y; z is not periodic and the vacuum (2 x 10 Å) exceeds the OC20 cutoff
(12 Å), so z images would add no edges anyway. Tags follow OC20: 0 fixed subsurface, 1 surface,
2 adsorbate; the bottom half of the metal layers is fixed with `FixAtoms`. Every slab is rattled
with a fixed seed: a perfect lattice has degenerate neighbor shells, and strict max-neighbor
selection breaks such ties arbitrarily (differently in each implementation).
"""

from __future__ import annotations

import math

import numpy as np
from ase import Atoms
from ase.build import add_adsorbate, fcc111
from ase.constraints import FixAtoms

VACUUM = 10.0  # Å on each side of the slab
RATTLE_STDEV = 0.05  # Å

LATTICE_CONSTANTS = {"Cu": 3.61, "Ni": 3.52, "Pd": 3.89, "Pt": 3.92, "Ag": 4.09, "Au": 4.08, "Rh": 3.80, "Ir": 3.84}

# (symbol, positions relative to the binding atom in Å), binding atom first.
ADSORBATES = {
    "O": ("O", [(0.0, 0.0, 0.0)]),
    "H": ("H", [(0.0, 0.0, 0.0)]),
    "OH": ("OH", [(0.0, 0.0, 0.0), (0.0, 0.0, 0.97)]),
    "CO": ("CO", [(0.0, 0.0, 0.0), (0.0, 0.0, 1.15)]),
    "NH2": ("NH2", [(0.0, 0.0, 0.0), (0.81, 0.0, 0.59), (-0.81, 0.0, 0.59)]),
    "CH3": ("CH3", [(0.0, 0.0, 0.0), (1.03, 0.0, 0.36), (-0.51, 0.89, 0.36), (-0.51, -0.89, 0.36)]),
}


def adsorbate_slab(
    metal: str, size: tuple[int, int, int], adsorbate: str | None, site: str = "ontop", seed: int = 0
) -> Atoms:
    """An fcc(111) `metal` slab of size (nx, ny, layers), optionally with `adsorbate` on `site`."""
    slab = fcc111(metal, size=size, a=LATTICE_CONSTANTS[metal], vacuum=VACUUM)
    layers = size[2]
    layer_tags = slab.get_tags()  # 1 = top layer ... layers = bottom layer
    fixed = layer_tags > layers // 2
    slab.set_tags(np.where(fixed, 0, 1))
    if adsorbate is not None:
        symbols, positions = ADSORBATES[adsorbate]
        molecule = Atoms(symbols, positions=positions, tags=[2] * len(positions))
        add_adsorbate(slab, molecule, height=1.9, position=site)
        slab.center(vacuum=VACUUM, axis=2)
    slab.rattle(stdev=RATTLE_STDEV, seed=seed)
    slab.set_constraint(FixAtoms(mask=slab.get_tags() == 0))
    slab.pbc = (True, True, False)
    return slab


def slab_38() -> Atoms:
    """38 atoms: a 3x3x4 Cu(111) slab (36) with CO on top (2)."""
    return adsorbate_slab("Cu", (3, 3, 4), "CO", "ontop", seed=38)


def slab_batch_8() -> list[Atoms]:
    """Eight different slabs of 30-40 atoms (metals, sizes, adsorbates and sites all vary)."""
    recipes = [
        ("Cu", (3, 3, 4), "CO", "ontop"),
        ("Pt", (3, 3, 4), "O", "fcc"),
        ("Ag", (2, 4, 4), "OH", "hcp"),
        ("Au", (3, 3, 3), "CH3", "ontop"),
        ("Pd", (2, 3, 5), "H", "fcc"),
        ("Ni", (3, 4, 3), "NH2", "bridge"),
        ("Rh", (2, 4, 4), "CO", "hcp"),
        ("Ir", (3, 3, 4), "CH3", "fcc"),
    ]
    return [adsorbate_slab(*recipe, seed=index) for index, recipe in enumerate(recipes)]


def big_slab(n_atoms: int = 600, layers: int = 6) -> Atoms:
    """A bare Cu(111) slab of about `n_atoms` atoms (n x n x layers; exactly 600 by default)."""
    side = max(1, round(math.sqrt(n_atoms / layers)))
    return adsorbate_slab("Cu", (side, side, layers), None, seed=n_atoms)
