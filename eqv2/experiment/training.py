"""Training a sweep's selected runs in this process, sharing the work with other processes through the run
locks (`eqv2.experiment.store.claimed`): a run another process is training is put off to the end and then
waited for; a finished run is skipped (and archived, if its results are not yet); the report is rewritten
after each run."""

from __future__ import annotations

import sys
from pathlib import Path

from eqv2.experiment.report import write_report
from eqv2.experiment.runs import DONE, execute, finished_dir, state
from eqv2.experiment.store import archive, claimed, link
from eqv2.experiment.sweep import Run, Sweep


def train_runs(sweep: Sweep, runs: list[Run], selected: list[Run], out: Path, command: str) -> None:
    """Train the selected runs that are not finished, in order; a run locked by another process is put off to
    the end and then waited for. The report is rewritten after each run."""
    put_off = []
    for number, run in enumerate(selected, start=1):
        label = f"[{number}/{len(selected)}] {run.variant.name}/seed{run.seed}"
        if not train_one(run, label, wait=False):
            print(f"{label}: another process is training it ({run.run_dir}); back to it at the end", file=sys.stderr)
            put_off.append((label, run))
            continue
        write_report(sweep, runs, out, command)
    for label, run in put_off:
        print(f"{label}: waiting for the other process", file=sys.stderr)
        train_one(run, label, wait=True)
        write_report(sweep, runs, out, command)
    for run in selected:
        if state(run) == "done":
            link(run.view, finished_dir(run))


def train_one(run: Run, label: str, wait: bool) -> bool:
    """Train or resume the run under its lock unless it is finished; False when the lock is taken (no wait)."""
    with claimed(run.run_dir, wait) as ours:
        if not ours:
            return False
        if state(run) == "done":
            if not (run.results_dir / DONE).is_file():
                archive(run.run_dir, run.results_dir)
            link(run.view, finished_dir(run))
            print(f"{label}: finished before ({run.run_dir}), skipped", file=sys.stderr)
            return True
        print(f"{label}: {'resuming' if state(run) == 'resume' else 'training'} in {run.run_dir}", file=sys.stderr)
        marker = execute(run)
        print(f"{label}: done in {marker['wall_s']:.0f} s", file=sys.stderr)
    return True
