"""Lazy, random-access datasets of `Structure` over the files DFT data is stored in.

- extxyz / xyz: frames located once by byte offset, each parsed on access (streams files larger
  than memory);
- ASE databases (``.db``): rows fetched by id;
- fairchem ASE-LMDB (``.aselmdb``, OMat24 and newer OC datasets): `eqv2.data.aselmdb`;
- any other file `ase.io.read` understands: read whole on opening.

Labels (energy, forces, stress) come from the calculator results a file stores (extxyz keys named
``energy``/``forces``/``stress``, SinglePointCalculator results in databases) or from the
``info``/``arrays`` keys named in `LabelKeys`. FixAtoms constraints and tags are carried into
`Structure.fixed` and `Structure.tags`. Every structure is named ``"<file>[<index>]"`` and checked by
`eqv2.validation.validate_structure` when it is read.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import ase.db
import ase.io
import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from torch.utils.data import Dataset

from eqv2.batch import Structure
from eqv2.validation import validate_structure


@dataclass(frozen=True)
class ReadOptions:
    """How to read labels and what to require of every structure.

    ``energy_key`` etc. name the label in the calculator results, ``atoms.info`` or ``atoms.arrays``
    (extxyz files written by other codes often use e.g. ``REF_energy``).
    """

    energy_key: str = "energy"
    forces_key: str = "forces"
    stress_key: str = "stress"
    required_labels: tuple[str, ...] = ()
    max_atomic_number: int = 100

    @property
    def label_keys(self) -> dict[str, str]:
        """Label name -> key to look it up under."""
        return {"energy": self.energy_key, "forces": self.forces_key, "stress": self.stress_key}


def structure_from_atoms(atoms: Atoms, name: str, options: ReadOptions = ReadOptions()) -> Structure:
    """A validated `Structure` from ``atoms`` with the labels that ``options`` names."""
    results = {}
    stored = getattr(atoms.calc, "results", None) or {}
    for label, key in options.label_keys.items():
        for source in (stored, atoms.info, atoms.arrays):
            if key in source:
                results[label] = source[key]
                break
    atoms = atoms.copy()  # copy() drops the calculator; the labels found are attached afresh
    atoms.calc = SinglePointCalculator(atoms, **results)
    structure = Structure.from_atoms(atoms, name=name)
    validate_structure(structure, options.max_atomic_number, options.required_labels)
    return structure


class AtomsDataset(Dataset):
    """Base class: a random-access sequence of structures from one file; subclasses implement
    ``__len__`` and ``read_atoms(index)``."""

    def __init__(self, path: str | Path, options: ReadOptions = ReadOptions()) -> None:
        self.path = Path(path)
        self.options = options

    def __len__(self) -> int:
        raise NotImplementedError

    def read_atoms(self, index: int) -> Atoms:
        raise NotImplementedError

    def atom_counts(self) -> np.ndarray:
        """[F] int64 atoms of every structure (subclasses read them without parsing whole structures)."""
        return np.array([len(self.read_atoms(index)) for index in range(len(self))], dtype=np.int64)

    def __getitem__(self, index: int) -> Structure:
        if not -len(self) <= index < len(self):
            raise IndexError(f"{self.path} has {len(self)} structures, index {index} is out of range")
        index = index % len(self)
        return structure_from_atoms(self.read_atoms(index), f"{self.path}[{index}]", self.options)


class ExtxyzDataset(AtomsDataset):
    """An extxyz (or plain xyz) file; frame offsets are found in one pass, frames parsed on access."""

    def __init__(self, path: str | Path, options: ReadOptions = ReadOptions()) -> None:
        super().__init__(path, options)
        self.frames = _xyz_frame_spans(self.path)  # [F, 2] byte offset and length of each frame

    def __len__(self) -> int:
        return len(self.frames)

    def read_atoms(self, index: int) -> Atoms:
        offset, length = self.frames[index]
        with open(self.path, "rb") as handle:
            handle.seek(offset)
            text = handle.read(length).decode()
        return ase.io.read(io.StringIO(text), format="extxyz")

    def atom_counts(self) -> np.ndarray:
        counts = np.zeros(len(self), dtype=np.int64)
        with open(self.path, "rb") as handle:
            for index, offset in enumerate(self.frames[:, 0]):
                handle.seek(offset)
                counts[index] = int(handle.readline().split()[0])
        return counts


def _xyz_frame_spans(path: Path) -> np.ndarray:
    """[F, 2] int64 (byte offset, byte length) of each frame of an xyz file."""
    spans = []
    with open(path, "rb") as handle:
        offset = 0
        while header := handle.readline():
            if not header.strip():
                offset += len(header)
                continue
            try:
                num_atoms = int(header.split()[0])
            except ValueError:
                raise ValueError(f"{path}: expected an atom count at byte {offset}, found {header[:40]!r}") from None
            length = len(header) + sum(len(handle.readline()) for _ in range(num_atoms + 1))
            spans.append((offset, length))
            offset += length
    return np.array(spans, dtype=np.int64).reshape(-1, 2)


class AseDbDataset(AtomsDataset):
    """An ASE database (``.db``, SQLite or JSON); rows are fetched by id on access."""

    def __init__(self, path: str | Path, options: ReadOptions = ReadOptions()) -> None:
        super().__init__(path, options)
        self.ids = [row.id for row in ase.db.connect(self.path).select(include_data=False)]

    def __len__(self) -> int:
        return len(self.ids)

    def read_atoms(self, index: int) -> Atoms:
        return ase.db.connect(self.path).get(id=self.ids[index]).toatoms()

    def atom_counts(self) -> np.ndarray:
        natoms = {row.id: row.natoms for row in ase.db.connect(self.path).select(include_data=False)}
        return np.array([natoms[row_id] for row_id in self.ids], dtype=np.int64)


class AseFileDataset(AtomsDataset):
    """Any other file `ase.io.read` understands (VASP, .traj, .cif, ...), read whole on opening."""

    def __init__(self, path: str | Path, options: ReadOptions = ReadOptions()) -> None:
        super().__init__(path, options)
        self.frames = ase.io.read(self.path, index=":")

    def __len__(self) -> int:
        return len(self.frames)

    def read_atoms(self, index: int) -> Atoms:
        return self.frames[index]
