import ase.io
import numpy as np
import pytest
from ase.build import molecule

from eqv2.jobs.records import RecordWriter, drop_partial_record, merge_records, scan_records


def write(path, indices):
    with RecordWriter(path) as writer:
        for index in indices:
            atoms = molecule("H2O" if index % 2 else "CH4")
            atoms.positions += index
            writer.write(index, atoms)


def test_records_are_found_with_their_input_index(tmp_path):
    path = tmp_path / "rank-0.extxyz"
    write(path, [3, 0, 7])
    scan = scan_records(path)
    assert scan.indices.tolist() == [3, 0, 7] and scan.end == path.stat().st_size
    assert [a.info["input_index"] for a in ase.io.read(path, index=":")] == [3, 0, 7]
    assert scan.offsets.tolist() == [0, *np.cumsum(scan.lengths)[:-1].tolist()]


def test_a_cut_record_is_dropped_wherever_the_cut_falls(tmp_path):
    path = tmp_path / "rank-0.extxyz"
    write(path, [0, 1, 2])
    whole = path.read_bytes()
    last = scan_records(path)
    start = int(last.offsets[2])
    lines = whole[start:].split(b"\n")
    line_ends = np.cumsum([len(line) + 1 for line in lines[:-2]]).tolist()  # cuts just after a newline
    for cut in sorted({1, 5, len(lines[0]), *line_ends, len(whole) - start - 1}):
        path.write_bytes(whole[: start + cut])
        scan = drop_partial_record(path)
        assert scan.indices.tolist() == [0, 1], cut
        assert path.read_bytes() == whole[:start]
    path.write_bytes(whole)
    assert drop_partial_record(path).indices.tolist() == [0, 1, 2] and path.read_bytes() == whole


def test_merge_orders_by_input_takes_the_first_record_and_needs_every_input(tmp_path):
    write(tmp_path / "rank-0.extxyz", [2, 0])
    write(tmp_path / "rank-1.extxyz", [1, 3, 0])
    parts = [tmp_path / "rank-0.extxyz", tmp_path / "rank-1.extxyz"]
    merge_records(parts, 4, tmp_path / "out.extxyz")
    merged = ase.io.read(tmp_path / "out.extxyz", index=":")
    assert [a.info["input_index"] for a in merged] == [0, 1, 2, 3]
    first_zero = scan_records(parts[0])
    assert (tmp_path / "out.extxyz").read_bytes().startswith(parts[0].read_bytes()[first_zero.offsets[1] :])
    with pytest.raises(RuntimeError, match="no result for input 4"):
        merge_records(parts, 5, tmp_path / "out.extxyz")
