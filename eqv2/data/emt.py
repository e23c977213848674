"""The built-in OC20-like S2EF dataset, labelled with ASE's EMT calculator.

Three kinds of *system*, each giving `FRAMES_PER_SYSTEM` frames (the start, middle and end of an
EMT relaxation, rattled copies of the relaxed structure and snapshots of a short hot MD run):

- ``slab``: one or two copies of an adsorbate (`ADSORBATES`: H ... CHO) on an fcc(111), (100) or
  (211) slab of Cu, Ag, Au, Ni, Pd, Pt or Al. The seed draws the surface cell (2x2 to 4x4,
  rectangular ones too, each facet its own list), the layer count (3 to 5), the vacuum (6 to 12 Å
  on each side) and the coverage (1 or 2 adsorbates). The lower half of the slab is held by
  FixAtoms. Tags follow OC20: 0 fixed subsurface, 1 free surface, 2 adsorbate.
- ``bulk``: a strained (up to 4 % per component) and rattled fcc or bcc crystal of one metal,
  24 to 32 atoms, periodic in 3D, with EMT's stress as a label. Its rattled copies are each strained
  anew, so the bulk frames span a range of volumes and the energy-volume curve can be learned.
- ``molecule``: one adsorbate alone in a box of vacuum, non-periodic or periodic (then with stress);
  the molecule systems of a split take the adsorbates in turn, so ``train`` has every one.

Splits (`SPLITS`): ``train``/``val``/``test`` draw all three kinds from the in-distribution
metal/adsorbate pairs and the training slab sizes (`SURFACE_CELLS`, `LAYERS`); ``test_ood`` draws
slabs of held-out pairs (each adsorbate held out on one metal, chosen by the seed); ``test_size``
draws slabs of in-distribution pairs whose surface cell and layer count no training slab has.
Every system is seeded from (seed, split, system number), so the output depends only on ``n`` and
``seed``. Files: ``<split>.extxyz`` (energy, forces and stress as calculator results, FixAtoms as
``move_mask``, tags, the system's description in the frame's info) and ``manifest.json``; an output
directory whose manifest matches is reused.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms, units
from ase.build import add_adsorbate, bulk, fcc100, fcc111, fcc211
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.constraints import FixAtoms
from ase.md.verlet import VelocityVerlet
from ase.optimize import LBFGS
from tqdm import tqdm

from eqv2.adsorbates import ADSORBATES, adsorbate_atoms
from eqv2.progress import progress_bar

METALS = ("Cu", "Ag", "Au", "Ni", "Pd", "Pt", "Al")
FACETS = ("fcc111", "fcc100", "fcc211")
LATTICES = ("fcc", "bcc")
SPLITS = {"train": 0.7, "val": 0.075, "test": 0.075, "test_ood": 0.075, "test_size": 0.075}  # fraction of n
KIND_SHARES = {"slab": 0.75, "bulk": 0.15, "molecule": 0.10}  # of the systems of train, val and test
# facet -> (training surface cells, test_size surface cells), in repeats of the facet's surface unit
# (fcc211: atoms along the step, a multiple of 3, and rows of steps)
SURFACE_CELLS = {
    "fcc111": (((2, 2), (2, 3), (3, 2), (3, 3), (4, 2)), ((3, 4), (4, 3), (4, 4))),
    "fcc100": (((2, 2), (2, 3), (3, 2), (3, 3), (4, 2)), ((3, 4), (4, 3), (4, 4))),
    "fcc211": (((3, 2), (3, 3)), ((3, 4), (6, 2))),
}
LAYERS = ((3, 4), (5,))  # (training, test_size) layer counts of every facet
VACUUM = (6.0, 12.0)  # Å of vacuum on each side of a slab
MAX_ADSORBATES = 2
MIN_ADSORBATE_SPACING = 2.5  # Å, lateral, between the binding atoms of two adsorbates (nearest image)
BULK_SUPERCELLS = {
    ("fcc", True): (2, 2, 2),
    ("fcc", False): (3, 3, 3),
    ("bcc", True): (2, 2, 3),
    ("bcc", False): (3, 3, 3),
}
MAX_STRAIN = 0.04  # largest strain component of a bulk cell
MOLECULE_VACUUM = 6.0  # Å around a molecule in its box
RELAXATION_FRAMES = 3  # first, middle and last step of the relaxation
RATTLED_FRAMES = 3
MD_FRAMES = 3
FRAMES_PER_SYSTEM = RELAXATION_FRAMES + RATTLED_FRAMES + MD_FRAMES
MAX_RELAXATION_STEPS = 40
MD_STEPS_BETWEEN_FRAMES = 8
MANIFEST_VERSION = 3


@dataclass(frozen=True)
class SlabSpec:
    """``coverage`` copies of an adsorbate on a slab; ``surface_cell``/``layers`` None: the facet's default
    (3x3 and 3 layers; 3x2 and 4 layers for fcc211)."""

    metal: str
    facet: str
    adsorbate: str
    surface_cell: tuple[int, int] | None = None
    layers: int | None = None
    vacuum: float = 7.0  # Å on each side
    coverage: int = 1


@dataclass(frozen=True)
class BulkSpec:
    """A supercell of the cubic (or primitive) fcc or bcc cell of ``metal``, strained and rattled."""

    metal: str
    lattice: str
    cubic: bool


@dataclass(frozen=True)
class MoleculeSpec:
    """One adsorbate alone in a box of vacuum, periodic or not."""

    adsorbate: str
    periodic: bool


SystemSpec = SlabSpec | BulkSpec | MoleculeSpec


def held_out_pairs(seed: int) -> set[tuple[str, str]]:
    """(metal, adsorbate) pairs reserved for ``test_ood``: each adsorbate on one metal."""
    metals = np.random.default_rng([seed, 99]).permutation(len(METALS))
    return {(METALS[metals[k % len(METALS)]], name) for k, name in enumerate(ADSORBATES)}


def split_sizes(n: int) -> dict[str, int]:
    """Structures per split; every split gets at least one when n >= 5, rounding goes to train."""
    sizes = {name: max(int(fraction * n), 1 if n >= len(SPLITS) else 0) for name, fraction in SPLITS.items()}
    sizes["train"] = n - sum(size for name, size in sizes.items() if name != "train")
    return sizes


def draw_spec(rng: np.random.Generator, split: str, held_out: set[tuple[str, str]], molecule: str) -> SystemSpec:
    """A random system of ``split`` (module docstring); ``molecule`` is the adsorbate a molecule system gets."""
    if split in ("test_ood", "test_size"):
        kind = "slab"
    else:
        kind = rng.choice(list(KIND_SHARES), p=list(KIND_SHARES.values()))
    if kind == "bulk":
        return BulkSpec(METALS[rng.integers(len(METALS))], LATTICES[rng.integers(len(LATTICES))], bool(rng.integers(2)))
    if kind == "molecule":
        return MoleculeSpec(molecule, bool(rng.integers(2)))
    out_of_distribution = split == "test_ood"
    pairs = sorted(
        (metal, name) for metal in METALS for name in ADSORBATES if ((metal, name) in held_out) == out_of_distribution
    )
    metal, adsorbate = pairs[rng.integers(len(pairs))]
    facet = FACETS[rng.integers(len(FACETS))]
    size_test = int(split == "test_size")
    cells, layers = SURFACE_CELLS[facet][size_test], LAYERS[size_test]
    return SlabSpec(
        metal,
        facet,
        adsorbate,
        surface_cell=cells[rng.integers(len(cells))],
        layers=layers[rng.integers(len(layers))],
        vacuum=float(rng.uniform(*VACUUM)),
        coverage=int(rng.integers(1, MAX_ADSORBATES + 1)),
    )


def build_system(spec: SystemSpec, rng: np.random.Generator) -> Atoms:
    """The starting structure of a system (before relaxation)."""
    if isinstance(spec, SlabSpec):
        return build_slab(spec, rng)
    if isinstance(spec, BulkSpec):
        return build_bulk(spec, rng)
    return build_molecule(spec, rng)


def build_slab(spec: SlabSpec, rng: np.random.Generator) -> Atoms:
    """The slab with ``coverage`` adsorbates, each turned about the normal at random and placed at a
    random point 1.8-2.4 Å above the top layer (binding atoms at least `MIN_ADSORBATE_SPACING` apart)."""
    builder = {"fcc111": fcc111, "fcc100": fcc100, "fcc211": fcc211}[spec.facet]
    default_cell, default_layers = ((3, 2), 4) if spec.facet == "fcc211" else ((3, 3), 3)
    size = (*(spec.surface_cell or default_cell), spec.layers or default_layers)
    slab = builder(spec.metal, size=size, vacuum=spec.vacuum)
    heights = slab.positions[:, 2]
    lower_half = heights < heights.min() + 0.5 * (heights.max() - heights.min())
    slab.set_tags(np.where(lower_half, 0, 1))
    for point in adsorbate_points(slab.cell[:2, :2], spec.coverage, rng):
        adsorbate = adsorbate_atoms(spec.adsorbate)
        adsorbate.rotate(rng.uniform(0.0, 360.0), "z")
        adsorbate.set_tags(2)
        add_adsorbate(slab, adsorbate, height=rng.uniform(1.8, 2.4), position=tuple(point))
    slab.info.clear()  # drops ASE's adsorbate-site table, which extxyz cannot store
    slab.set_constraint(FixAtoms(mask=slab.get_tags() == 0))
    return slab


def adsorbate_points(surface_cell: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """[count, 2] random points (Å) of the 2D cell [2, 2], pairwise at least `MIN_ADSORBATE_SPACING`
    apart between nearest periodic images; the candidate farthest from the chosen ones when none is."""
    points = [rng.random(2) @ surface_cell]
    images = np.array([(i, j) for i in (-1, 0, 1) for j in (-1, 0, 1)]) @ surface_cell  # [9, 2]
    while len(points) < count:
        candidates = rng.random((64, 2)) @ surface_cell  # [64, 2]
        differences = candidates[:, None, None, :] - np.asarray(points)[None, :, None, :] - images[None, None]
        spacing = np.linalg.norm(differences, axis=-1).min(axis=(1, 2))  # [64]
        far_enough = np.nonzero(spacing >= MIN_ADSORBATE_SPACING)[0]
        points.append(candidates[far_enough[0] if len(far_enough) else np.argmax(spacing)])
    return np.asarray(points)


def build_bulk(spec: BulkSpec, rng: np.random.Generator) -> Atoms:
    """The supercell at the fcc metal's atomic volume, strained by a random symmetric strain (components
    up to `MAX_STRAIN`) and rattled by 0.02-0.1 Å."""
    crystal = bulk(spec.metal, spec.lattice, a=fcc_volume_constant(spec.metal, spec.lattice), cubic=spec.cubic)
    crystal = crystal.repeat(BULK_SUPERCELLS[(spec.lattice, spec.cubic)])
    crystal.set_cell(crystal.cell[:] @ random_strain(rng), scale_atoms=True)
    crystal.positions += rng.normal(scale=rng.uniform(0.02, 0.1), size=crystal.positions.shape)
    crystal.set_tags(1)
    return crystal


def fcc_volume_constant(metal: str, lattice: str) -> float:
    """Cubic lattice constant (Å) of ``metal``'s ``lattice`` ("fcc" or "bcc") at the atomic volume of its fcc
    cell in ASE's reference data."""
    fcc_constant = bulk(metal, "fcc", cubic=True).cell.lengths()[0]
    return fcc_constant if lattice == "fcc" else fcc_constant / 2 ** (1 / 3)  # bcc: 2 atoms per cubic cell, fcc 4


def random_strain(rng: np.random.Generator, max_strain: float = MAX_STRAIN) -> np.ndarray:
    """[3, 3] deformation 1 + e, e symmetric with components up to ``max_strain`` (cell rows: cell @ (1 + e))."""
    strain = rng.uniform(-max_strain, max_strain, size=(3, 3))
    return np.eye(3) + 0.5 * (strain + strain.T)


def build_molecule(spec: MoleculeSpec, rng: np.random.Generator) -> Atoms:
    """The adsorbate turned at random, `MOLECULE_VACUUM` from every face of its box."""
    molecule = adsorbate_atoms(spec.adsorbate)
    molecule.rotate(rng.uniform(0.0, 180.0), rng.normal(size=3))
    molecule.center(vacuum=MOLECULE_VACUUM)
    molecule.pbc = spec.periodic
    molecule.set_tags(2)
    return molecule


def labelled(atoms: Atoms) -> Atoms:
    """A copy of ``atoms`` carrying its EMT energy and forces, and its stress when periodic in 3D."""
    copy = atoms.copy()
    copy.calc = EMT()
    results = {"energy": copy.get_potential_energy(), "forces": copy.get_forces(apply_constraint=False)}
    if copy.pbc.all():
        results["stress"] = copy.get_stress()
    copy.calc = SinglePointCalculator(copy, **results)
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
        if isinstance(spec, BulkSpec):
            rattled.set_cell(rattled.cell[:] @ random_strain(rng), scale_atoms=True)
        rattled.positions[free] += rng.normal(scale=rng.uniform(0.03, 0.15), size=(free.sum(), 3))
        frames.append(labelled(rattled))
    frames.extend(md_frames(atoms, rng))
    for frame in frames:
        frame.info.update(description(spec))
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


def description(spec: SystemSpec) -> dict[str, str | int | float]:
    """The frame info keys of a system: ``kind`` and the spec's fields (a surface cell as "3x2")."""
    if isinstance(spec, SlabSpec):
        cell = "x".join(map(str, spec.surface_cell)) if spec.surface_cell else ""
        return dict(kind="slab", metal=spec.metal, facet=spec.facet, adsorbate=spec.adsorbate, surface_cell=cell,
                    layers=spec.layers or 0, vacuum=spec.vacuum, coverage=spec.coverage)  # fmt: skip
    if isinstance(spec, BulkSpec):
        return dict(kind="bulk", metal=spec.metal, lattice=spec.lattice, cubic=int(spec.cubic))
    return dict(kind="molecule", adsorbate=spec.adsorbate, periodic=int(spec.periodic))


def split_specs(
    split: str, seed: int, held_out: set[tuple[str, str]]
) -> Iterator[tuple[np.random.Generator, SystemSpec]]:
    """The systems of ``split`` in order: each one's random generator, seeded by (seed, split number,
    system number), and its spec.

    Molecule systems take the adsorbates in turn, in an order shuffled by (seed, split number): a
    split with at least `len(ADSORBATES)` molecule systems has every molecule that another split has.
    """
    split_number = list(SPLITS).index(split)
    molecules = [str(name) for name in np.random.default_rng([seed, split_number]).permutation(sorted(ADSORBATES))]
    molecule_number = 0
    for system_number in itertools.count():
        rng = np.random.default_rng([seed, split_number, system_number])
        spec = draw_spec(rng, split, held_out, molecules[molecule_number % len(molecules)])
        molecule_number += isinstance(spec, MoleculeSpec)
        yield rng, spec


def split_frames(split: str, size: int, seed: int, held_out: set[tuple[str, str]], progress: tqdm) -> list[Atoms]:
    """``size`` frames of one split (`split_specs`), `FRAMES_PER_SYSTEM` per system (fewer for the last)."""
    frames: list[Atoms] = []
    for system_number, (rng, spec) in enumerate(split_specs(split, seed, held_out)):
        if len(frames) >= size:
            break
        new_frames = system_frames(spec, rng)[: size - len(frames)]
        for frame in new_frames:
            frame.info["system"] = system_number
        frames.extend(new_frames)
        progress.update(len(new_frames))
    return frames


def generate(out: str | Path, n: int = 1000, seed: int = 0, overwrite: bool = False) -> dict[str, Path]:
    """Write the dataset to ``out`` (module docstring); returns split name -> file path.

    Reuses ``out`` when its manifest records the same version, ``n`` and ``seed``; refuses to replace
    a different dataset (an older generator's included) unless ``overwrite``.
    """
    out = Path(out)
    paths = {split: out / f"{split}.extxyz" for split in SPLITS}
    manifest = {"generator": "eqv2 data emt", "version": MANIFEST_VERSION, "n": n, "seed": seed}
    manifest["sizes"] = split_sizes(n)
    if reusable_output(out, manifest, list(paths.values()), overwrite):
        return paths
    held_out = held_out_pairs(seed)
    with progress_bar(n, f"EMT dataset -> {out}", "frame") as progress:
        for split, size in manifest["sizes"].items():
            frames = split_frames(split, size, seed, held_out, progress)
            partial = paths[split].with_suffix(".extxyz.partial")
            ase.io.write(partial, frames, format="extxyz")
            os.replace(partial, paths[split])
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return paths


def reusable_output(out: Path, manifest: dict, paths: list[Path], overwrite: bool) -> bool:
    """Whether ``out`` already holds ``paths`` written under ``manifest`` (its ``manifest.json``): then True.

    Otherwise makes ``out`` and returns False, so that the caller writes the data and then the manifest. An
    ``out`` whose manifest records other data raises FileExistsError naming both, unless ``overwrite``.
    """
    manifest_path = out / "manifest.json"
    if manifest_path.exists():
        found = json.loads(manifest_path.read_text())
        if found == manifest and all(path.exists() for path in paths):
            print(f"reusing the data of {manifest['generator']} in {out}", file=sys.stderr)
            return True
        if not overwrite:
            described = ", ".join(f"{key} {found.get(key)}" for key in manifest if key != "sizes")
            wanted = ", ".join(f"{key} {value}" for key, value in manifest.items() if key != "sizes")
            raise FileExistsError(
                f"{out} holds other data ({manifest_path}: {described}; asked for: {wanted}); "
                "use a new --out or --overwrite"
            )
    out.mkdir(parents=True, exist_ok=True)
    return False
