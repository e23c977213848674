"""Sweeps of training runs for the paper's studies at small scale (`eqv2 experiment SWEEP`).

load_sweep(path) -> Sweep                   the sweep YAML, checked key by key
plan_runs(sweep, out, store) -> list[Run]   every variant x seed with its checked config, key and run directory
claimed(run_dir, wait)                      the run's lock (several processes can work through one sweep)
execute(run) -> dict                        train or resume one run in this process; writes its done.json
write_report(sweep, runs, out, command)     REPORT.md and its plots, with paired differences and verdicts
"""

from eqv2.experiment.report import write_report
from eqv2.experiment.runs import execute, state
from eqv2.experiment.store import claimed, link, run_key
from eqv2.experiment.sweep import Comparison, Run, Sweep, Variant, load_sweep, plan_runs, select_runs

__all__ = [
    "Comparison",
    "Run",
    "Sweep",
    "Variant",
    "claimed",
    "execute",
    "link",
    "load_sweep",
    "plan_runs",
    "run_key",
    "select_runs",
    "state",
    "write_report",
]
