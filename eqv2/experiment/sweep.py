"""A sweep: one base training config, variants of it, and seeds; every variant x seed is one `eqv2 train` run.

The sweep YAML (see ``configs/experiments/``)::

    name: ablation                  # optional; default: the file's stem (output: experiments/<name>)
    base: ../demo.yaml              # a training config, relative to this file; or an inline `base_config:` mapping
    overrides: [optim.max_steps=300] # applied to every run (optional)
    seeds: [0, 1, 2]
    variants:
      - name: baseline              # each run is shown as <out>/<name>/seed<k> (a link into the run store)
        group: L2                   # optional: one line per group in the scaling plot
        overrides: [model.use_attn_renorm=false]
    report:                         # optional
      x: model.lmax_list            # a dotted training-config key that varies by variant: the scaling plot's x
      log_log: true                 # log-log axes and a fitted slope of the test errors against x
      metrics: [forces_mae, energy_per_atom_mae]   # the test metrics the claims are judged on (this default)
      comparisons:                  # claims: paired differences "variant - baseline" over the common seeds
        - {variant: plus_attn_renorm, baseline: baseline, expect: lower, claim: "re-normalization lowers errors"}
      slope_expect: lower           # log_log: the expected sign of each group's slope (a claim per group)
      slope_comparisons:            # log_log: paired slope differences "group - baseline"
        - {group: L4, baseline: L2, expect: lower, claim: "higher lmax gains more from data"}

Overrides apply in order: the sweep's, then the variant's, then ``seed=<k>``. Relative paths inside the
training config (data files, ``model.init_from``) are relative to the current directory, as for ``eqv2 train``.
Unknown keys, wrong types and run configs that do not check raise `ConfigError` naming the key.
Runs live in a run store shared by sweeps (`eqv2.experiment.store`), one directory per distinct run.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eqv2.experiment.statistics import EXPECTATIONS
from eqv2.experiment.store import run_key
from eqv2.train.config import (
    ConfigError,
    TrainConfig,
    apply_override,
    check_known_key,
    check_type,
    config_from_dict,
    parse_yaml,
)

SWEEP_KEYS = {
    "name": "str",
    "base": "str",
    "base_config": "dict",
    "overrides": "list[str]",
    "seeds": "list[int]",
    "variants": "list[dict]",
    "report": "dict",
}
VARIANT_KEYS = {"name": "str", "group": "str | None", "overrides": "list[str]"}
REPORT_KEYS = {
    "x": "str | None",
    "log_log": "bool",
    "metrics": "list[str]",
    "comparisons": "list[dict]",
    "slope_expect": "str | None",
    "slope_comparisons": "list[dict]",
}
COMPARISON_KEYS = {"variant": "str", "baseline": "str", "expect": "str", "claim": "str"}
SLOPE_COMPARISON_KEYS = {"group": "str", "baseline": "str", "expect": "str", "claim": "str"}
METRICS = ("energy_mae", "energy_per_atom_mae", "forces_mae", "forces_cos", "efwt")
DEFAULT_METRICS = ("forces_mae", "energy_per_atom_mae")
SAFE_NAME = re.compile(r"[A-Za-z0-9_.+-]+")


@dataclass(frozen=True)
class Variant:
    name: str
    overrides: tuple[str, ...] = ()
    group: str | None = None  # variants of one group share a line in the scaling plot


@dataclass(frozen=True)
class Comparison:
    """A claim: the paired difference "variant - baseline" (or of two groups' slopes) has the sign ``expect``."""

    variant: str  # a variant name, or for slope comparisons a group name
    baseline: str
    expect: str  # "lower" or "higher"
    claim: str


@dataclass(frozen=True)
class ReportOptions:
    x: str | None = None  # dotted training-config key whose value varies by variant
    log_log: bool = False
    metrics: tuple[str, ...] = DEFAULT_METRICS
    comparisons: tuple[Comparison, ...] = ()
    slope_expect: str | None = None
    slope_comparisons: tuple[Comparison, ...] = ()


@dataclass
class Sweep:
    name: str
    base: dict[str, Any]  # the training-config mapping every run starts from
    overrides: tuple[str, ...]
    seeds: tuple[int, ...]
    variants: tuple[Variant, ...]
    report: ReportOptions


@dataclass(frozen=True)
class Run:
    """One training run of a sweep: a variant at a seed, its checked config, where it trains and where it shows."""

    variant: Variant
    seed: int
    config: TrainConfig
    key: str  # `eqv2.experiment.store.run_key` of the config and its data files
    run_dir: Path  # <store>/<key>, shared by every sweep that asks for the same run
    view: Path  # <out>/<variant>/seed<k>, a link to run_dir
    x: float | None  # the value of ``report.x`` in this run's config
    results_dir: Path  # <store>/../results/<key>: the finished run's small files, committed


def load_sweep(path: str | Path) -> Sweep:
    """Read and check a sweep YAML (its runs' configs are checked by `plan_runs`)."""
    path = Path(path)
    values = parse_yaml(path.read_text()) or {}
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: a sweep config must be a mapping")
    _check_section(values, SWEEP_KEYS, "")
    if ("base" in values) == ("base_config" in values):
        raise ConfigError("base / base_config: set exactly one (a training config path or an inline mapping)")
    for key in ("seeds", "variants"):
        if not values.get(key):
            raise ConfigError(f"{key}: required, a non-empty list")
    seeds = tuple(values["seeds"])
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds: repeated seed in {list(seeds)}")
    variants = tuple(_variant(entry, f"variants[{index}].") for index, entry in enumerate(values["variants"]))
    names = [variant.name for variant in variants]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ConfigError(f"variants: repeated name {repeated[0]!r}")
    report = _report_options(values.get("report") or {}, variants)
    overrides = tuple(values.get("overrides", ()))
    _check_no_seed(overrides, "overrides")
    return Sweep(
        name=values.get("name", path.stem),
        base=_base_config(values, path),
        overrides=overrides,
        seeds=seeds,
        variants=variants,
        report=report,
    )


def plan_runs(sweep: Sweep, out: Path, store: Path | None = None) -> list[Run]:
    """Every run of the sweep, seed by seed (all variants at the first seed come first), each config checked.

    ``store`` (default ``<out>/../runs``) holds the run directories, ``<store>/../results`` the finished
    runs' small files; the data files must exist (they are part of each run's key).
    """
    store = store if store is not None else out.parent / "runs"
    if out.resolve() == store.resolve():
        raise ConfigError(f"--out {out}: is the run store; give the sweep its own directory")
    runs = []
    for seed in sweep.seeds:
        for variant in sweep.variants:
            config = run_config(sweep, variant, seed)
            x = _x_value(config, sweep.report.x, variant.name) if sweep.report.x else None
            try:
                key = run_key(config)
            except ConfigError as error:
                raise ConfigError(f"variant {variant.name!r}: {error}") from None
            view = out / variant.name / f"seed{seed}"
            runs.append(Run(variant, seed, config, key, store / key, view, x, store.parent / "results" / key))
    return runs


def select_runs(sweep: Sweep, runs: list[Run], only: list[str]) -> list[Run]:
    """The runs of the variants named in ``only`` (every run when it is empty)."""
    names = [variant.name for variant in sweep.variants]
    for name in only:
        if name not in names:
            raise ConfigError(f"--only {name}: no such variant (the sweep has {', '.join(names)})")
    return [run for run in runs if not only or run.variant.name in only]


def run_config(sweep: Sweep, variant: Variant, seed: int) -> TrainConfig:
    """The base config with the sweep's, the variant's and the seed override applied, checked."""
    values = copy.deepcopy(sweep.base)
    try:
        for override in (*sweep.overrides, *variant.overrides, f"seed={seed}"):
            apply_override(values, override)
        config = config_from_dict(values)
    except ConfigError as error:
        raise ConfigError(f"variant {variant.name!r}: {error}") from None
    if not config.data.test:
        raise ConfigError(f"variant {variant.name!r}: data.test: required (the report compares test metrics)")
    return config


def _check_section(values: Any, known: dict[str, str], prefix: str) -> None:
    if not isinstance(values, dict):
        raise ConfigError(f"{prefix.rstrip('.')}: expected a mapping, got {values!r}")
    for key, value in values.items():
        check_known_key(key, known, prefix)
        check_type(f"{prefix}{key}", value, known[key])


def _variant(values: dict[str, Any], prefix: str) -> Variant:
    _check_section(values, VARIANT_KEYS, prefix)
    name = values.get("name")
    if not name or not SAFE_NAME.fullmatch(name):
        raise ConfigError(f"{prefix}name: required, letters, digits and _ . + - only (it names a directory)")
    overrides = tuple(values.get("overrides", ()))
    _check_no_seed(overrides, f"{prefix}overrides")
    return Variant(name, overrides, values.get("group"))


def _report_options(values: dict[str, Any], variants: tuple[Variant, ...]) -> ReportOptions:
    _check_section(values, REPORT_KEYS, "report.")
    metrics = tuple(values.get("metrics", DEFAULT_METRICS))
    for metric in metrics:
        if metric not in METRICS:
            raise ConfigError(f"report.metrics: {metric!r} is not a test metric (one of {', '.join(METRICS)})")
    names = [variant.name for variant in variants]
    groups = sorted({variant.group or "all" for variant in variants})
    comparisons = tuple(
        _comparison(entry, f"report.comparisons[{index}].", COMPARISON_KEYS, "variant", names)
        for index, entry in enumerate(values.get("comparisons", ()))
    )
    slope_comparisons = tuple(
        _comparison(entry, f"report.slope_comparisons[{index}].", SLOPE_COMPARISON_KEYS, "group", groups)
        for index, entry in enumerate(values.get("slope_comparisons", ()))
    )
    report = ReportOptions(
        values.get("x"),
        values.get("log_log", False),
        metrics,
        comparisons,
        values.get("slope_expect"),
        slope_comparisons,
    )
    if report.log_log and not report.x:
        raise ConfigError("report.log_log: needs report.x")
    if (report.slope_expect or report.slope_comparisons) and not report.log_log:
        raise ConfigError("report.slope_expect / report.slope_comparisons: need report.log_log")
    if report.slope_expect is not None and report.slope_expect not in EXPECTATIONS:
        raise ConfigError(f"report.slope_expect: must be one of {EXPECTATIONS}, got {report.slope_expect!r}")
    return report


def _comparison(
    values: dict[str, Any], prefix: str, known: dict[str, str], subject: str, choices: list[str]
) -> Comparison:
    _check_section(values, known, prefix)
    for key in known:
        if key not in values:
            raise ConfigError(f"{prefix}{key}: required")
    for key in (subject, "baseline"):
        if values[key] not in choices:
            raise ConfigError(f"{prefix}{key}: {values[key]!r} is not one of {', '.join(choices)}")
    if values["expect"] not in EXPECTATIONS:
        raise ConfigError(f"{prefix}expect: must be one of {EXPECTATIONS}, got {values['expect']!r}")
    return Comparison(values[subject], values["baseline"], values["expect"], values["claim"])


def _check_no_seed(overrides: tuple[str, ...], dotted: str) -> None:
    if any(override.partition("=")[0].strip() == "seed" for override in overrides):
        raise ConfigError(f"{dotted}: seed=...: the sweep's `seeds` key sets each run's seed")


def _base_config(values: dict[str, Any], path: Path) -> dict[str, Any]:
    if "base_config" in values:
        return values["base_config"]
    base = path.parent / values["base"]
    if not base.is_file():
        raise ConfigError(f"base: {base} does not exist (the path is relative to {path})")
    config = parse_yaml(base.read_text()) or {}
    if not isinstance(config, dict):
        raise ConfigError(f"base: {base} is not a mapping of config sections")
    return config


def _x_value(config: TrainConfig, dotted: str, variant: str) -> float:
    """The number at ``dotted`` in ``config`` (a one-element list such as lmax_list counts as its element)."""
    value: Any = config.to_dict()
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            raise ConfigError(f"report.x: {dotted} is not set in variant {variant!r}")
        value = value[part]
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ConfigError(f"report.x: {dotted} is {value!r} in variant {variant!r}; need a number")
    return float(value)
