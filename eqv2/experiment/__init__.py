"""Sweeps of training runs for the paper's studies at small scale (`eqv2 experiment SWEEP`).

load_sweep(path) -> Sweep                   the sweep YAML, checked key by key
plan_runs(sweep, out) -> list[Run]          every variant x seed with its checked config and run directory
execute(run) -> dict                        train or resume one run in this process; writes its done.json
write_report(sweep, runs, out, command)     REPORT.md, test_forces_mae.png and (with report.x) scaling.png
"""

from eqv2.experiment.report import write_report
from eqv2.experiment.runs import check_data_files, execute, state
from eqv2.experiment.sweep import Run, Sweep, Variant, load_sweep, plan_runs, select_runs

__all__ = [
    "Run",
    "Sweep",
    "Variant",
    "check_data_files",
    "execute",
    "load_sweep",
    "plan_runs",
    "select_runs",
    "state",
    "write_report",
]
