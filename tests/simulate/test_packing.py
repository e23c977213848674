import numpy as np
import pytest
import torch

from eqv2 import EquiformerV2, Potential
from eqv2.simulate import packing
from eqv2.simulate.packing import (
    CPU_BATCH_BYTES,
    MEMORY_FRACTION,
    Budget,
    Cost,
    bytes_per_edge,
    call_path,
    default_budget,
    pack,
    structure_cost,
)
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
    with pytest.raises(ValueError, match="path must be one of"):
        default_budget(tiny_potential(), "stresss")


def test_the_call_path_is_autograd_for_conservative_forces_and_for_a_stress_without_a_stress_head():
    plain, with_head = tiny_potential(), tiny_potential(stress_head=True)
    assert [call_path(plain, "direct", False), call_path(plain, "direct", True)] == ["direct", "stress"]
    assert [call_path(with_head, "direct", True), call_path(with_head, "conservative", False)] == [
        "direct", "conservative"]  # fmt: skip


def test_the_default_budget_fits_the_path_and_shrinks_with_channels_lmax_and_layers(monkeypatch):
    monkeypatch.setattr(packing, "free_memory", lambda device: 2**40)  # a huge machine: the CPU cap decides
    small = tiny_potential(dtype=torch.float32)
    budgets = {path: default_budget(small, path).max_edges for path in ("direct", "stress", "conservative")}
    assert budgets["direct"] > budgets["stress"] == budgets["conservative"]
    for path, max_edges in budgets.items():
        per_edge = bytes_per_edge(small, path)
        assert CPU_BATCH_BYTES - per_edge < max_edges * per_edge <= CPU_BATCH_BYTES
    for larger in (dict(sphere_channels=32), dict(lmax_list=[4]), dict(num_layers=4)):
        potential = tiny_potential(dtype=torch.float32, **larger)
        assert default_budget(potential, "stress").max_edges < budgets["stress"], larger
    assert default_budget(small.to(torch.float64), "direct").max_edges == budgets["direct"] // 2


def test_the_default_budget_keeps_a_batch_within_a_fraction_of_memory_shared_by_the_processes(monkeypatch):
    free = 2**30  # less than CPU_BATCH_BYTES / MEMORY_FRACTION: the free memory decides
    monkeypatch.setattr(packing, "free_memory", lambda device: free)
    potential = tiny_potential(dtype=torch.float32)
    for processes in (1, 2, 4):
        batch_bytes = default_budget(potential, "stress", processes).max_edges * bytes_per_edge(potential, "stress")
        assert MEMORY_FRACTION * free / processes - bytes_per_edge(potential, "stress") < batch_bytes
        assert batch_bytes <= MEMORY_FRACTION * free / processes


def test_oc20_31m_screening_with_stress_on_a_cpu_is_held_to_a_gigabyte_per_batch(monkeypatch):
    monkeypatch.setattr(packing, "free_memory", lambda device: 2**40)
    potential = Potential(EquiformerV2.from_preset("oc20-31M"))
    max_edges = default_budget(potential, call_path(potential, "direct", True)).max_edges
    assert max_edges * bytes_per_edge(potential, "stress") <= 2**30
    assert 500 <= max_edges <= 1000  # one or two OC20-sized slabs: CPUs gain nothing from more
