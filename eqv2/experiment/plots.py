"""The sweep report's PNGs: test force MAE per variant, and test errors against a swept quantity."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from eqv2.train.plots import headless_pyplot


def forces_bars(variants: list[tuple[str, list[float]]], out: Path) -> None:
    """One bar per variant: the mean test force MAE over seeds, ± sample std, each seed as a dot."""
    plt = headless_pyplot()
    figure, axis = plt.subplots(figsize=(max(4.0, 1.1 * len(variants) + 1.5), 4.2))
    for position, (_, values) in enumerate(variants):
        spread = np.std(values, ddof=1) if len(values) > 1 else 0.0
        axis.bar(position, np.mean(values), yerr=spread, color="tab:blue", alpha=0.6, capsize=4)
        offsets = np.linspace(-0.2, 0.2, len(values)) if len(values) > 1 else np.zeros(1)
        axis.scatter(position + offsets, values, color="black", s=12, zorder=3)
    axis.set_xticks(range(len(variants)), [name for name, _ in variants], rotation=25, ha="right")
    axis.set_ylabel("test forces MAE (eV/Å)")
    axis.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    figure.savefig(out, dpi=120)
    plt.close(figure)


def scaling(
    series: dict[str, list[tuple[float, list[dict[str, float]]]]],
    metrics: tuple[tuple[str, str], ...],
    x_label: str,
    log_log: bool,
    out: Path,
) -> None:
    """One panel per (metric key, label); one line per group through the means over seeds at each x, ± std.

    ``series``: group -> [(x, [one run's values per seed])], sorted by x.
    """
    plt = headless_pyplot()
    figure, axes = plt.subplots(1, len(metrics), figsize=(4.8 * len(metrics), 4.0))
    for axis, (key, label) in zip(np.atleast_1d(axes), metrics):
        for group, points in series.items():
            x = [point[0] for point in points]
            values = [[run[key] for run in runs] for _, runs in points]
            means = [np.mean(v) for v in values]
            spreads = [np.std(v, ddof=1) if len(v) > 1 else 0.0 for v in values]
            axis.errorbar(x, means, yerr=spreads, marker="o", capsize=3, label=group)
        if log_log:
            axis.set_xscale("log")
            axis.set_yscale("log")
            label_log_axes(axis, sorted({point[0] for points in series.values() for point in points}))
        axis.set_xlabel(x_label)
        axis.set_ylabel(label)
        axis.grid(alpha=0.3, which="both")
        if len(series) > 1:
            axis.legend()
    figure.tight_layout()
    figure.savefig(out, dpi=120)
    plt.close(figure)


def label_log_axes(axis, x_values: list[float]) -> None:
    """Plain numbers on log axes: x ticks at the swept values, y ticks with 3 significant digits."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    axis.set_xticks(x_values, [f"{value:g}" for value in x_values])
    axis.xaxis.set_minor_formatter(NullFormatter())
    plain = FuncFormatter(lambda value, _: f"{value:.3g}")
    axis.yaxis.set_major_formatter(plain)
    axis.yaxis.set_minor_formatter(plain)
