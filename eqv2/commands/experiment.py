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

from eqv2.commands.common import reports_errors

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


@reports_errors
def run(args: argparse.Namespace) -> int:
    from eqv2.experiment import load_sweep, plan_runs, select_runs, state, train_runs, write_report

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
    return 0
