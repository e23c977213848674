"""A sweep's report: ``<out>/REPORT.md`` (mean ± std over seeds per variant), ``test_forces_mae.png`` and,
with ``report.x``, ``scaling.png``. Built from the finished runs' files only, so it can be rebuilt any time.
"""

from __future__ import annotations

import csv
import datetime
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eqv2.experiment import plots
from eqv2.experiment.runs import DONE, state
from eqv2.experiment.sweep import Run, Sweep, Variant


@dataclass(frozen=True)
class RunResult:
    run: Run
    values: dict[str, float]  # test metrics, parameters, structures_per_s, wall_s, process_peak_rss_mib
    marker: dict[str, Any]  # done.json


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    scale: float  # shown value = scale * stored value
    format: str


SUMMARY_COLUMNS = (
    Column("energy_mae", "energy MAE (eV)", 1.0, ".3f"),
    Column("energy_per_atom_mae", "energy MAE per atom (meV)", 1e3, ".1f"),
    Column("forces_mae", "forces MAE (eV/Å)", 1.0, ".4f"),
    Column("forces_cos", "forces cos", 1.0, ".3f"),
    Column("efwt", "EFwT (%)", 100.0, ".1f"),
    Column("structures_per_s", "train structures/s", 1.0, ".1f"),
    Column("wall_s", "wall time (s)", 1.0, ".0f"),
)
SCALING_METRICS = (("forces_mae", "test forces MAE (eV/Å)"), ("energy_per_atom_mae", "test energy MAE (eV/atom)"))


def collect(runs: list[Run]) -> list[RunResult]:
    """The results of the finished runs (those with done.json)."""
    results = []
    for run in runs:
        if state(run) != "done":
            continue
        marker = json.loads((run.run_dir / DONE).read_text())
        values = json.loads((run.run_dir / "test_metrics.json").read_text())
        values["structures_per_s"] = mean_throughput(run.run_dir / "metrics.csv")
        values.update({key: float(marker[key]) for key in ("parameters", "wall_s", "process_peak_rss_mib")})
        results.append(RunResult(run, values, marker))
    return results


def mean_throughput(metrics_csv: Path) -> float:
    """The mean of metrics.csv's ``structures_per_s`` column (training steps only, evaluations excluded)."""
    with open(metrics_csv) as handle:
        return float(np.mean([float(row["structures_per_s"]) for row in csv.DictReader(handle)]))


def by_variant(sweep: Sweep, results: list[RunResult]) -> list[tuple[Variant, list[RunResult]]]:
    """Variants in sweep order with their finished runs (variants with none left out)."""
    grouped = [(variant, [r for r in results if r.run.variant == variant]) for variant in sweep.variants]
    return [(variant, runs) for variant, runs in grouped if runs]


def mean_and_std(results: list[RunResult], key: str) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof 1; 0 for one seed) of a value over seeds."""
    values = np.array([r.values[key] for r in results])
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def fitted_slope(x: list[float], y: list[float]) -> float | None:
    """The least-squares slope of log y against log x (None with fewer than 2 distinct x or a non-positive value)."""
    if len(set(x)) < 2 or min(x) <= 0 or min(y) <= 0:
        return None
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def scaling_series(sweep: Sweep, results: list[RunResult]) -> dict[str, list[tuple[float, list[RunResult]]]]:
    """group -> [(x, that variant's runs)] sorted by x; variants without a group form the group "all"."""
    series: dict[str, list[tuple[float, list[RunResult]]]] = {}
    for variant, runs in by_variant(sweep, results):
        series.setdefault(variant.group or "all", []).append((runs[0].run.x, runs))
    return {group: sorted(points, key=lambda point: point[0]) for group, points in series.items()}


def write_report(sweep: Sweep, runs: list[Run], out: Path, command: str) -> Path:
    """Write REPORT.md and the plots from the finished runs; returns the report's path."""
    out.mkdir(parents=True, exist_ok=True)
    results = collect(runs)
    variants = by_variant(sweep, results)
    lines = header(sweep, results, command)
    if variants:
        plots.forces_bars(
            [(variant.name, [r.values["forces_mae"] for r in runs]) for variant, runs in variants],
            out / "test_forces_mae.png",
        )
        lines += summary_table(sweep, variants)
    if variants and sweep.report.x:
        series = scaling_series(sweep, results)
        plots.scaling(
            {group: [(x, [r.values for r in runs]) for x, runs in points] for group, points in series.items()},
            SCALING_METRICS,
            sweep.report.x,
            sweep.report.log_log,
            out / "scaling.png",
        )
        lines += scaling_section(sweep, series)
    lines += runs_table(sorted(results, key=lambda r: (sweep.variants.index(r.run.variant), r.run.seed)))
    lines += variants_table(sweep)
    unfinished = [f"{run.variant.name}/seed{run.seed} ({state(run)})" for run in runs if state(run) != "done"]
    if unfinished:
        lines += ["", f"Not finished ({len(unfinished)} of {len(runs)}): " + ", ".join(unfinished) + "."]
    path = out / "REPORT.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def header(sweep: Sweep, results: list[RunResult], command: str) -> list[str]:
    now = datetime.datetime.now().isoformat(timespec="seconds")
    finished = sorted(r.marker["finished"] for r in results)
    machines = sorted({describe_machine(r.marker["machine"]) for r in results})
    lines = [
        f"# Experiment `{sweep.name}`",
        "",
        f"- Command: `{command}`",
        f"- Report written {now}" + (f"; runs finished {finished[0]} to {finished[-1]}" if finished else ""),
        f"- Seeds: {', '.join(map(str, sweep.seeds))}; common overrides: "
        + (", ".join(f"`{o}`" for o in sweep.overrides) or "none"),
        "- Machine: " + ("; ".join(machines) if machines else "no finished run yet"),
    ]
    return lines


def describe_machine(machine: dict[str, Any]) -> str:
    return (
        f"{machine['platform']}, {machine['cpu_count']} CPUs, torch {machine['torch']} "
        f"({machine['torch_threads']} threads), device {machine['device']}"
    )


def summary_table(sweep: Sweep, variants: list[tuple[Variant, list[RunResult]]]) -> list[str]:
    x_header = [f"x = `{sweep.report.x}`"] if sweep.report.x else []
    headers = ["variant", "seeds", *x_header, "parameters", *(column.header for column in SUMMARY_COLUMNS)]
    lines = [
        "",
        "## Results",
        "",
        "Test metrics of each run's `best.pt` (best validation force MAE) on `data.test`: mean ± sample std over",
        "seeds (a single seed shows its value). Train structures/s: the mean of metrics.csv's `structures_per_s`",
        "(training steps only). Wall time: the whole `train` call (data set-up, training, validation, test).",
        "",
        "![test forces MAE](test_forces_mae.png)",
        "",
        table_row(headers),
        table_row(["---"] * len(headers)),
    ]
    for variant, runs in variants:
        cells = [f"`{variant.name}`", str(len(runs))]
        cells += [f"{runs[0].run.x:g}"] if sweep.report.x else []
        cells.append(f"{int(runs[0].values['parameters']):,}")
        for column in SUMMARY_COLUMNS:
            mean, std = mean_and_std(runs, column.key)
            text = format(column.scale * mean, column.format)
            cells.append(text + (f" ± {format(column.scale * std, column.format)}" if len(runs) > 1 else ""))
        lines.append(table_row(cells))
    return lines


def scaling_section(sweep: Sweep, series: dict[str, list[tuple[float, list[RunResult]]]]) -> list[str]:
    lines = ["", "## Scaling", "", f"![scaling against {sweep.report.x}](scaling.png)"]
    if not sweep.report.log_log:
        return lines
    lines += [
        "",
        f"Least-squares slopes of log(error) against log({sweep.report.x}), fitted to the means over seeds:",
        "",
        table_row(["group", *(label for _, label in SCALING_METRICS)]),
        table_row(["---"] * (1 + len(SCALING_METRICS))),
    ]
    for group, points in series.items():
        x = [point[0] for point in points]
        slopes = [fitted_slope(x, [mean_and_std(runs, key)[0] for _, runs in points]) for key, _ in SCALING_METRICS]
        lines.append(table_row([group, *("—" if slope is None else f"{slope:.2f}" for slope in slopes)]))
    return lines


def runs_table(results: list[RunResult]) -> list[str]:
    headers = ["run", "steps", "forces MAE (eV/Å)", "energy MAE per atom (meV)", "wall time (s)", "peak RSS (MiB)"]
    lines = [
        "",
        "## Runs",
        "",
        "Peak RSS is `ru_maxrss` of the sweep process read after the run: the process's peak so far, which",
        "includes earlier runs of the same process; ↑ marks runs during which it rose (then it is this run's peak).",
        "On a GPU, CUDA is `torch.cuda.max_memory_allocated` during the run. Resumed runs (*) count only the",
        "wall time of their last attempt.",
        "",
        table_row(headers),
        table_row(["---"] * len(headers)),
    ]
    for result in results:
        marker = result.marker
        resumed = f" (*resumed at step {marker['resumed_from_step']})" if marker["resumed_from_step"] else ""
        rose = " ↑" if marker["peak_rss_rose_during_run"] else ""
        cuda = f"; CUDA {marker['cuda_peak_mib']:.0f}" if marker["cuda_peak_mib"] is not None else ""
        cells = [
            f"`{result.run.variant.name}/seed{result.run.seed}`",
            str(marker["steps"]),
            f"{result.values['forces_mae']:.4f}",
            f"{1e3 * result.values['energy_per_atom_mae']:.1f}",
            f"{result.values['wall_s']:.0f}{resumed}",
            f"{result.values['process_peak_rss_mib']:.0f}{rose}{cuda}",
        ]
        lines.append(table_row(cells))
    return lines


def variants_table(sweep: Sweep) -> list[str]:
    lines = ["", "## Variants", "", table_row(["variant", "group", "overrides"]), table_row(["---"] * 3)]
    for variant in sweep.variants:
        overrides = ", ".join(f"`{o}`" for o in variant.overrides) or "none"
        lines.append(table_row([f"`{variant.name}`", variant.group or "", overrides]))
    return lines


def table_row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"
