"""The built-in OC20-like S2EF dataset, labelled with ASE's EMT calculator.

A *system* is one adsorbate on one fcc slab: (111), (100) or (211) of Cu, Ag, Au, Ni, Pd, Pt or
Al, 3x3 surface cell, 24-27 metal atoms, the lower half of the slab held by FixAtoms. Tags follow
OC20: 0 fixed subsurface, 1 free surface, 2 adsorbate. Each system gives `FRAMES_PER_SYSTEM`
frames: the start, middle and end of an EMT relaxation, rattled copies of the relaxed structure and
snapshots of a short hot MD run, so the forces span equilibrium and far from it.

Splits: ``train``/``val``/``test`` draw their systems from the in-distribution metal/adsorbate
pairs; ``test_ood`` only from held-out pairs (each adsorbate held out on one metal, chosen by the
seed). Every system is seeded from (seed, split, system number), so the output depends only on
``n`` and ``seed``. Files: ``<split>.extxyz`` (energy and forces as calculator results, FixAtoms
as ``move_mask``, tags) and ``manifest.json``; an output directory whose manifest matches is reused.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms, units
from ase.build import add_adsorbate, fcc100, fcc111, fcc211
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.constraints import FixAtoms
from ase.md.verlet import VelocityVerlet
from ase.optimize import LBFGS

from eqv2.progress import Progress
from eqv2.simulate.adsorbates import ADSORBATES

METALS = ("Cu", "Ag", "Au", "Ni", "Pd", "Pt", "Al")
FACETS = ("fcc111", "fcc100", "fcc211")
SPLITS = {"train": 0.7, "val": 0.1, "test": 0.1, "test_ood": 0.1}  # fraction of the n structures
RELAXATION_FRAMES = 3  # first, middle and last step of the relaxation
RATTLED_FRAMES = 3
MD_FRAMES = 3
FRAMES_PER_SYSTEM = RELAXATION_FRAMES + RATTLED_FRAMES + MD_FRAMES
MAX_RELAXATION_STEPS = 40
MD_STEPS_BETWEEN_FRAMES = 8
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class SystemSpec:
    """One adsorbate on one slab."""

    metal: str
    facet: str
    adsorbate: str


def held_out_pairs(seed: int) -> set[tuple[str, str]]:
    """(metal, adsorbate) pairs reserved for ``test_ood``: each adsorbate on one metal."""
    metals = np.random.default_rng([seed, 99]).permutation(len(METALS))
    return {(METALS[metals[k % len(METALS)]], name) for k, name in enumerate(ADSORBATES)}


def split_sizes(n: int) -> dict[str, int]:
    """Structures per split; every split gets at least one when n >= 4, rounding goes to train."""
    sizes = {name: max(int(fraction * n), 1 if n >= len(SPLITS) else 0) for name, fraction in SPLITS.items()}
    sizes["train"] = n - sum(size for name, size in sizes.items() if name != "train")
    return sizes


def system_spec(rng: np.random.Generator, out_of_distribution: bool, held_out: set[tuple[str, str]]) -> SystemSpec:
    """A random system from the held-out pairs or from the others."""
    pairs = sorted(
        (metal, name) for metal in METALS for name in ADSORBATES if ((metal, name) in held_out) == out_of_distribution
    )
    metal, adsorbate = pairs[rng.integers(len(pairs))]
    return SystemSpec(metal, FACETS[rng.integers(len(FACETS))], adsorbate)


def build_system(spec: SystemSpec, rng: np.random.Generator) -> Atoms:
    """The slab with the adsorbate placed at a random point 1.8-2.4 Å above the top layer."""
    builders = {"fcc111": (fcc111, (3, 3, 3)), "fcc100": (fcc100, (3, 3, 3)), "fcc211": (fcc211, (3, 2, 4))}
    builder, size = builders[spec.facet]
    slab = builder(spec.metal, size=size, vacuum=7.0)
    heights = slab.positions[:, 2]
    lower_half = heights < heights.min() + 0.5 * (heights.max() - heights.min())
    slab.set_tags(np.where(lower_half, 0, 1))
    symbols, positions = zip(*ADSORBATES[spec.adsorbate])
    adsorbate = Atoms(symbols, positions=positions, tags=[2] * len(symbols))
    position = tuple(rng.random(2) @ slab.cell[:2, :2])
    add_adsorbate(slab, adsorbate, height=rng.uniform(1.8, 2.4), position=position)
    slab.info.clear()  # drops ASE's adsorbate-site table, which extxyz cannot store
    slab.set_constraint(FixAtoms(mask=slab.get_tags() == 0))
    return slab


def labelled(atoms: Atoms) -> Atoms:
    """A copy of ``atoms`` carrying its EMT energy and forces as stored results."""
    copy = atoms.copy()
    copy.calc = EMT()
    energy, forces = copy.get_potential_energy(), copy.get_forces(apply_constraint=False)
    copy.calc = SinglePointCalculator(copy, energy=energy, forces=forces)
    return copy


def system_frames(spec: SystemSpec, rng: np.random.Generator) -> list[Atoms]:
    """`FRAMES_PER_SYSTEM` labelled frames of one system: relaxation, rattles, MD."""
    atoms = build_system(spec, rng)
    atoms.calc = EMT()
    trajectory = [atoms.copy()]
    optimizer = LBFGS(atoms, logfile=None)
    for _ in optimizer.irun(fmax=0.05, steps=MAX_RELAXATION_STEPS):
        trajectory.append(atoms.copy())
    frames = [labelled(trajectory[k]) for k in (0, len(trajectory) // 2, len(trajectory) - 1)]
    free = atoms.get_tags() > 0  # [N] atoms not held by FixAtoms
    for _ in range(RATTLED_FRAMES):
        rattled = atoms.copy()
        rattled.positions[free] += rng.normal(scale=rng.uniform(0.03, 0.15), size=(free.sum(), 3))
        frames.append(labelled(rattled))
    frames.extend(md_frames(atoms, rng))
    return frames


def md_frames(atoms: Atoms, rng: np.random.Generator) -> list[Atoms]:
    """`MD_FRAMES` labelled snapshots of velocity-Verlet MD, free atoms started at 300-1200 K."""
    atoms = atoms.copy()
    atoms.calc = EMT()
    thermal_energy = units.kB * rng.uniform(300.0, 1200.0)
    free = atoms.get_tags()[:, None] > 0  # [N, 1]
    atoms.set_momenta(rng.normal(size=(len(atoms), 3)) * np.sqrt(atoms.get_masses()[:, None] * thermal_energy) * free)
    dynamics = VelocityVerlet(atoms, timestep=1.0 * units.fs, logfile=None)
    frames = []
    for _ in range(MD_FRAMES):
        dynamics.run(MD_STEPS_BETWEEN_FRAMES)
        frames.append(labelled(atoms))
    return frames


def split_frames(split: str, size: int, seed: int, held_out: set[tuple[str, str]], progress: Progress) -> list[Atoms]:
    """``size`` frames of one split, from systems seeded by (seed, split number, system number)."""
    split_number = list(SPLITS).index(split)
    frames: list[Atoms] = []
    system_number = 0
    while len(frames) < size:
        rng = np.random.default_rng([seed, split_number, system_number])
        spec = system_spec(rng, split == "test_ood", held_out)
        new_frames = system_frames(spec, rng)[: size - len(frames)]
        for frame in new_frames:
            frame.info.update(metal=spec.metal, facet=spec.facet, adsorbate=spec.adsorbate, system=system_number)
        frames.extend(new_frames)
        progress.advance(len(new_frames))
        system_number += 1
    return frames


def generate(out: str | Path, n: int = 1000, seed: int = 0, overwrite: bool = False) -> dict[str, Path]:
    """Write the dataset to ``out`` (module docstring); returns split name -> file path.

    Reuses ``out`` when its manifest records the same ``n`` and ``seed``; refuses to replace a
    different dataset unless ``overwrite``.
    """
    out = Path(out)
    paths = {split: out / f"{split}.extxyz" for split in SPLITS}
    manifest_path = out / "manifest.json"
    manifest = {"generator": "eqv2 data emt", "version": MANIFEST_VERSION, "n": n, "seed": seed}
    manifest["sizes"] = split_sizes(n)
    if manifest_path.exists():
        if json.loads(manifest_path.read_text()) == manifest and all(path.exists() for path in paths.values()):
            print(f"reusing the EMT dataset in {out}", file=sys.stderr)
            return paths
        if not overwrite:
            raise FileExistsError(f"{out} holds another dataset ({manifest_path}); use a new --out or --overwrite")
    out.mkdir(parents=True, exist_ok=True)
    held_out = held_out_pairs(seed)
    progress = Progress(n, f"EMT dataset -> {out}")
    for split, size in manifest["sizes"].items():
        frames = split_frames(split, size, seed, held_out, progress)
        partial = paths[split].with_suffix(".extxyz.partial")
        ase.io.write(partial, frames, format="extxyz")
        os.replace(partial, paths[split])
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return paths
