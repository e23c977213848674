"""The screening commands in one process: streaming output, resume after a crash, settings, errors."""

import functools
from collections import Counter

import ase.io
import numpy as np
import pytest

import eqv2
from eqv2.cli import main
from eqv2.jobs.records import RecordWriter, scan_records
from eqv2.jobs.run import chunk_bounds, shard
from eqv2.jobs.tasks import PredictTask, RelaxTask, StructureFile
from eqv2.potential import Potential
from eqv2.simulate.packing import Budget
from eqv2.simulate.relax import BatchRelaxation


class Crash(Exception):
    """Stands for a kill: raised after a record has been half written."""


def crash_after(monkeypatch, records: int) -> None:
    """Make the record writer write ``records`` whole records, then half of the next, then crash."""
    write, written = RecordWriter.write, []

    def crashing(writer, index, atoms):
        start = writer.handle.tell()
        write(writer, index, atoms)
        if len(written) == records:
            writer.handle.truncate(start + (writer.handle.tell() - start) // 2)
            raise Crash
        written.append(index)

    monkeypatch.setattr(RecordWriter, "write", crashing)


def model_calls(monkeypatch) -> list[tuple[int, ...]]:
    """From now on, the input indices of the structures (named ``structure <index>``) in each model call."""
    calls, forward = [], Potential.forward

    def recording(potential, batch, *args, **kwargs):
        calls.append(tuple(int(name.split()[-1]) for name in batch.names))
        return forward(potential, batch, *args, **kwargs)

    monkeypatch.setattr(Potential, "forward", recording)
    return calls


def run(*arguments) -> int:
    return main([str(argument) for argument in arguments])


@pytest.mark.parametrize(
    "command, options, finished",
    [("predict", ["--max-atoms", "40", "--chunk-size", "5"], 8),  # inputs 5-7 are one batch of chunk 5-9
     ("relax", ["--batch-size", "2", "--chunk-size", "4", "--steps", "10", "--fmax", "0.03"], 6)],
)  # fmt: skip
def test_a_run_resumed_after_a_crash_equals_an_uninterrupted_one(
    command, options, finished, checkpoint, slabs_file, tmp_path, monkeypatch, capsys
):
    full, output, parts = tmp_path / "full.extxyz", tmp_path / "out.extxyz", tmp_path / "out.extxyz.parts"
    uninterrupted_calls = model_calls(monkeypatch)
    assert run(command, checkpoint, slabs_file, "-o", full, *options) == 0
    monkeypatch.undo()
    crash_after(monkeypatch, finished)
    with pytest.raises(Crash):
        run(command, checkpoint, slabs_file, "-o", output, *options)
    monkeypatch.undo()
    scan = scan_records(parts / "rank-0.extxyz")
    assert len(scan.indices) == finished and (parts / "rank-0.extxyz").stat().st_size > scan.end  # a cut record
    capsys.readouterr()
    resumed_calls = model_calls(monkeypatch)
    assert run(command, checkpoint, slabs_file, "-o", output, *options) == 0
    assert output.read_bytes() == full.read_bytes() and not parts.exists()
    assert [a.info["input_index"] for a in ase.io.read(output, index=":")] == list(range(12))
    assert f"{finished} from an earlier run" in capsys.readouterr().err
    # the resumed run repeats only the model calls that held an unfinished input: predict skips a chunk
    # or a batch of finished inputs, relax a chunk of them (4 inputs)
    done = set(scan.indices)
    if command == "predict":
        repeated = [call for call in uninterrupted_calls if not done.issuperset(call)]
    else:
        unfinished_chunks = {index // 4 for index in range(12) if index not in done}
        repeated = [call for call in uninterrupted_calls if call[0] // 4 in unfinished_chunks]
    assert len(repeated) < len(uninterrupted_calls)
    assert Counter(resumed_calls) == Counter(repeated)


def test_other_batches_change_the_last_bits_which_is_why_runs_are_chunked(checkpoint, slabs_file, tmp_path):
    for name, size in (("one", "1"), ("all", "12")):
        assert run("predict", checkpoint, slabs_file, "-o", tmp_path / f"{name}.extxyz", "--batch-size", size) == 0
    assert (tmp_path / "one.extxyz").read_bytes() != (tmp_path / "all.extxyz").read_bytes()
    one, together = (ase.io.read(tmp_path / f"{name}.extxyz", index=":") for name in ("one", "all"))
    for a, b in zip(one, together):
        np.testing.assert_allclose(
            a.get_forces(apply_constraint=False), b.get_forces(apply_constraint=False), atol=1e-6
        )


def test_a_resume_with_other_settings_is_refused(checkpoint, slabs_file, tmp_path, monkeypatch, capsys):
    output = tmp_path / "out.extxyz"
    crash_after(monkeypatch, 2)
    with pytest.raises(Crash):
        run("relax", checkpoint, slabs_file, "-o", output, "--steps", "3", "--max-atoms", "30")
    monkeypatch.undo()
    assert run("relax", checkpoint, slabs_file, "-o", output, "--steps", "4") == 2
    assert "other settings (steps: 3 -> 4)" in capsys.readouterr().err
    assert run("relax", checkpoint, slabs_file, "-o", output, "--steps", "3", "--max-atoms", "40") == 2
    assert "max_atoms=30" in capsys.readouterr().err
    assert run("relax", checkpoint, slabs_file, "-o", output, "--steps", "3") == 0  # the first run's budget


def test_flagged_structures_are_recorded_and_counted(checkpoint, make_slab, tmp_path, capsys):
    structures = [make_slab(0), make_slab(1), make_slab(2)]
    structures[1].positions[-1] = structures[1].positions[-2] + 0.05
    ase.io.write(tmp_path / "in.extxyz", structures)
    assert run("predict", checkpoint, tmp_path / "in.extxyz", "-o", tmp_path / "o.extxyz", "--on-error", "flag") == 0
    flagged = ase.io.read(tmp_path / "o.extxyz", index=":")
    assert "structure 1: atoms" in flagged[1].info["error"] and flagged[1].calc is None
    assert all("energy" in flagged[i].calc.results for i in (0, 2))
    assert "1 failed" in capsys.readouterr().err


def test_adsorbml_screens_every_slab_with_every_adsorbate_and_resumes(
    checkpoint, make_slab, tmp_path, monkeypatch, capsys
):
    ase.io.write(tmp_path / "slabs.extxyz", [make_slab(0, None), make_slab(1, None, repeat=2)])
    options = ["--adsorbate", "O,OH", "--placements", "3", "--top-k", "1", "--steps", "3", "--chunk-size", "1"]
    full, output = tmp_path / "full.extxyz", tmp_path / "out.extxyz"
    assert run("adsorbml", checkpoint, "--slab", tmp_path / "slabs.extxyz", "-o", full, *options) == 0
    records = ase.io.read(full, index=":")
    assert [(r.info["slab"], r.info["adsorbate"]) for r in records] == [
        ("slab 0", "O"), ("slab 0", "OH"), ("slab 1", "O"), ("slab 1", "OH")]  # fmt: skip
    assert all(np.isfinite(r.info["adsorption_energy"]) and r.info["placements"] == 3 for r in records)
    assert [len(r) for r in records] == [13, 14, 25, 26]
    crash_after(monkeypatch, 1)
    with pytest.raises(Crash):
        run("adsorbml", checkpoint, "--slab", tmp_path / "slabs.extxyz", "-o", output, *options)
    monkeypatch.undo()
    capsys.readouterr()
    assert run("adsorbml", checkpoint, "--slab", tmp_path / "slabs.extxyz", "-o", output, *options) == 0
    assert output.read_bytes() == full.read_bytes()
    assert "3 systems screened" in (err := capsys.readouterr().err) and "1 from an earlier run" in err


def test_adsorbml_pairs_each_slab_with_its_own_adsorbate(checkpoint, make_slab, tmp_path, capsys):
    slabs = [make_slab(0, None), make_slab(1, None)]
    slabs[0].info["adsorbate"], slabs[1].info["adsorbate"] = "CO", "H"
    ase.io.write(tmp_path / "pairs.extxyz", slabs)
    options = ["--placements", "2", "--top-k", "1", "--steps", "2", "--mode", "single-point"]
    assert run("adsorbml", checkpoint, "--slab", tmp_path / "pairs.extxyz", "-o", tmp_path / "o.extxyz", *options) == 0
    assert [r.info["adsorbate"] for r in ase.io.read(tmp_path / "o.extxyz", index=":")] == ["CO", "H"]
    assert "lowest adsorption energy" in capsys.readouterr().err


def test_chunks_are_shared_out_in_order_by_atoms():
    atoms = np.array([10, 10, 10, 40, 10, 10, 5, 5])
    owners = [shard(atoms, np.arange(8), 3, rank).tolist() for rank in range(3)]
    assert owners == [[0, 1, 2], [3], [4, 5, 6, 7]]
    assert sorted(sum(owners, [])) == list(range(8))
    assert shard(atoms, np.array([1, 5]), 2, 1).tolist() == [5]
    assert chunk_bounds(10, 4).tolist() == [0, 4, 8, 10]


@pytest.mark.parametrize("command", ["predict", "relax"])
def test_a_chunk_computed_again_gives_its_missing_inputs_bitwise_the_first_results(command, checkpoint, slabs_file):
    potential = eqv2.load(checkpoint)
    structures = StructureFile(slabs_file)
    if command == "predict":
        task = PredictTask(potential, structures)
    else:
        task = RelaxTask(potential, structures, functools.partial(BatchRelaxation, potential, 0.03, 10))
    chunks, budget = [np.arange(0, 6), np.arange(6, 12)], Budget(max_structures=2)
    first = {index: atoms for index, atoms, _ in task.compute(chunks, np.zeros(12, bool), budget)}
    done = np.isin(np.arange(12), [0, 3, 4, 7, 8])
    again = {index: atoms for index, atoms, _ in task.compute(chunks, done, budget) if not done[index]}
    assert sorted(again) == np.nonzero(~done)[0].tolist()
    for index, atoms in again.items():
        assert np.array_equal(atoms.positions, first[index].positions)
        assert np.array_equal(atoms.get_forces(apply_constraint=False), first[index].get_forces(apply_constraint=False))
