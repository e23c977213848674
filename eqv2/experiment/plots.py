"""The sweep report's PNGs, all with 95% t intervals over seeds: test metrics per variant, paired differences
of the claims, and test metrics against a swept quantity.

``metrics`` arguments are objects with ``key``, ``label`` and ``scale`` (`eqv2.experiment.report.Metric`).
Files are written to a temporary name and renamed, so two processes on one sweep never leave half a file.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from eqv2.experiment.statistics import Estimate, loglog_slope, t_interval
from eqv2.train.plots import headless_pyplot

PerSeed = dict[int, float]


def replace_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """``write(temporary)`` beside ``path`` (same suffix), then rename it to ``path``."""
    temporary = path.with_name(f".{path.stem}.{os.getpid()}{path.suffix}")
    write(temporary)
    os.replace(temporary, path)


def save(figure, out: Path) -> None:
    figure.tight_layout()
    replace_atomically(out, lambda temporary: figure.savefig(temporary, dpi=120))
    headless_pyplot().close(figure)


def half_widths(estimates: list[Estimate], scale: float) -> np.ndarray:
    """[2, n] error-bar lengths below and above each mean (0 where the interval is undefined)."""
    low = [scale * (e.mean - e.low) if not math.isnan(e.low) else 0.0 for e in estimates]
    high = [scale * (e.high - e.mean) if not math.isnan(e.high) else 0.0 for e in estimates]
    return np.array([low, high])


def variant_values(variants: list[tuple[str, dict[str, PerSeed]]], metrics: list, out: Path) -> None:
    """One panel per metric: each variant's mean with its 95% interval, each seed's values joined by a line."""
    plt = headless_pyplot()
    figure, axes = plt.subplots(1, len(metrics), figsize=(max(4.5, 1.0 * len(variants) + 2) * len(metrics), 4.3))
    positions = np.arange(len(variants))
    for axis, metric in zip(np.atleast_1d(axes), metrics):
        values = [by_metric[metric.key] for _, by_metric in variants]
        estimates = [t_interval(list(v.values())) for v in values]
        seeds = sorted({seed for v in values for seed in v})
        for seed in seeds:
            axis.plot(
                positions,
                [metric.scale * v.get(seed, np.nan) for v in values],
                color="grey",
                alpha=0.5,
                lw=0.8,
                marker=".",
            )
        means = [metric.scale * e.mean for e in estimates]
        axis.errorbar(positions, means, yerr=half_widths(estimates, metric.scale), fmt="o", color="tab:blue", capsize=5)
        axis.set_xticks(positions, [name for name, _ in variants], rotation=25, ha="right")
        axis.set_ylabel(f"test {metric.label}")
        axis.grid(axis="y", alpha=0.3)
    save(figure, out)


def comparisons(panels: dict, out: Path) -> None:
    """One panel per metric: each claim's mean paired difference with its 95% interval, and the zero line."""
    plt = headless_pyplot()
    rows = max((len(claims) for claims in panels.values()), default=1)
    columns = max(1, len(panels))
    figure, axes = plt.subplots(1, columns, figsize=(2.5 + 4.0 * columns, 1.2 + 0.55 * rows), sharey=True)
    for axis, (metric, claims) in zip(np.atleast_1d(axes), panels.items()):
        positions = np.arange(len(claims))[::-1]
        estimates = [estimate for _, estimate in claims]
        axis.errorbar(
            [metric.scale * e.mean for e in estimates],
            positions,
            xerr=half_widths(estimates, metric.scale),
            fmt="o",
            capsize=4,
        )
        axis.axvline(0.0, color="black", lw=0.8)
        axis.set_yticks(positions, [label for label, _ in claims])
        axis.set_xlabel(f"paired difference, {metric.label}")
        axis.grid(axis="x", alpha=0.3)
    save(figure, out)


def scaling(
    series: dict[str, list[tuple[float, dict[str, PerSeed]]]], metrics: list, x_label: str, log_log: bool, out: Path
) -> None:
    """One panel per metric; one line per group through the means at each x with 95% intervals (log-log: and
    the least-squares line through the means). ``series``: group -> [(x, {metric key: {seed: value}})] by x."""
    plt = headless_pyplot()
    figure, axes = plt.subplots(1, len(metrics), figsize=(4.8 * len(metrics), 4.0))
    for axis, metric in zip(np.atleast_1d(axes), metrics):
        for group, points in series.items():
            x = np.array([point[0] for point in points])
            estimates = [t_interval(list(values[metric.key].values())) for _, values in points]
            means = np.array([metric.scale * e.mean for e in estimates])
            bars = axis.errorbar(
                x, means, yerr=half_widths(estimates, metric.scale), marker="o", capsize=3, label=group
            )
            if log_log and len(set(x)) >= 2 and min(means) > 0:
                slope = loglog_slope(list(x), list(means))
                intercept = np.mean(np.log(means)) - slope * np.mean(np.log(x))
                axis.plot(x, np.exp(intercept) * x**slope, ls="--", lw=0.8, color=bars[0].get_color())
        if log_log:
            axis.set_xscale("log")
            axis.set_yscale("log")
            label_log_axes(axis, sorted({point[0] for points in series.values() for point in points}))
        axis.set_xlabel(x_label)
        axis.set_ylabel(f"test {metric.label}")
        axis.grid(alpha=0.3, which="both")
        if len(series) > 1:
            axis.legend()
    save(figure, out)


def label_log_axes(axis, x_values: list[float]) -> None:
    """Plain numbers on log axes: x ticks at the swept values, y ticks with 3 significant digits."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    axis.set_xticks(x_values, [f"{value:g}" for value in x_values])
    axis.xaxis.set_minor_formatter(NullFormatter())
    plain = FuncFormatter(lambda value, _: f"{value:.3g}")
    axis.yaxis.set_major_formatter(plain)
    axis.yaxis.set_minor_formatter(plain)
