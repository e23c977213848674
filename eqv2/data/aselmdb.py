"""fairchem's ASE-LMDB files (``.aselmdb``): the storage of OMat24 and the newer OC datasets.

Layout: one LMDB file (not a directory). Row ``k`` (ids 1, 2, ...) is stored under the ASCII key
``b"k"`` as zlib-compressed JSON of an ASE database row (``numbers``, ``positions``, ``cell``,
``pbc``, optional ``energy``/``forces``/``stress``, ``constraints``, ``tags``, ``key_value_pairs``,
``data``, ...). Reserved keys: ``nextid`` (one past the last id), ``deleted_ids`` (a JSON list) and
``metadata``. Arrays are plain nested lists or ASE's ``{"__ndarray__": ...}`` encoding.

Needs the ``lmdb`` package (PyPI).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.db.row import AtomsRow
from ase.io.jsonio import decode

from eqv2.data.readers import AtomsDataset, ReadOptions

_MAP_SIZE = 1 << 40  # bytes of address space reserved for a file being written (not allocated)


def _import_lmdb():
    try:
        import lmdb
    except ImportError:
        raise ImportError("reading or writing .aselmdb files needs the lmdb package: pip install lmdb") from None
    return lmdb


def _load(value: bytes):
    return decode(zlib.decompress(value).decode())


def _dump(value) -> bytes:
    return zlib.compress(json.dumps(value, default=_json_default).encode())


def _json_default(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in an .aselmdb row")


class AseLmdbDataset(AtomsDataset):
    """An ``.aselmdb`` file read lazily; the file is opened read-only for each access, so the dataset
    pickles to DataLoader workers and several datasets may read one file."""

    def __init__(self, path: str | Path, options: ReadOptions = ReadOptions()) -> None:
        super().__init__(path, options)
        next_id, deleted = self._get(b"nextid"), self._get(b"deleted_ids")
        deleted_ids = set(_load(deleted)) if deleted is not None else set()
        self.ids = [i for i in range(1, _load(next_id) if next_id is not None else 1) if i not in deleted_ids]

    def _get(self, key: bytes) -> bytes | None:
        """The stored value of ``key``, None when absent."""
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path} is not an .aselmdb file")
        lmdb = _import_lmdb()
        with lmdb.open(str(self.path), subdir=False, readonly=True, lock=False, readahead=False) as environment:
            with environment.begin() as transaction:
                return transaction.get(key)

    def __len__(self) -> int:
        return len(self.ids)

    def read_atoms(self, index: int) -> Atoms:
        value = self._get(str(self.ids[index]).encode("ascii"))
        if value is None:
            raise KeyError(f"{self.path}: row id {self.ids[index]} is missing")
        return AtomsRow(_load(value)).toatoms()


def write_aselmdb(path: str | Path, images: Iterable[Atoms]) -> int:
    """Write ``images`` (with their calculator results, constraints and tags) as a new ``.aselmdb``
    file; returns the number of rows."""
    lmdb = _import_lmdb()
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} exists; write_aselmdb makes new files only")
    environment = lmdb.open(str(path), subdir=False, map_size=_MAP_SIZE)
    count = 0
    with environment.begin(write=True) as transaction:
        for count, atoms in enumerate(images, start=1):
            transaction.put(str(count).encode("ascii"), _dump(_row_dict(atoms)))
        transaction.put(b"nextid", _dump(count + 1))
    environment.close()
    return count


def _row_dict(atoms: Atoms) -> dict:
    """The JSON-ready dictionary of one database row."""
    row = {
        "numbers": atoms.numbers,
        "positions": atoms.positions,
        "cell": np.asarray(atoms.cell),
        "pbc": atoms.pbc,
        "tags": atoms.get_tags(),
        "constraints": [constraint.todict() for constraint in atoms.constraints],
        "key_value_pairs": {},
        "data": {},
    }
    results = getattr(atoms.calc, "results", None) or {}
    row.update({key: results[key] for key in ("energy", "forces", "stress") if key in results})
    return row
