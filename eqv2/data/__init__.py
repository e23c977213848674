"""Datasets: readers for extxyz, ASE .db and .aselmdb files, target statistics and the built-in EMT
dataset (`eqv2.data.emt`). Structures are checked on read by `eqv2.validation`."""

from eqv2.data.aselmdb import AseLmdbDataset, write_aselmdb
from eqv2.data.datasets import open_dataset, split_dataset
from eqv2.data.readers import AseDbDataset, AseFileDataset, ExtxyzDataset, ReadOptions, structure_from_atoms
from eqv2.data.statistics import DatasetStatistics, compute_statistics

__all__ = [
    "AseDbDataset",
    "AseFileDataset",
    "AseLmdbDataset",
    "ExtxyzDataset",
    "ReadOptions",
    "DatasetStatistics",
    "compute_statistics",
    "open_dataset",
    "split_dataset",
    "structure_from_atoms",
    "write_aselmdb",
]
