"""Building what a run trains: datasets, the potential (fresh or fine-tuned), its statistics, the optimizer."""

from __future__ import annotations

import dataclasses
import functools
import sys
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset, Subset

from eqv2.batch import Structure
from eqv2.checkpoints.loading import load
from eqv2.checkpoints.parts import build_potential
from eqv2.data import DatasetStatistics, ReadOptions, compute_statistics, open_dataset
from eqv2.model import EquiformerV2, initialize_weights
from eqv2.model_config import EquiformerV2Config
from eqv2.potential import Normalizer, Potential, TargetStatistics
from eqv2.train.config import ConfigError, DataConfig, NormalizationConfig, TrainConfig, model_options
from eqv2.train.paired_init import build_paired
from eqv2.validation import DataError, check_elements

HEAD_PREFIXES = ("energy_head.", "force_head.")


def open_split(data: DataConfig, paths: str | list[str], required: tuple[str, ...]) -> Dataset:
    options = ReadOptions(data.energy_key, data.forces_key, data.stress_key, required_labels=required)
    return open_dataset(paths, options)


def training_subset(dataset: Dataset, limit: int | None) -> Dataset:
    """The first ``limit`` structures of a fixed permutation (seed 0) of ``dataset`` (all of it for None).

    The permutation does not depend on the run's seed, so runs that differ only in seed see the same
    structures, and the subset for a smaller ``limit`` lies inside the one for a larger ``limit``.
    """
    if limit is None:
        return dataset
    if limit > len(dataset):
        raise ConfigError(f"data.train_limit: {limit} is more than the {len(dataset)} structures of data.train")
    chosen = np.random.default_rng(0).permutation(len(dataset))[:limit]
    return Subset(dataset, np.sort(chosen).tolist())


def scan(dataset: Dataset, isolated_atom_cutoff: float | None = None) -> tuple[np.ndarray, DatasetStatistics]:
    """Atom counts [S] and target statistics of a training set, in one pass (``isolated_atom_cutoff``:
    `eqv2.data.compute_statistics`)."""
    num_atoms: list[int] = []

    def structures() -> Iterator[Structure]:
        for index in range(len(dataset)):
            structure = dataset[index]
            num_atoms.append(structure.num_atoms)
            yield structure

    statistics = compute_statistics(structures(), isolated_atom_cutoff=isolated_atom_cutoff)
    return np.asarray(num_atoms), statistics


def init_source(config: TrainConfig) -> Potential | None:
    """The potential that ``model.init_from`` names (loaded once per run), or None for a new model."""
    source = config.model.get("init_from")
    return load(source) if source else None


def fine_tuned_model_config(config: TrainConfig, loaded: Potential) -> EquiformerV2Config:
    """The ``init_from`` checkpoint's model config (of ``loaded``) with the model section's options over it."""
    return EquiformerV2Config.from_dict({**loaded.model.config.to_dict(), **model_options(config.model)})


def isolated_atom_cutoff(config: TrainConfig, loaded: Potential | None) -> float | None:
    """The cutoff (Å) that makes a training structure an isolated atom, when the model to train (new, or
    fine-tuned from ``loaded``) has ``isolated_atom_reference`` (its element references are then pinned to
    isolated atoms); else None. Raises `ConfigError` where the normalization would add more than the
    references to an isolated atom."""
    if loaded is None:
        model_config = EquiformerV2Config.from_dict(model_options(config.model))
    else:
        model_config = fine_tuned_model_config(config, loaded)
    if not model_config.isolated_atom_reference:
        return None
    normalization = config.normalization
    if not normalization.element_references or normalization.energy_mean:
        raise ConfigError(
            "model.isolated_atom_reference: needs normalization.element_references: true and no "
            "normalization.energy_mean (an isolated atom's energy is its element reference)"
        )
    return model_config.max_radius


def check_split_elements(dataset: Dataset, elements: list[int] | None, key: str) -> None:
    """Raise `ConfigError` before training when a structure of the split ``key`` (e.g. ``data.val``)
    holds an element outside ``elements`` (the potential's trained elements; None: unknown, no check)."""
    if elements is None:
        return
    for index in range(len(dataset)):
        try:
            check_elements(dataset[index], elements)
        except DataError as error:
            raise ConfigError(f"{key}: {error}") from None


def fitted_statistics(statistics: DatasetStatistics, normalization: NormalizationConfig) -> TargetStatistics:
    """Normalizers and element references from training-set statistics; explicit config values win.

    With element references: energy mean 0 and energy std = force std = force RMS (one scale for both).
    Without: the mean and std of the total energy.
    """
    scale = statistics.force_rms or statistics.residual_per_atom_std or 1.0
    if normalization.element_references:
        energy = Normalizer(mean=0.0, std=scale)
        references = list(statistics.reference_energies)
    else:
        energy = Normalizer(mean=statistics.energy_mean, std=statistics.energy_std or 1.0)
        references = None
    if normalization.energy_mean is not None:
        energy.mean = normalization.energy_mean
    if normalization.energy_std is not None:
        energy.std = normalization.energy_std
    forces = Normalizer(mean=0.0, std=normalization.forces_std or scale)
    return TargetStatistics(
        energy=energy, forces=forces, element_references=references, trained_elements=list(statistics.elements)
    )


def initial_potential(config: TrainConfig, statistics: DatasetStatistics, loaded: Potential | None) -> Potential:
    """A new potential from the model section, or one initialized from ``loaded``, the potential that
    ``model.init_from`` names (`init_source`)."""
    torch.manual_seed(config.seed)
    section = config.model
    if loaded is None:
        build = functools.partial(EquiformerV2, **model_options(section))
        model = build_paired(build, config.seed) if config.paired_init else build()
        return Potential(model, fitted_statistics(statistics, config.normalization))
    source = section["init_from"]
    model_config = fine_tuned_model_config(config, loaded)
    model = build_potential(model_config, loaded.model.state_dict(), loaded.statistics, source=source).model
    if section.get("reinit_heads"):
        for head in (model.energy_head, model.force_head):
            if head is not None:
                initialize_weights(head, model.config.weight_init)
    if section.get("freeze_backbone"):
        for name, parameter in model.named_parameters():
            parameter.requires_grad_(name.startswith(HEAD_PREFIXES))
    keep = not config.normalization.refit
    target_statistics = loaded.statistics if keep else fitted_statistics(statistics, config.normalization)
    if keep and target_statistics.trained_elements is not None:
        elements = set(target_statistics.trained_elements) | set(statistics.elements)
        target_statistics = dataclasses.replace(target_statistics, trained_elements=sorted(elements))
    print(f"initialized from {source} ({'kept' if keep else 'refit'} its normalizers)", file=sys.stderr)
    return Potential(model, target_statistics, loaded.metadata)


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW; weight decay on weight matrices only (not on biases, norms or other 1-D parameters)."""
    trainable = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    decayed = [p for _, p in trainable if p.ndim > 1]
    plain = [p for _, p in trainable if p.ndim <= 1]
    groups = [
        {"params": decayed, "weight_decay": config.optim.weight_decay},
        {"params": plain, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.optim.lr, betas=tuple(config.optim.betas))
