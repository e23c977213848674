"""``eqv2 experiment SWEEP [--out DIR] [--runs DIR] [--only VARIANT]... [--seeds K...] [--set KEY=VALUE]...
[--report-only] [--dry-run]``: a sweep of training runs.

Runs every variant x seed of the sweep (`eqv2.experiment.sweep`) one after another in this process,
skipping finished runs and resuming interrupted ones, and rewrites ``<out>/REPORT.md`` after each run.
Runs live in the run store (``--runs``, default ``<out>/../runs``), shared by sweeps: a run that another
sweep already trained with the same config and data is reused, and a run that another process is
training is left to it (and waited for at the end), so two processes on the same sweep share its work.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from eqv2.experiment import Run, Sweep


HELP = "a sweep of training runs (variants x seeds) with a Markdown report and plots"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="sweep YAML (see configs/experiments/)")
    parser.add_argument("--out", default=None, help="output directory (default experiments/<sweep name>)")
    parser.add_argument("--runs", default=None, help="run store shared by sweeps (default <out>/../runs)")
    parser.add_argument(
        "--only", action="append", default=[], metavar="VARIANT", help="run only this variant (repeatable)"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="these seeds instead of the sweep's")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        dest="overrides",
        metavar="KEY=VALUE",
        help="a training-config override for every run, after the sweep's (repeatable; changes the runs' keys)",
    )
    parser.add_argument("--report-only", action="store_true", help="rebuild the report; train nothing")
    parser.add_argument("--dry-run", action="store_true", help="list the runs and their state; train nothing")


def run(args: argparse.Namespace) -> int:
    from eqv2.experiment import load_sweep, plan_runs, select_runs, state, write_report
    from eqv2.train import ConfigError

    try:
        sweep = load_sweep(args.config)
        sweep = dataclasses.replace(
            sweep,
            overrides=(*sweep.overrides, *args.overrides),
            seeds=tuple(args.seeds) if args.seeds else sweep.seeds,
        )
        out = Path(args.out or Path("experiments") / sweep.name)
        store = Path(args.runs) if args.runs else out.parent / "runs"
        runs = plan_runs(sweep, out, store)
        selected = select_runs(sweep, runs, args.only)
        if args.dry_run:
            for run in selected:
                print(f"{state(run):7s} {run.view} -> {run.run_dir}  {' '.join(run.variant.overrides)}")
            return 0
        command = "eqv2 experiment " + shlex.join(
            [args.config, "--out", str(out), "--runs", str(store)]
            + (["--seeds", *map(str, args.seeds)] if args.seeds else [])
            + [f"--set={override}" for override in args.overrides]
        )
        if not args.report_only:
            train_runs(sweep, runs, selected, out, command)
        print(f"report: {write_report(sweep, runs, out, command)}", file=sys.stderr)
    except (ConfigError, FileNotFoundError) as error:
        raise SystemExit(f"eqv2 experiment: error: {error}") from None
    return 0


def train_runs(sweep: Sweep, runs: list[Run], selected: list[Run], out: Path, command: str) -> None:
    """Train the selected runs that are not finished, in order; a run locked by another process is put off to
    the end and then waited for. The report is rewritten after each run."""
    from eqv2.experiment import finished_dir, link, state, write_report

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
    from eqv2.experiment import archive, claimed, execute, finished_dir, link, state

    with claimed(run.run_dir, wait) as ours:
        if not ours:
            return False
        if state(run) == "done":
            if not (run.results_dir / "done.json").is_file():
                archive(run.run_dir, run.results_dir)
            link(run.view, finished_dir(run))
            print(f"{label}: finished before ({run.run_dir}), skipped", file=sys.stderr)
            return True
        print(f"{label}: {'resuming' if state(run) == 'resume' else 'training'} in {run.run_dir}", file=sys.stderr)
        marker = execute(run)
        print(f"{label}: done in {marker['wall_s']:.0f} s", file=sys.stderr)
    return True
