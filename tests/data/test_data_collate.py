"""`collate` builds one batched graph equal to the graphs of its structures."""

import numpy as np
import torch
from ase.build import bulk, molecule
from ase.calculators.singlepoint import SinglePointCalculator

from eqv2.batch import Structure, collate
from eqv2.graph.neighbors import radius_graph


def test_collate_graph_equals_single_graphs():
    structures = [Structure.from_atoms(atoms) for atoms in (bulk("Cu", "fcc", a=3.6) * (2, 1, 1), molecule("CH4"))]
    batch = collate(structures, cutoff=4.0, max_neighbors=8, neighbor_mode="shell", dtype=torch.float64)
    offset, expected = 0, []
    for s in structures:
        edge_index, _ = radius_graph(s.positions, s.cell, s.pbc, 4.0, max_neighbors=8, mode="shell")
        expected.append(edge_index + offset)
        offset += s.num_atoms
    assert torch.equal(batch.edge_index, torch.cat(expected, dim=1))
    lengths = batch.edge_vectors().norm(dim=1)
    assert (lengths > 0).all() and (lengths <= 4.0).all()
    np.testing.assert_array_equal(batch.num_atoms, [2, 5])


def test_collate_keeps_the_stress_labels_a_mixed_batch_has():
    """Slabs and molecules without stress next to bulk with stress: NaN rows mark the missing labels."""
    labelled = bulk("Cu", "fcc", a=3.6) * (2, 1, 1)
    labelled.calc = SinglePointCalculator(labelled, energy=0.0, stress=np.arange(6.0))
    unlabelled = molecule("CH4")
    structures = [Structure.from_atoms(atoms) for atoms in (unlabelled, labelled, unlabelled)]
    batch = collate(structures, cutoff=4.0, dtype=torch.float64)
    np.testing.assert_array_equal(batch.stress_labelled, [False, True, False])
    assert torch.isnan(batch.stress[[0, 2]]).all()
    np.testing.assert_array_equal(batch.stress[1], structures[1].stress)
    none = collate([structures[0]], cutoff=4.0)
    assert none.stress is None and not none.stress_labelled.any()
