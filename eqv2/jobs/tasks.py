"""What ``eqv2 predict``, ``eqv2 relax`` and ``eqv2 adsorbml`` compute for a chunk of inputs
(`eqv2.jobs.run.Task`), over structures read one at a time from a file."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator as AseCalculator

from eqv2.adsorbates import adsorbate_atoms
from eqv2.data.datasets import open_dataset
from eqv2.jobs.run import FAILED
from eqv2.potential import Potential
from eqv2.simulate.adsorbml import Screening, placements, screen_many
from eqv2.simulate.packing import Budget, Cost, call_path, default_budget, pack, structure_cost
from eqv2.simulate.prediction import attach_results, named_structure, predict_stream
from eqv2.simulate.relax import BatchRelaxation, RelaxationStream, RelaxResult, relax_streams
from eqv2.validation import LAST_ELEMENT, DataError, has_element_symbols, validate_structure

REFILLED_CHUNK_BATCHES = 8  # a relaxation chunk holds the inputs of this many batches, to keep its batch full
SAMPLED_BATCHES = 8  # the first batches packed to count the inputs per batch


class StructureFile:
    """The structures of one file, each read when asked for (extxyz, .db and .aselmdb lazily;
    other formats whole, `eqv2.data.open_dataset`)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.dataset = open_dataset(self.path)

    def __len__(self) -> int:
        return len(self.dataset)

    def atoms(self, index: int) -> Atoms:
        """The structure at ``index``. One with an atomic number ASE has no element for raises `DataError`
        even where invalid structures are flagged: its record could not be written."""
        atoms = self.dataset.read_atoms(int(index))
        if not has_element_symbols(atoms.numbers):
            validate_structure(named_structure(atoms, index), LAST_ELEMENT)
        return atoms

    def items(self, indices: Iterable[int]) -> Iterator[tuple[int, Atoms]]:
        return ((int(index), self.atoms(index)) for index in indices)

    def atom_counts(self) -> np.ndarray:
        return self.dataset.atom_counts()


def first_batches(potential: Potential, items: Iterable[tuple[Hashable, Atoms]], budget: Budget) -> list[list]:
    """The first `SAMPLED_BATCHES` batches of (key, atoms) ``items`` packed within ``budget`` (invalid ones
    count as their atoms only)."""

    def cost(item: tuple[Hashable, Atoms]) -> Cost:
        return structure_cost(potential, named_structure(item[1], item[0]), raise_invalid=False)

    return list(islice(pack(items, cost, budget), SAMPLED_BATCHES))


def mean_inputs_per_batch(potential: Potential, items: Iterable[tuple[Hashable, Atoms]], budget: Budget) -> float:
    """Inputs per batch over the `first_batches` of ``items``."""
    batches = first_batches(potential, items, budget)
    return sum(map(len, batches)) / max(len(batches), 1)


@dataclass
class StructureTask:
    """What `PredictTask` and `RelaxTask` share: one input, and one record, per structure of a file."""

    potential: Potential
    structures: StructureFile

    def atom_counts(self) -> np.ndarray:
        return self.structures.atom_counts()

    def inputs_per_batch(self, budget: Budget) -> float:
        return mean_inputs_per_batch(self.potential, self.structures.items(range(len(self.structures))), budget)


@dataclass
class PredictTask(StructureTask):
    """Energies, forces and stress (`eqv2.simulate.prediction.predict_stream`), one record per structure."""

    forces: str = "direct"
    stress: bool = True
    on_error: str = "raise"
    command: str = "predict"
    batches_per_chunk: int = 1  # no batch is refilled: chunks of about a batch share the work out finest

    def default_budget(self, processes: int) -> Budget:
        """Any batch may hold a 3D-periodic cell, so asking for the stress sets the path."""
        return default_budget(self.potential, call_path(self.potential, self.forces, self.stress), processes)

    def compute(
        self, chunks: Iterable[np.ndarray], done: np.ndarray, budget: Budget
    ) -> Iterator[tuple[int, Atoms, str]]:
        for chunk in chunks:
            items = self.structures.items(chunk)
            stream = predict_stream(
                self.potential, items, budget, self.forces, self.stress, self.on_error, skip=lambda key: done[key]
            )
            for index, atoms, result in stream:
                yield index, attach_results(atoms, result), FAILED if "error" in result else "done"


@dataclass
class RelaxTask(StructureTask):
    """Relaxations (`eqv2.simulate.relax`), one record per structure: its final frame."""

    relaxation: Callable[[], BatchRelaxation]  # a new one for each chunk
    trajectory_dir: Path | None = None  # each structure's frames go to DIR/<input index>.extxyz
    command: str = "relax"
    batches_per_chunk: int = REFILLED_CHUNK_BATCHES

    def default_budget(self, processes: int) -> Budget:
        relaxation = self.relaxation()
        path = call_path(self.potential, relaxation.forces, relaxation.relax_cell)
        return default_budget(self.potential, path, processes)

    def compute(
        self, chunks: Iterable[np.ndarray], done: np.ndarray, budget: Budget
    ) -> Iterator[tuple[int, Atoms, str]]:
        streams = (RelaxationStream(self.relaxation(), self.structures.items(chunk), budget) for chunk in chunks)
        for index, result in relax_streams(streams):
            if self.trajectory_dir is not None and not done[index]:
                self.trajectory_dir.mkdir(parents=True, exist_ok=True)
                ase.io.write(self.trajectory_dir / f"{index:04d}.extxyz", result.trajectory, format="extxyz")
            yield index, result.atoms, relax_outcome(result)


def relax_outcome(result: RelaxResult) -> str:
    return FAILED if result.error else "converged" if result.converged else "not converged"


@dataclass
class AdsorbmlTask:
    """AdsorbML screening (`eqv2.simulate.adsorbml.screen_many`) of systems = slab x adsorbate, one
    record per system: its best reference structure with the outcome in ``info`` (`screening_record`)."""

    potential: Potential
    slabs: StructureFile
    adsorbates: list[str] | None  # every slab with each of them; None: the one in each slab's info["adsorbate"]
    calculator: Callable[[], AseCalculator]
    num_placements: int = 20
    top_k: int = 5
    mode: str = "relax"
    optimizer: str = "fire"
    fmax: float = 0.05
    steps: int = 300
    seed: int = 0
    command: str = "adsorbml"
    batches_per_chunk: int = REFILLED_CHUNK_BATCHES

    def __len__(self) -> int:
        return len(self.slabs) * (len(self.adsorbates) if self.adsorbates is not None else 1)

    def system(self, index: int) -> tuple[Atoms, str]:
        """The slab (named ``slab <i>`` unless ``info["name"]`` says) and adsorbate of system ``index``;
        systems run slab-major when adsorbates are listed."""
        slab_index, adsorbate = divmod(int(index), len(self.adsorbates)) if self.adsorbates else (int(index), 0)
        slab = self.slabs.atoms(slab_index)
        slab.info.setdefault("name", f"slab {slab_index}")
        if self.adsorbates:
            return slab, self.adsorbates[adsorbate]
        if "adsorbate" not in slab.info:
            raise DataError(f"{slab.info['name']}: no info['adsorbate'] to pair the slab with (or give --adsorbate)")
        return slab, str(slab.info["adsorbate"])

    def systems(self, indices: Iterable[int]) -> Iterator[tuple[int, Atoms, str]]:
        return ((int(index), *self.system(index)) for index in indices)

    def atom_counts(self) -> np.ndarray:
        per_slab = self.slabs.atom_counts()
        if self.adsorbates is None:
            return per_slab + 1
        return (per_slab[:, None] + [len(adsorbate_atoms(name)) for name in self.adsorbates]).reshape(-1)

    def default_budget(self, processes: int) -> Budget:
        return default_budget(self.potential, "direct", processes)  # placements relax on direct forces, no stress

    def inputs_per_batch(self, budget: Budget) -> float:
        """Systems over the `first_batches` of their placements (a system may span two batches)."""
        items = (
            ((index, number), atoms)
            for index, slab, adsorbate in self.systems(range(len(self)))
            for number, atoms in enumerate(placements(slab, adsorbate, self.num_placements, self.seed))
        )
        batches = first_batches(self.potential, items, budget)
        return len({key[0] for batch in batches for key, _ in batch}) / max(len(batches), 1)

    def compute(
        self, chunks: Iterable[np.ndarray], done: np.ndarray, budget: Budget
    ) -> Iterator[tuple[int, Atoms, str]]:
        screenings = screen_many(
            self.potential, (self.systems(chunk) for chunk in chunks), budget, self.num_placements, self.top_k,
            self.calculator, self.mode, self.optimizer, self.fmax, self.steps, self.seed,
        )  # fmt: skip
        for index, screening in screenings:
            slab, adsorbate = self.system(index)
            record = screening_record(screening, slab, adsorbate)
            yield index, record, FAILED if screening.best is None else "done"


def screening_record(screening: Screening, slab: Atoms, adsorbate: str) -> Atoms:
    """One system's record: the best reference structure (the clean slab when no placement survived),
    with the screening's outcome in ``info``."""
    best = screening.best
    atoms = screening.reference[best].atoms.copy() if best is not None else slab.copy()
    atoms.info = {
        "slab": str(slab.info.get("name", "")),
        "adsorbate": adsorbate,
        "adsorption_energy": screening.adsorption_energy,
        "slab_energy": screening.slab_energy,
        "gas_energy": screening.gas_energy,
        "placements": len(screening.placements),
        "anomalous": sum(a is not None for a in screening.model_anomalies),
        "reference_calls": screening.reference_calls,
    }
    if best is None:
        atoms.info["error"] = f"{atoms.info['slab']}: every placement of {adsorbate} failed or ended anomalous"
        return atoms
    placement = screening.placements[best]
    atoms.info.update(
        best_placement=best,
        site=placement.info["site"],
        angle=placement.info["angle"],
        model_energy=screening.model[best].energy,
        reference_energy=screening.reference[best].energy,
    )
    return atoms
