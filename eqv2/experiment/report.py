"""A sweep's report: ``<out>/REPORT.md`` and its PNGs, built from the finished runs' files only (rebuild any time).

Sections: the claims (paired differences to a baseline over the common seeds, with a verdict), the test
metrics per variant, the cost per training step, the scaling against ``report.x`` (with per-seed log-log
slopes), every run, every variant. Intervals are two-sided 95% Student t intervals over seeds
(`eqv2.experiment.statistics`).
"""

from __future__ import annotations

import csv
import datetime
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eqv2.experiment import plots
from eqv2.experiment.runs import DONE, finished_dir, state
from eqv2.experiment.statistics import (
    Estimate,
    loglog_slope,
    paired_differences,
    slopes_by_seed,
    t_interval,
    verdict,
)
from eqv2.experiment.sweep import Comparison, Run, Sweep, Variant


@dataclass(frozen=True)
class RunResult:
    run: Run
    values: dict[str, float]  # test metrics, parameters, wall_s, cpu_s, peak_rss_mib, seconds_per_step
    marker: dict[str, Any]  # done.json


@dataclass(frozen=True)
class Metric:
    key: str
    label: str  # with the unit of the shown value
    scale: float  # shown value = scale * stored value
    format: str


METRICS = {
    metric.key: metric
    for metric in (
        Metric("energy_mae", "energy MAE (meV)", 1e3, ".1f"),
        Metric("energy_per_atom_mae", "energy MAE (meV/atom)", 1e3, ".2f"),
        Metric("forces_mae", "forces MAE (meV/Å)", 1e3, ".2f"),
        Metric("forces_cos", "forces cos", 1.0, ".4f"),
        Metric("efwt", "EFwT (%)", 100.0, ".1f"),
    )
}
Series = dict[str, list[tuple[float, list["RunResult"]]]]  # group -> [(x, that variant's runs)] sorted by x


def collect(runs: list[Run]) -> list[RunResult]:
    """The results of the finished runs (those with done.json)."""
    results = []
    for run in runs:
        if state(run) != "done":
            continue
        folder = finished_dir(run)
        marker = json.loads((folder / DONE).read_text())
        values = json.loads((folder / "test_metrics.json").read_text())
        values["seconds_per_step"] = seconds_per_step(folder / "metrics.csv", structures_per_step(run))
        values.update({key: float(marker[key]) for key in ("parameters", "wall_s", "cpu_s", "peak_rss_mib")})
        results.append(RunResult(run, values, marker))
    return results


def structures_per_step(run: Run) -> int:
    """Structures per optimizer step of a sweep run (one process)."""
    return run.config.optim.batch_size * run.config.optim.grad_accumulation


def seconds_per_step(metrics_csv: Path, structures: int) -> float:
    """Wall seconds per training step (validation excluded): total window time over total steps of metrics.csv.

    Each row's ``structures_per_s`` covers the steps since the previous row (or the start of the run).
    """
    with open(metrics_csv) as handle:
        rows = list(csv.DictReader(handle))
    seconds, steps, previous = 0.0, 0, 0
    for row in rows:
        step = int(row["step"])
        seconds += (step - previous) * structures / float(row["structures_per_s"])
        steps, previous = steps + step - previous, step
    return seconds / steps


def by_variant(sweep: Sweep, results: list[RunResult]) -> list[tuple[Variant, list[RunResult]]]:
    """Variants in sweep order with their finished runs (variants with none left out)."""
    grouped = [(variant, [r for r in results if r.run.variant == variant]) for variant in sweep.variants]
    return [(variant, runs) for variant, runs in grouped if runs]


def per_seed(results: list[RunResult], key: str) -> dict[int, float]:
    return {result.run.seed: result.values[key] for result in results}


def scaling_series(sweep: Sweep, results: list[RunResult]) -> Series:
    """group -> [(x, that variant's runs)] sorted by x; variants without a group form the group "all"."""
    series: Series = {}
    for variant, runs in by_variant(sweep, results):
        series.setdefault(variant.group or "all", []).append((runs[0].run.x, runs))
    return {group: sorted(points, key=lambda point: point[0]) for group, points in series.items()}


def comparison_estimate(
    variants: dict[str, list[RunResult]], comparison: Comparison, key: str
) -> tuple[Estimate, float] | None:
    """The paired difference of ``key`` (variant - baseline) over common seeds, and the baseline's mean."""
    if comparison.variant not in variants or comparison.baseline not in variants:
        return None
    baseline = per_seed(variants[comparison.baseline], key)
    differences = paired_differences(per_seed(variants[comparison.variant], key), baseline)
    if not differences:
        return None
    return t_interval(list(differences.values())), t_interval(list(baseline.values())).mean


def group_slopes(points: list[tuple[float, list[RunResult]]], key: str) -> dict[int, float]:
    """{seed: log-log slope of the seed's values against x} over the seeds with at least 2 distinct x."""
    pairs: dict[int, list[tuple[float, float]]] = {}
    for x, runs in points:
        for result in runs:
            pairs.setdefault(result.run.seed, []).append((x, result.values[key]))
    return slopes_by_seed(pairs)


def write_report(sweep: Sweep, runs: list[Run], out: Path, command: str) -> Path:
    """Write REPORT.md and the plots from the finished runs; returns the report's path."""
    out.mkdir(parents=True, exist_ok=True)
    results = collect(runs)
    variants = by_variant(sweep, results)
    lines = header(sweep, results, command)
    if variants:
        lines += claims_section(sweep, variants, out)
        lines += results_section(sweep, variants, out)
        lines += cost_section(sweep, variants)
    if variants and sweep.report.x:
        lines += scaling_section(sweep, scaling_series(sweep, results), out)
    lines += runs_table(sorted(results, key=lambda r: (sweep.variants.index(r.run.variant), r.run.seed)))
    lines += variants_table(sweep)
    unfinished = [f"{run.variant.name}/seed{run.seed} ({state(run)})" for run in runs if state(run) != "done"]
    if unfinished:
        lines += ["", f"Not finished ({len(unfinished)} of {len(runs)}): " + ", ".join(unfinished) + "."]
    path = out / "REPORT.md"
    plots.replace_atomically(path, lambda temporary: temporary.write_text("\n".join(lines) + "\n"))
    return path


def header(sweep: Sweep, results: list[RunResult], command: str) -> list[str]:
    now = datetime.datetime.now().isoformat(timespec="seconds")
    machines = sorted({describe_machine(r.marker["machine"]) for r in results})
    lines = [
        f"# Experiment `{sweep.name}`",
        "",
        f"- Command: `{command}`",
        f"- Report written {now}",
        f"- Seeds: {', '.join(map(str, sweep.seeds))}; common overrides: "
        + (", ".join(f"`{o}`" for o in sweep.overrides) or "none"),
        "- Machine: " + ("; ".join(machines) if machines else "no finished run yet"),
    ]
    if results:
        started = min(r.marker["started"] for r in results)
        finished = max(r.marker["finished"] for r in results)
        total = sum(r.values["wall_s"] for r in results)
        cpu = sum(r.values["cpu_s"] for r in results)
        lines.append(
            f"- Wall time: runs started {started} to finished {finished}; {total / 3600:.2f} h wall and "
            f"{cpu / 3600:.2f} h CPU summed over the {len(results)} finished runs (runs shared with another sweep "
            "count in both; a resumed run counts its last attempt only)"
        )
    return lines


def describe_machine(machine: dict[str, Any]) -> str:
    return (
        f"{machine['platform']}, {machine.get('processor', 'unknown CPU')}, {machine['cpu_count']} CPUs, "
        f"torch {machine['torch']} ({machine['torch_threads']} threads), device {machine['device']}"
    )


def format_estimate(estimate: Estimate, metric: Metric) -> tuple[str, str]:
    """("mean ± standard error", "[low, high]") in the metric's shown unit ("—" where undefined)."""
    scaled = [metric.scale * value for value in (estimate.mean, estimate.standard_error, estimate.low, estimate.high)]
    mean = format(scaled[0], metric.format)
    if math.isnan(scaled[1]):
        return mean, "—"
    return f"{mean} ± {format(scaled[1], metric.format)}", (
        f"[{format(scaled[2], metric.format)}, {format(scaled[3], metric.format)}]"
    )


def claims_section(sweep: Sweep, variants: list[tuple[Variant, list[RunResult]]], out: Path) -> list[str]:
    if not sweep.report.comparisons:
        return []
    by_name = {variant.name: runs for variant, runs in variants}
    lines = [
        "",
        "## Claims",
        "",
        "Paired differences *variant − baseline* of the test metrics over the seeds both have: mean ± standard",
        "error and the 95% t interval. Verdict: *reproduced* when the interval excludes 0 on the side the paper",
        "expects, *not reproduced* when it excludes 0 on the other side, *unresolved* when it contains 0.",
        "",
        "![paired differences](comparisons.png)",
        "",
        table_row(["claim", "metric", "baseline mean", "difference", "95% interval", "relative", "seeds", "verdict"]),
        table_row(["---"] * 8),
    ]
    panels: dict[str, list[tuple[str, Estimate]]] = {}
    for comparison in sweep.report.comparisons:
        for key in sweep.report.metrics:
            found = comparison_estimate(by_name, comparison, key)
            if found is None:
                continue
            estimate, baseline_mean = found
            metric = METRICS[key]
            difference, interval = format_estimate(estimate, metric)
            relative = f"{100 * estimate.mean / baseline_mean:+.1f}%" if baseline_mean else "—"
            label = f"{comparison.variant} − {comparison.baseline}"
            cells = [f"{comparison.claim} (`{label}`, expect {comparison.expect})", metric.label]
            cells += [format(metric.scale * baseline_mean, metric.format), difference, interval, relative]
            cells += [str(estimate.n), f"**{verdict(estimate, comparison.expect)}**"]
            lines.append(table_row(cells))
            panels.setdefault(key, []).append((label, estimate))
    plots.comparisons({METRICS[key]: rows for key, rows in panels.items()}, out / "comparisons.png")
    return lines


def results_section(sweep: Sweep, variants: list[tuple[Variant, list[RunResult]]], out: Path) -> list[str]:
    keys = list(dict.fromkeys([*sweep.report.metrics, "forces_mae", "energy_per_atom_mae", "forces_cos"]))
    x_header = [f"x = `{sweep.report.x}`"] if sweep.report.x else []
    headers = ["variant", "seeds", *x_header, *(METRICS[key].label for key in keys)]
    lines = [
        "",
        "## Test metrics per variant",
        "",
        "Each run's `best.pt` (best validation force MAE) on `data.test`: mean ± standard error over seeds (the",
        "figure: means with 95% t intervals; each seed's values joined by a thin line).",
        "",
        "![test metrics](test_metrics.png)",
        "",
        table_row(headers),
        table_row(["---"] * len(headers)),
    ]
    for variant, runs in variants:
        cells = [f"`{variant.name}`", str(len(runs))] + ([f"{runs[0].run.x:g}"] if sweep.report.x else [])
        cells += [format_estimate(t_interval([r.values[key] for r in runs]), METRICS[key])[0] for key in keys]
        lines.append(table_row(cells))
    plots.variant_values(
        [(variant.name, {key: per_seed(runs, key) for key in sweep.report.metrics}) for variant, runs in variants],
        [METRICS[key] for key in sweep.report.metrics],
        out / "test_metrics.png",
    )
    return lines


def cost_section(sweep: Sweep, variants: list[tuple[Variant, list[RunResult]]]) -> list[str]:
    first = t_interval([r.values["seconds_per_step"] for r in variants[0][1]]).mean
    headers = ["variant", "parameters", "s per training step", f"vs `{variants[0][0].name}`", "peak RSS (MiB)"]
    lines = [
        "",
        "## Cost",
        "",
        "Wall seconds per optimizer step (validation excluded; from each run's metrics.csv), mean ± standard",
        "error over seeds, and the largest peak resident memory of the variant's runs. On a machine shared with",
        "other work these times vary with its load.",
        "",
        table_row(headers),
        table_row(["---"] * len(headers)),
    ]
    for variant, runs in variants:
        step = t_interval([r.values["seconds_per_step"] for r in runs])
        error = "" if math.isnan(step.standard_error) else f" ± {step.standard_error:.3f}"
        cells = [f"`{variant.name}`", f"{int(runs[0].values['parameters']):,}", f"{step.mean:.3f}{error}"]
        cells += [f"{step.mean / first:.2f}x", f"{max(r.values['peak_rss_mib'] for r in runs):.0f}"]
        lines.append(table_row(cells))
    return lines


def scaling_section(sweep: Sweep, series: Series, out: Path) -> list[str]:
    report = sweep.report
    metrics = [METRICS[key] for key in report.metrics]
    plots.scaling(
        {
            group: [(x, {m.key: per_seed(runs, m.key) for m in metrics}) for x, runs in points]
            for group, points in series.items()
        },
        metrics,
        report.x,
        report.log_log,
        out / "scaling.png",
    )
    lines = ["", "## Scaling", "", f"![scaling against {report.x}](scaling.png)"]
    if not report.log_log:
        return lines
    lines += [
        "",
        f"Slopes of log(test error) against log({report.x}): one least-squares slope per seed, then their mean ±",
        "standard error and 95% t interval over seeds"
        + (f"; verdict against the expected sign ({report.slope_expect} than 0)." if report.slope_expect else "."),
        "",
        table_row(["group", "metric", "slope of the means", "per-seed slopes", "95% interval", "seeds", "verdict"]),
        table_row(["---"] * 7),
    ]
    slopes = {(group, m.key): group_slopes(points, m.key) for group, points in series.items() for m in metrics}
    for group, points in series.items():
        x = [point[0] for point in points]
        for metric in metrics:
            means = [t_interval([r.values[metric.key] for r in runs]).mean for _, runs in points]
            of_means = f"{loglog_slope(x, means):.3f}" if len(set(x)) >= 2 else "—"
            by_seed = slopes[(group, metric.key)]
            if not by_seed:
                continue
            estimate = t_interval(list(by_seed.values()))
            shown, interval = format_estimate(estimate, Metric("", "", 1.0, ".3f"))
            decided = verdict(estimate, report.slope_expect) if report.slope_expect else "—"
            lines.append(table_row([group, metric.label, of_means, shown, interval, str(estimate.n), decided]))
    return lines + slope_comparisons(sweep, slopes, metrics)


def slope_comparisons(
    sweep: Sweep, slopes: dict[tuple[str, str], dict[int, float]], metrics: list[Metric]
) -> list[str]:
    if not sweep.report.slope_comparisons:
        return []
    lines = [
        "",
        "Paired slope differences *group − baseline* over the seeds both have:",
        "",
        table_row(["claim", "metric", "difference", "95% interval", "seeds", "verdict"]),
        table_row(["---"] * 6),
    ]
    for comparison in sweep.report.slope_comparisons:
        for metric in metrics:
            pair = (slopes.get((comparison.variant, metric.key)), slopes.get((comparison.baseline, metric.key)))
            differences = paired_differences(*pair) if all(pair) else {}
            if not differences:
                continue
            estimate = t_interval(list(differences.values()))
            shown, interval = format_estimate(estimate, Metric("", "", 1.0, ".3f"))
            claim = f"{comparison.claim} (`{comparison.variant} − {comparison.baseline}`, expect {comparison.expect})"
            cells = [
                claim,
                metric.label,
                shown,
                interval,
                str(estimate.n),
                f"**{verdict(estimate, comparison.expect)}**",
            ]
            lines.append(table_row(cells))
    return lines


def runs_table(results: list[RunResult]) -> list[str]:
    headers = [
        "run",
        "key",
        "steps",
        "forces MAE (meV/Å)",
        "energy MAE (meV/atom)",
        "s/step",
        "wall (s)",
        "CPU (s)",
        "peak RSS (MiB)",
    ]
    lines = [
        "",
        "## Runs",
        "",
        "Key: the run's directory in the run store (a hash of its config and data). Peak RSS: the run's own peak",
        "(Linux), or (*) the peak of the process so far. Resumed runs (r) count only their last attempt's wall time.",
        "",
        table_row(headers),
        table_row(["---"] * len(headers)),
    ]
    for result in results:
        marker, values = result.marker, result.values
        resumed = f" (r, from step {marker['resumed_from_step']})" if marker["resumed_from_step"] else ""
        scope = "" if marker["peak_rss_scope"] == "run" else " (*)"
        cuda = f"; CUDA {marker['cuda_peak_mib']:.0f}" if marker["cuda_peak_mib"] is not None else ""
        cells = [f"`{result.run.variant.name}/seed{result.run.seed}`", f"`{result.run.key}`", str(marker["steps"])]
        cells += [f"{1e3 * values['forces_mae']:.2f}", f"{1e3 * values['energy_per_atom_mae']:.2f}"]
        cells += [f"{values['seconds_per_step']:.3f}", f"{values['wall_s']:.0f}{resumed}", f"{values['cpu_s']:.0f}"]
        cells.append(f"{values['peak_rss_mib']:.0f}{scope}{cuda}")
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
