import numpy as np
import pytest

from eqv2.packing import Budget, Cost, default_budget, pack, structure_cost
from eqv2.testing import structures, tiny_potential
from eqv2.validation import DataError


def test_batches_fill_up_to_the_budget_in_order_and_a_large_structure_runs_alone():
    sizes = [3, 4, 2, 9, 1, 1, 5, 3]
    groups = list(pack(sizes, lambda atoms: Cost(1, atoms, 10 * atoms), Budget(max_atoms=7)))
    assert groups == [[3, 4], [2], [9], [1, 1, 5], [3]]
    assert list(pack(sizes, lambda atoms: Cost(1, atoms, 10 * atoms), Budget(max_edges=70))) == groups
    assert list(pack(sizes, lambda atoms: Cost(1, atoms, 0), Budget(max_structures=3, max_atoms=8))) == [
        [3, 4], [2], [9], [1, 1, 5], [3]]  # fmt: skip
    assert list(pack(sizes, lambda atoms: Cost(1, atoms, 0), Budget(max_structures=2))) == [
        [3, 4], [2, 9], [1, 1], [5, 3]]  # fmt: skip
    assert list(pack(sizes, lambda atoms: Cost(1, atoms, 0), Budget())) == [sizes]


def test_a_structure_costs_its_atoms_and_the_edges_of_the_models_graph():
    potential = tiny_potential()
    molecule = structures()[0]
    batch = potential.collate([molecule])
    assert structure_cost(potential, molecule) == Cost(1, 6, int(batch.edge_index.shape[1]))
    bad = structures()[0]
    bad.atomic_numbers = np.array([6, 1, 1, 8, 7, 200])
    with pytest.raises(DataError, match="molecule: atomic number 200"):
        structure_cost(potential, bad)


def test_budget_limits_are_positive_and_the_default_is_an_edge_budget():
    with pytest.raises(ValueError, match="max_atoms must be at least 1"):
        Budget(max_atoms=0)
    budget = default_budget(tiny_potential())
    assert budget.max_structures is None and budget.max_atoms is None and budget.max_edges >= 1
    assert default_budget(tiny_potential(), "conservative").max_edges <= budget.max_edges
