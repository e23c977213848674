"""Result files that grow one record at a time and survive a kill: write, scan, truncate, merge.

A record is one extxyz frame whose ``info["input_index"]`` names the input it belongs to. A writer
appends each record with one write and flushes it, so a killed process leaves whole records and
at most one partial record at the end. A frame is whole when its atom-count line and all the lines
it announces are there, each ended by a newline (a cut record always lacks one of them).
"""

from __future__ import annotations

import io
from array import array
from dataclasses import dataclass
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms
from ase.io.extxyz import key_val_str_to_dict

INDEX_KEY = "input_index"


@dataclass
class Scan:
    """The whole records of one file: input index [R], byte offset [R] and length [R]; ``end`` is
    the byte where the last whole record ends (the file's size unless a partial record follows)."""

    indices: np.ndarray
    offsets: np.ndarray
    lengths: np.ndarray
    end: int


def scan_records(path: Path) -> Scan:
    """Locate the whole records of ``path`` (module docstring); a missing file has none."""
    indices, offsets, lengths = array("q"), array("q"), array("q")
    end = 0
    if path.exists():
        with open(path, "rb") as handle:
            while (record := _read_record(handle)) is not None:
                index, length = record
                indices.append(index)
                offsets.append(end)
                lengths.append(length)
                end += length
    return Scan(np.array(indices, np.int64), np.array(offsets, np.int64), np.array(lengths, np.int64), end)


def _read_record(handle) -> tuple[int, int] | None:
    """(input index, byte length) of the whole record at the handle's position, or None."""
    header = handle.readline()
    try:
        num_atoms = int(header) if header.endswith(b"\n") else -1
    except ValueError:
        return None
    comment = handle.readline()
    if num_atoms < 0 or not comment.endswith(b"\n"):
        return None
    length = len(header) + len(comment)
    for _ in range(num_atoms):
        line = handle.readline()
        if not line.endswith(b"\n"):
            return None
        length += len(line)
    index = key_val_str_to_dict(comment.decode()).get(INDEX_KEY)
    return None if index is None else (int(index), length)


def drop_partial_record(path: Path) -> Scan:
    """Cut a partial last record off ``path``; returns its whole records."""
    scan = scan_records(path)
    if path.exists() and path.stat().st_size > scan.end:
        with open(path, "r+b") as handle:
            handle.truncate(scan.end)
    return scan


class RecordWriter:
    """Appends records to a file, each in one write, flushed (module docstring)."""

    def __init__(self, path: Path) -> None:
        self.handle = open(path, "ab")

    def write(self, index: int, atoms: Atoms) -> None:
        atoms.info[INDEX_KEY] = index
        text = io.StringIO()
        ase.io.write(text, atoms, format="extxyz")
        self.handle.write(text.getvalue().encode())
        self.handle.flush()

    def close(self) -> None:
        self.handle.close()

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def merge_records(parts: list[Path], count: int, output: Path) -> None:
    """Write the records of ``parts`` for inputs 0..count-1, in input order, to ``output``.

    Each input's first whole record is taken; a missing one raises `RuntimeError`. The file is
    written beside ``output`` and moved into place when complete.
    """
    source = np.full(count, -1, np.int64)  # [count] the part holding each input's record
    offsets, lengths = np.zeros(count, np.int64), np.zeros(count, np.int64)
    for number, path in enumerate(parts):
        scan = scan_records(path)
        new = np.nonzero(source[scan.indices] < 0)[0] if len(scan.indices) else np.zeros(0, np.int64)
        _, first = np.unique(scan.indices[new], return_index=True)
        chosen = new[first]
        source[scan.indices[chosen]] = number
        offsets[scan.indices[chosen]], lengths[scan.indices[chosen]] = scan.offsets[chosen], scan.lengths[chosen]
    missing = np.nonzero(source < 0)[0]
    if len(missing):
        raise RuntimeError(f"no result for input {missing[0]} (and {len(missing) - 1} more) in {parts}")
    handles = [open(path, "rb") for path in parts]
    partial = output.with_name(output.name + ".merging")
    try:
        with open(partial, "wb") as out:
            for index in range(count):
                handle = handles[source[index]]
                handle.seek(offsets[index])
                out.write(handle.read(lengths[index]))
    finally:
        for handle in handles:
            handle.close()
    partial.replace(output)
