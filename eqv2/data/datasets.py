"""Datasets from files: open one or many, split one with a seed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from torch.utils.data import ConcatDataset, Dataset, Subset

from eqv2.data.aselmdb import AseLmdbDataset
from eqv2.data.readers import AseDbDataset, AseFileDataset, ExtxyzDataset, ReadOptions

READERS = {".extxyz": ExtxyzDataset, ".xyz": ExtxyzDataset, ".db": AseDbDataset, ".aselmdb": AseLmdbDataset}


def open_dataset(paths: str | Path | Sequence[str | Path], options: ReadOptions = ReadOptions()) -> Dataset:
    """One dataset over one or more files, each opened by its suffix (see `eqv2.data.readers`)."""
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    if not paths:
        raise ValueError("open_dataset needs at least one file")
    datasets = []
    for path in map(Path, paths):
        if not path.exists():
            raise FileNotFoundError(f"dataset file {path} does not exist")
        datasets.append(READERS.get(path.suffix.lower(), AseFileDataset)(path, options))
    return datasets[0] if len(datasets) == 1 else ConcatDataset(datasets)


def split_dataset(dataset: Dataset, fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0) -> tuple[Subset, ...]:
    """Disjoint random subsets (e.g. train, val, test) with the given fractions of ``dataset``.

    The permutation depends only on ``seed`` and the dataset's length; rounding leftovers go to
    the first subset.
    """
    if any(fraction < 0 for fraction in fractions) or not np.isclose(sum(fractions), 1.0):
        raise ValueError(f"split fractions must be non-negative and sum to 1, got {list(fractions)}")
    permutation = np.random.default_rng(seed).permutation(len(dataset))
    sizes = [int(np.floor(fraction * len(dataset))) for fraction in fractions]
    sizes[0] += len(dataset) - sum(sizes)
    bounds = np.cumsum([0, *sizes])
    return tuple(Subset(dataset, permutation[start:stop].tolist()) for start, stop in zip(bounds[:-1], bounds[1:]))
