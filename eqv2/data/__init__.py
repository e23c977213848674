"""Datasets: readers for extxyz, ASE .db and .aselmdb files, input validation, target statistics and
the built-in EMT dataset (`eqv2.data.emt`)."""

from eqv2.data.aselmdb import AseLmdbDataset, write_aselmdb
from eqv2.data.datasets import open_dataset, split_dataset
from eqv2.data.readers import AseDbDataset, AseFileDataset, ExtxyzDataset, ReadOptions, structure_from_atoms
from eqv2.data.statistics import DatasetStatistics, compute_statistics
from eqv2.data.validation import DataError, validate_structure

__all__ = [
    "AseDbDataset",
    "AseFileDataset",
    "AseLmdbDataset",
    "DataError",
    "ExtxyzDataset",
    "ReadOptions",
    "DatasetStatistics",
    "compute_statistics",
    "open_dataset",
    "split_dataset",
    "structure_from_atoms",
    "validate_structure",
    "write_aselmdb",
]
