"""The training configuration: a YAML file plus ``key.sub=value`` overrides, checked field by field.

Sections (see `configs/demo.yaml` for an example):

    model          a preset name and/or EquiformerV2 options, or ``init_from`` a checkpoint
    data           train / val / test files and the label keys to read
    optim          AdamW, cosine schedule with linear warm-up, batch size, accumulation, clipping, EMA
    loss           energy / forces / stress terms and their coefficients
    normalization  element references and output scales, or (fine-tuning) whether to refit them
    top level      seed, device, dtype, evaluation and logging cadence

Unknown keys and wrong types raise `ConfigError` naming the dotted key, e.g. ``optim.lr``.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from eqv2 import config_types
from eqv2.model_config import IGNORED_KEYWORDS, EquiformerV2Config, load_preset
from eqv2.potential import FORCE_MODES
from eqv2.runtime import DTYPES


class ConfigError(ValueError):
    """A configuration key that is unknown, of the wrong type, or has an invalid value."""


# model keys that are not EquiformerV2 options
MODEL_TRAINING_KEYS = ("preset", "init_from", "reinit_heads", "freeze_backbone")


@dataclass
class DataConfig:
    train: str | list[str] = ""
    val: str | list[str] = ""
    test: str | list[str] | None = None
    # train on the first N structures of one fixed permutation (seed 0, whatever the run's seed) of the
    # training split: every run with the same N sees the same structures, and smaller subsets nest in larger
    train_limit: int | None = None
    energy_key: str = "energy"
    forces_key: str = "forces"
    stress_key: str = "stress"


@dataclass
class OptimConfig:
    lr: float = 2e-4  # peak learning rate (AdamW)
    weight_decay: float = 1e-3
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    batch_size: int = 8  # structures per rank per micro-batch; global = batch_size * ranks * grad_accumulation
    grad_accumulation: int = 1
    max_steps: int | None = None  # optimizer steps; exactly one of max_steps / max_epochs
    max_epochs: float | None = None
    warmup_steps: int | None = None  # linear warm-up; at most one of warmup_steps / warmup_epochs
    warmup_epochs: float | None = None
    warmup_factor: float = 0.2  # warm-up starts at warmup_factor * lr
    lr_min_factor: float = 0.01  # the cosine ends at lr_min_factor * lr
    grad_clip: float | None = 100.0  # max gradient norm; null for none
    ema_decay: float | None = 0.999  # null for no EMA


@dataclass
class LossConfig:
    energy: str = "mae"  # "mae" of the total energy or "per_atom_mae"
    forces: str = "l2mae"  # "l2mae" (mean per-atom Euclidean error) or "mae" (mean absolute component error)
    forces_mode: str = "direct"  # "direct" (force head) or "conservative" (-dE/dr)
    energy_coefficient: float = 1.0
    forces_coefficient: float = 100.0
    stress_coefficient: float = 0.0
    train_on_free_atoms: bool = False  # leave FixAtoms atoms out of the force loss


@dataclass
class NormalizationConfig:
    element_references: bool = True  # fit per-element reference energies by least squares
    energy_mean: float | None = None  # null: fitted (0 with element references)
    energy_std: float | None = None  # null: the force RMS (or energy std without forces)
    forces_std: float | None = None  # null: the force RMS
    refit: bool = True  # fine-tuning only: refit on the new data (false keeps the checkpoint's)


@dataclass
class TrainConfig:
    model: dict[str, Any] = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    normalization: NormalizationConfig = field(default_factory=NormalizationConfig)
    seed: int = 0
    # initial weights drawn per parameter name from the seed (`eqv2.train.paired_init`), so that variants of a
    # sweep that share a layer start with the same weights in it; false: one random stream in build order
    paired_init: bool = False
    device: str = "auto"  # "auto", "cpu", "cuda"
    dtype: str = "float32"  # "float32" or "float64"
    bf16: bool | None = None  # bf16 autocast: null = on GPUs only, true = also on CPUs, false = never
    compile: bool = False  # torch.compile the network's dense parts (compile_dense_parts); direct forces, no stress
    eval_every: int = 100  # optimizer steps between validations (and last.pt writes)
    eval_batch_size: int = 16
    stop_at_step: int | None = None  # stop early (the schedule still runs to max_steps); for tests and resume
    tensorboard: bool = True
    plots: bool = True

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


CHOICES = {
    "loss.energy": ("mae", "per_atom_mae"),
    "loss.forces": ("l2mae", "mae"),
    "loss.forces_mode": FORCE_MODES,
    "device": ("auto", "cpu", "cuda"),
    "dtype": tuple(DTYPES),
}


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads ``1e-3`` as a string; this loader reads it as a float."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^[-+]?\.(inf|Inf|INF)$|^\.(nan|NaN|NAN)$"),
    list("-+0123456789."),
)


def parse_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)


def load_config(path: str | Path | None = None, overrides: list[str] = ()) -> TrainConfig:
    """A checked `TrainConfig` from a YAML file and ``key.sub=value`` overrides (values parsed as YAML)."""
    if path is not None and not Path(path).is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    values = parse_yaml(Path(path).read_text()) if path is not None else {}
    values = values or {}
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: the config must be a mapping of sections")
    for override in overrides:
        apply_override(values, override)
    return config_from_dict(values)


def apply_override(values: dict[str, Any], override: str) -> None:
    """Set ``values[a][b] = parsed`` for ``override = "a.b=parsed"``, creating sections as needed."""
    key, separator, text = override.partition("=")
    if not separator or not key:
        raise ConfigError(f"override {override!r}: expected key.sub=value")
    *sections, leaf = key.strip().split(".")
    target = values
    for depth, section in enumerate(sections):
        target = target.setdefault(section, {})
        if not isinstance(target, dict):
            raise ConfigError(f"{'.'.join(sections[: depth + 1])}: is not a section")
    target[leaf] = parse_yaml(text)


def config_from_dict(values: dict[str, Any]) -> TrainConfig:
    """Build and check a `TrainConfig`; errors name the dotted key."""
    config = _dataclass_from_dict(TrainConfig, values, "")
    check_config(config)
    return config


def _dataclass_from_dict(cls: type, values: Any, prefix: str) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a mapping, got {values!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        dotted = f"{prefix}{key}"
        check_known_key(key, fields, prefix)
        annotation = fields[key].type
        if dataclasses.is_dataclass(_SECTIONS.get(annotation)):
            kwargs[key] = _dataclass_from_dict(_SECTIONS[annotation], value, f"{dotted}.")
        else:
            check_type(dotted, value, annotation)
            kwargs[key] = float(value) if annotation.startswith("float") and isinstance(value, int) else value
    return cls(**kwargs)


_SECTIONS = {
    "DataConfig": DataConfig,
    "OptimConfig": OptimConfig,
    "LossConfig": LossConfig,
    "NormalizationConfig": NormalizationConfig,
}


def check_known_key(key: Any, known: Iterable[str], prefix: str = "") -> None:
    """Raise `ConfigError` for a key that is not in ``known``, naming ``prefix + key`` and the closest known key."""
    if key in known:
        return
    close = difflib.get_close_matches(str(key), sorted(known), n=1)
    hint = f" (did you mean {prefix}{close[0]}?)" if close else ""
    raise ConfigError(f"unknown config key {prefix + str(key)!r}{hint}")


def check_type(dotted: str, value: Any, annotation: str) -> None:
    """`eqv2.config_types.check_type` raising `ConfigError`."""
    config_types.check_type(dotted, value, annotation, ConfigError)


def check_config(config: TrainConfig) -> None:
    """Raise `ConfigError` naming the first invalid value."""
    for dotted, choices in CHOICES.items():
        value = _get(config, dotted)
        if value not in choices:
            raise ConfigError(f"{dotted}: must be one of {choices}, got {value!r}")
    optim = config.optim
    if (optim.max_steps is None) == (optim.max_epochs is None):
        raise ConfigError("optim.max_steps / optim.max_epochs: set exactly one")
    if optim.warmup_steps is not None and optim.warmup_epochs is not None:
        raise ConfigError("optim.warmup_steps / optim.warmup_epochs: set at most one")
    for dotted in ("optim.batch_size", "optim.grad_accumulation", "eval_every", "eval_batch_size", "data.train_limit"):
        value = _get(config, dotted)
        if value is not None and value < 1:
            raise ConfigError(f"{dotted}: must be at least 1")
    if len(optim.betas) != 2:
        raise ConfigError("optim.betas: expected two numbers")
    if optim.ema_decay is not None and not 0.0 <= optim.ema_decay < 1.0:
        raise ConfigError("optim.ema_decay: must be in [0, 1)")
    if not config.data.train:
        raise ConfigError("data.train: required")
    if not config.data.val:
        raise ConfigError("data.val: required")
    if config.compile and (config.loss.forces_mode == "conservative" or config.loss.stress_coefficient > 0):
        raise ConfigError(
            "compile: needs loss.forces_mode direct and no stress loss (their gradients are double backward, "
            "which compiled code does not support)"
        )
    if config.paired_init and config.model.get("init_from"):
        raise ConfigError("paired_init: only for models trained from scratch, not with model.init_from")
    check_model_section(config.model)


def check_model_section(model: dict[str, Any]) -> None:
    """Training keys have the right types; the rest must be valid EquiformerV2 options."""
    types = {"preset": "str | None", "init_from": "str | None", "reinit_heads": "bool", "freeze_backbone": "bool"}
    for key, annotation in types.items():
        if key in model:
            check_type(f"model.{key}", model[key], annotation)
    if model.get("preset") and model.get("init_from"):
        raise ConfigError("model.preset / model.init_from: set at most one")
    options = model_options(model)
    known = {f.name for f in dataclasses.fields(EquiformerV2Config)} | IGNORED_KEYWORDS
    for key in options:
        check_known_key(key, known, "model.")
    if not model.get("init_from"):
        try:
            EquiformerV2Config.from_dict(options)
        except (ValueError, TypeError) as error:
            raise ConfigError(f"model.{error}") from None


def model_options(model: dict[str, Any]) -> dict[str, Any]:
    """The EquiformerV2 keyword arguments of the model section: preset values, then the section's own."""
    own = {key: value for key, value in model.items() if key not in MODEL_TRAINING_KEYS}
    preset = model.get("preset")
    return {**(load_preset(preset) if preset else {}), **own}


def _get(config: TrainConfig, dotted: str) -> Any:
    value: Any = config
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


def config_to_yaml(config: TrainConfig) -> str:
    return yaml.safe_dump(config.to_dict(), sort_keys=False)
