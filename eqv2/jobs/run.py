"""One job: inputs cut into chunks, chunks shared out over torchrun ranks, results
appended as they finish, a resume after a kill, and the merge into one output file in input order.

Files, for an output ``out.extxyz``: while the run is unfinished, ``out.extxyz.parts/`` holds
``run.json`` (the settings the results depend on, the batch budget and the chunk size) and one
record file per rank, ``rank-<r>.extxyz`` (`eqv2.jobs.records`). When every input has its
record, rank 0 writes ``out.extxyz`` in input order and removes the directory.

Chunks: which structures share a batch changes a structure's result in the last bits (the CPU's
matrix products round differently for different row counts), so the batches must not depend on
how a run is split up. The inputs are cut into chunks of ``chunk_size`` consecutive inputs, and
every chunk is batched on its own: predictions are packed within the chunk, relaxations refill
their batch from the chunk only (`eqv2.simulate.relax.RelaxationStream`). A chunk's results thus
depend only on its inputs, the budget and the settings, whichever rank computes it and whenever.

Resume: a run that finds ``out.extxyz.parts/`` checks that its settings match (`ValueError` if
not) and takes the budget and chunk size from there, cuts the partial last record off its own
record file and computes the chunks that still lack a record, skipping the inputs that have one
(a relaxation chunk is relaxed again in full, so that its batches are those of the first run).
The number of processes may change between runs. The output equals that of an uninterrupted run
in one process, bitwise on CPUs.

Sharding: the unfinished chunks, in order, are cut into one consecutive run per rank with about
the same number of atoms each. The default chunk holds the inputs of ``Task.batches_per_chunk``
batches (as many as the first batches hold on average): one for predictions, so that every rank gets
work whatever the input's size and the ranks end within about a batch of each other; more for
relaxations, whose batch is refilled from the chunk. Under torchrun the ranks join a gloo process
group only to wait for each other (they exchange nothing heavier than counts); each computes on its
own device.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from ase import Atoms

from eqv2 import runtime
from eqv2.jobs.records import RecordWriter, drop_partial_record, merge_records, scan_records
from eqv2.progress import progress_bar
from eqv2.simulate.packing import Budget

BARRIER_TIMEOUT = timedelta(days=7)  # how long a rank waits for the others (the slowest shard)
PLAN_FILE = "run.json"
FAILED = "failed"  # the outcome that counts as a failure in the progress line


class Task(Protocol):
    """What a job's command computes (`eqv2.jobs.tasks`)."""

    command: str
    batches_per_chunk: int  # the default chunk size: the inputs of this many batches

    def atom_counts(self) -> np.ndarray:
        """[count] atoms of each input, for sharding."""

    def default_budget(self, processes: int) -> Budget:
        """The budget when none is given, for ``processes`` sharing the machine
        (`eqv2.simulate.packing.default_budget`)."""

    def inputs_per_batch(self, budget: Budget) -> float:
        """How many inputs the first batches hold on average under ``budget``."""

    def compute(
        self, chunks: Iterable[np.ndarray], done: np.ndarray, budget: Budget
    ) -> Iterator[tuple[int, Atoms, str]]:
        """Compute ``chunks`` (each [K] consecutive input indices), each batched on its own, and yield
        (input index, atoms to record, outcome) for each input as soon as it is final; inputs with
        ``done`` [count] set need no record. The outcome ("done", "converged", "failed", ...) is
        counted for the summary."""


@dataclass
class Plan:
    """What a run's results depend on (kept in ``run.json``)."""

    settings: dict[str, Any]  # the command's options that change results
    budget: Budget
    chunk_size: int

    def to_json(self) -> str:
        values = {"settings": self.settings, "budget": dataclasses.asdict(self.budget), "chunk_size": self.chunk_size}
        return json.dumps(values, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Plan:
        values = json.loads(text)
        return cls(values["settings"], Budget(**values["budget"]), values["chunk_size"])


@dataclass
class Summary:
    """What one run did, over all ranks."""

    outcomes: Counter  # outcome -> inputs computed by this run
    skipped: int  # inputs an earlier run had finished
    seconds: float
    rank: int  # of this process (0 prints the summary)

    @property
    def computed(self) -> int:
        return sum(self.outcomes.values())


def parts_directory(output: Path) -> Path:
    """Where an unfinished run keeps its settings and record files (module docstring)."""
    return output.with_name(output.name + ".parts")


def shard(atom_counts: np.ndarray, remaining: np.ndarray, world_size: int, rank: int) -> np.ndarray:
    """The items of ``remaining`` [K] (ascending indices into ``atom_counts``) that ``rank`` computes: rank r
    takes those whose middle atom, counted over ``remaining`` in order, falls in the r-th of ``world_size``
    equal parts."""
    weights = atom_counts[remaining].astype(np.int64)
    if not len(weights):
        return remaining
    before = np.cumsum(weights) - weights
    owner = (2 * before + weights) * world_size // (2 * int(weights.sum()))
    return remaining[owner == rank]


def check_plan(parts: Path, settings: dict[str, Any], budget: Budget | None, chunk_size: int | None) -> None:
    """Raise `ValueError` when ``parts`` holds an unfinished run whose settings differ, or whose budget or
    chunk size differ from those given (None: take the unfinished run's)."""
    path = parts / PLAN_FILE
    if not path.exists():
        return
    plan = Plan.from_json(path.read_text())
    now = json.loads(json.dumps(settings))
    changed = [f"{key}: {plan.settings.get(key)!r} -> {now.get(key)!r}"
               for key in sorted(set(plan.settings) | set(now)) if plan.settings.get(key) != now.get(key)]  # fmt: skip
    if budget is not None and budget != plan.budget:
        changed.append(f"budget: {plan.budget} -> {budget}")
    if chunk_size is not None and chunk_size != plan.chunk_size:
        changed.append(f"chunk size: {plan.chunk_size} -> {chunk_size}")
    if changed:
        raise ValueError(
            f"{parts} holds an unfinished run with other settings ({'; '.join(changed)}); "
            f"rerun it with its settings to finish it, or delete {parts} to start afresh"
        )


def chunk_bounds(count: int, chunk_size: int) -> np.ndarray:
    """[C + 1] first input of each chunk, then ``count``."""
    return np.append(np.arange(0, count, chunk_size), count)


def run_job(
    task: Task, output: Path, settings: dict[str, Any], budget: Budget | None = None, chunk_size: int | None = None
) -> Summary:
    """Compute every input of ``task`` that has no result yet and merge the output (module docstring).

    ``budget`` and ``chunk_size`` default to ``task.default_budget`` and ``task.batches_per_chunk`` batches.
    """
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"chunk size must be at least 1, got {chunk_size}")
    start = time.perf_counter()
    rank, world_size = runtime.setup("cpu", timeout=BARRIER_TIMEOUT)  # gloo, for waiting only
    try:
        atom_counts, parts = task.atom_counts(), parts_directory(output)
        plan = agree_on_plan(task, parts, {**settings, "inputs": len(atom_counts)}, budget, chunk_size, rank)
        done = finished_inputs(parts, len(atom_counts), rank)
        chunks = own_chunks(atom_counts, done, plan.chunk_size, world_size, rank)
        outcomes = compute_shard(task, chunks, done, plan.budget, parts / f"rank-{rank}.extxyz", rank, world_size)
        runtime.barrier()
        if rank == 0:
            merge_records(sorted(parts.glob("rank-*.extxyz")), len(atom_counts), output)
            shutil.rmtree(parts)
        total = sum(runtime.gather_objects(outcomes), Counter())
    finally:
        runtime.teardown()
    return Summary(total, int(done.sum()), time.perf_counter() - start, rank)


def agree_on_plan(
    task: Task, parts: Path, settings: dict[str, Any], budget: Budget | None, chunk_size: int | None, rank: int
) -> Plan:
    """The plan of an unfinished run in ``parts`` (`check_plan`), or a new one that rank 0 writes; every
    rank reads it back, so all ranks batch alike."""
    check_plan(parts, settings, budget, chunk_size)
    runtime.barrier()
    if rank == 0 and not (parts / PLAN_FILE).exists():
        budget = budget or task.default_budget(runtime.local_world_size())
        chunk_size = chunk_size or max(round(task.batches_per_chunk * task.inputs_per_batch(budget)), 1)
        parts.mkdir(parents=True, exist_ok=True)
        (parts / PLAN_FILE).write_text(Plan(settings, budget, chunk_size).to_json())
    runtime.barrier()
    return Plan.from_json((parts / PLAN_FILE).read_text())


def finished_inputs(parts: Path, count: int, rank: int) -> np.ndarray:
    """[count] bool, True for inputs with a whole record in any rank's file, after this rank has cut the
    partial last record off its own."""
    drop_partial_record(parts / f"rank-{rank}.extxyz")
    runtime.barrier()
    done = np.zeros(count, bool)
    for path in sorted(parts.glob("rank-*.extxyz")):
        done[scan_records(path).indices] = True
    runtime.barrier()  # every rank has read the records before any rank adds one
    return done


def own_chunks(atom_counts: np.ndarray, done: np.ndarray, chunk_size: int, world_size: int, rank: int) -> list:
    """The chunks ([K] input indices each) with inputs not ``done`` [N] that ``rank`` computes (`shard`)."""
    if not len(done):
        return []
    bounds = chunk_bounds(len(done), chunk_size)
    unfinished = np.nonzero(np.logical_or.reduceat(~done, bounds[:-1]))[0]
    chunk_atoms = np.add.reduceat(atom_counts, bounds[:-1])
    return [np.arange(bounds[c], bounds[c + 1]) for c in shard(chunk_atoms, unfinished, world_size, rank)]


def compute_shard(
    task: Task, chunks: list[np.ndarray], done: np.ndarray, budget: Budget, path: Path, rank: int, world_size: int
) -> Counter:
    """Run ``task`` on ``chunks``, appending the result of each input not ``done`` to ``path``; outcome counts."""
    label = task.command if world_size == 1 else f"{task.command} rank {rank}/{world_size}"
    total = sum(int((~done[chunk]).sum()) for chunk in chunks)
    bar = progress_bar(total, label, "structure", lines=world_size > 1)
    outcomes: Counter = Counter()
    with RecordWriter(path) as writer, bar:
        for index, atoms, outcome in task.compute(chunks, done, budget):
            if done[index]:
                continue
            writer.write(index, atoms)
            outcomes[outcome] += 1
            bar.set_postfix_str(f"{outcomes[FAILED]} failed" if outcomes[FAILED] else "", refresh=False)
            bar.update(1)
    return outcomes
