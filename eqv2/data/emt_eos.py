"""Equation-of-state frames: the built-in dataset's bulk crystals across a range of volumes, labelled with EMT.

The built-in dataset (`eqv2.data.emt`) holds few bulk frames, each near its metal's equilibrium volume
and all rattled, so a model trained on it alone learns little of how a crystal's energy depends on its
volume: the energy-volume curve of a perfect crystal comes out nearly flat. These frames fill that gap.
For every metal of `METALS` and each lattice (fcc, bcc) at `SCALES` times the metal's fcc atomic
volume's lattice constant: the perfect crystal and `RATTLED_COPIES` copies, each under a small random
strain (components up to `STRAIN`) with its atoms rattled by 0.02-0.08 Å. Supercells of the cubic cell: fcc
2x2x2 (32 atoms), bcc 2x2x2 (16 atoms). Energy, forces and stress are EMT's.

Files: ``train.extxyz`` (frame info: ``kind=bulk``, metal, lattice, ``scale``) and ``manifest.json``;
the output depends only on ``seed``, and a directory whose manifest matches is reused.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms
from ase.build import bulk

from eqv2.data.emt import LATTICES, METALS, fcc_volume_constant, labelled, random_strain, reusable_output

SCALES = tuple(float(s) for s in np.linspace(0.92, 1.08, 17))  # lattice constant / the fcc equilibrium one
RATTLED_COPIES = 2
STRAIN = 0.01  # largest strain component of a rattled copy
SUPERCELL = (2, 2, 2)
MANIFEST_VERSION = 1


def crystal(metal: str, lattice: str, scale: float) -> Atoms:
    """The perfect `SUPERCELL` of ``metal``'s cubic ``lattice`` cell at ``scale`` times the lattice constant
    that gives the atomic volume of its fcc cell in ASE's reference data."""
    atoms = bulk(metal, lattice, a=scale * fcc_volume_constant(metal, lattice), cubic=True).repeat(SUPERCELL)
    atoms.set_tags(1)
    return atoms


def strained_and_rattled(atoms: Atoms, rng: np.random.Generator) -> Atoms:
    """A copy of ``atoms`` under a random symmetric strain (components up to `STRAIN`), rattled by 0.02-0.08 Å."""
    copy = atoms.copy()
    copy.set_cell(copy.cell[:] @ random_strain(rng, STRAIN), scale_atoms=True)
    copy.positions += rng.normal(scale=rng.uniform(0.02, 0.08), size=copy.positions.shape)
    return copy


def eos_frames(seed: int) -> list[Atoms]:
    """Every frame of the set (module docstring), labelled, in a fixed order."""
    frames = []
    for number, (metal, lattice, scale) in enumerate(
        (metal, lattice, scale) for metal in METALS for lattice in LATTICES for scale in SCALES
    ):
        rng = np.random.default_rng([seed, number])
        perfect = crystal(metal, lattice, scale)
        for atoms in (perfect, *(strained_and_rattled(perfect, rng) for _ in range(RATTLED_COPIES))):
            frame = labelled(atoms)
            frame.info.update(kind="bulk", metal=metal, lattice=lattice, scale=round(scale, 6))
            frames.append(frame)
    return frames


def generate_eos(out: str | Path, seed: int = 0, overwrite: bool = False) -> Path:
    """Write ``out``/train.extxyz (module docstring) and return its path; reuses a matching directory and
    refuses to replace a different one unless ``overwrite``."""
    out = Path(out)
    path = out / "train.extxyz"
    frame_count = (1 + RATTLED_COPIES) * len(METALS) * len(LATTICES) * len(SCALES)
    manifest = {"generator": "eqv2 data emt-eos", "version": MANIFEST_VERSION, "seed": seed, "frames": frame_count}
    if reusable_output(out, manifest, [path], overwrite):
        return path
    frames = eos_frames(seed)
    partial = path.with_suffix(".extxyz.partial")
    ase.io.write(partial, frames, format="extxyz")
    os.replace(partial, path)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return path
