"""``eqv2 experiment SWEEP [--out DIR] [--only VARIANT]... [--report-only] [--dry-run]``: a sweep of training runs.

Runs every variant x seed of the sweep (`eqv2.experiment.sweep`) one after another in this process,
skipping finished runs and resuming interrupted ones, and rewrites ``<out>/REPORT.md`` after each run.
"""

from __future__ import annotations

import argparse
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
    parser.add_argument(
        "--only", action="append", default=[], metavar="VARIANT", help="run only this variant (repeatable)"
    )
    parser.add_argument("--report-only", action="store_true", help="rebuild the report; train nothing")
    parser.add_argument("--dry-run", action="store_true", help="list the runs and their state; train nothing")


def run(args: argparse.Namespace) -> int:
    from eqv2.experiment import check_data_files, load_sweep, plan_runs, select_runs, state, write_report
    from eqv2.train import ConfigError

    try:
        sweep = load_sweep(args.config)
        out = Path(args.out or Path("experiments") / sweep.name)
        runs = plan_runs(sweep, out)
        selected = select_runs(sweep, runs, args.only)
        if args.dry_run:
            for run in selected:
                print(f"{state(run):7s} {run.run_dir}  {' '.join(run.variant.overrides)}")
            return 0
        command = "eqv2 experiment " + shlex.join([args.config, "--out", str(out)])
        if not args.report_only:
            check_data_files(selected)
            train_runs(sweep, runs, selected, out, command)
        print(f"report: {write_report(sweep, runs, out, command)}", file=sys.stderr)
    except (ConfigError, FileNotFoundError) as error:
        raise SystemExit(f"eqv2 experiment: error: {error}") from None
    return 0


def train_runs(sweep: Sweep, runs: list[Run], selected: list[Run], out: Path, command: str) -> None:
    """Train the selected runs that are not finished, one after another; rewrite the report after each."""
    from eqv2.experiment import execute, state, write_report

    for number, run in enumerate(selected, start=1):
        label = f"[{number}/{len(selected)}] {run.variant.name}/seed{run.seed}"
        if state(run) == "done":
            print(f"{label}: finished before, skipped", file=sys.stderr)
            continue
        print(f"{label}: {'resuming' if state(run) == 'resume' else 'training'} in {run.run_dir}", file=sys.stderr)
        marker = execute(run)
        print(f"{label}: done in {marker['wall_s']:.0f} s", file=sys.stderr)
        write_report(sweep, runs, out, command)
