"""Sweeps of training runs for the paper's studies at small scale (`eqv2 experiment SWEEP`).

load_sweep(path) -> Sweep                   the sweep YAML, checked key by key
plan_runs(sweep, out, store) -> list[Run]   every variant x seed with its checked config, key and run directory
claimed(run_dir, wait)                      the run's lock (several processes can work through one sweep)
execute(run) -> dict                        train or resume one run in this process; writes its done.json and
                                            archives its small files in <store>/../results/<key> (committed)
train_runs(sweep, runs, selected, out, cmd) the selected runs in turn under their locks, the report after each
write_report(sweep, runs, out, command)     REPORT.md and its plots, with paired differences and verdicts
"""

from eqv2.experiment.report import write_report
from eqv2.experiment.runs import execute, finished_dir, state
from eqv2.experiment.store import archive, claimed, link, run_key
from eqv2.experiment.sweep import Comparison, Run, Sweep, Variant, load_sweep, plan_runs, select_runs
from eqv2.experiment.training import train_one, train_runs

__all__ = [
    "Comparison",
    "Run",
    "Sweep",
    "Variant",
    "archive",
    "claimed",
    "execute",
    "finished_dir",
    "link",
    "load_sweep",
    "plan_runs",
    "run_key",
    "select_runs",
    "state",
    "train_one",
    "train_runs",
    "write_report",
]
