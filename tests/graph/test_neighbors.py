"""`eqv2.graph.neighbors`: the radius graph equals ASE's neighbour list for any cell; the neighbour limit modes."""

import itertools
import subprocess
import sys

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, molecule
from ase.neighborlist import neighbor_list

from eqv2.graph.cell_list import cell_list_pairs, close_empty_gaps
from eqv2.graph.neighbors import radius_graph, radius_graph_batch

PBC_CHOICES = list(itertools.product([False, True], repeat=3))


def ase_edges(positions, cell, pbc, cutoff) -> set:
    atoms = Atoms(numbers=np.ones(len(positions)), positions=positions, cell=cell, pbc=pbc)
    i, j, shifts = neighbor_list("ijS", atoms, cutoff)
    return {(int(a), int(b), *map(int, s)) for a, b, s in zip(j, i, shifts)}


def eqv2_edges(positions, cell, pbc, cutoff, **kwargs) -> set:
    edge_index, shifts = radius_graph(positions, cell, pbc, cutoff, **kwargs)
    return {(int(j), int(i), *map(int, s)) for (j, i), s in zip(edge_index.T, shifts)}


def random_triclinic(rng, num_atoms, scale=4.0):
    cell = np.eye(3) * scale + rng.normal(size=(3, 3)) * scale / 3
    positions = rng.random((num_atoms, 3)) @ cell + rng.normal(size=(num_atoms, 3))  # some outside the cell
    return positions, cell


@pytest.mark.parametrize("pbc", PBC_CHOICES)
def test_random_triclinic_cells_match_ase(pbc):
    rng = np.random.default_rng(sum(pbc))
    for _ in range(3):
        positions, cell = random_triclinic(rng, 15)
        assert eqv2_edges(positions, cell, pbc, 4.5) == ase_edges(positions, cell, pbc, 4.5)


@pytest.mark.parametrize("pbc", [(True, True, True), (True, False, True)])
def test_cells_smaller_than_cutoff_and_skewed_match_ase(pbc):
    tiny = np.array([[1.0, 0.0, 0.0], [0.3, 1.2, 0.0], [0.2, 0.1, 0.9]])
    skewed = np.array([[4.0, 0.0, 0.0], [-3.9, 0.3, 0.0], [3.9, 0.25, 0.4]])
    rng = np.random.default_rng(1)
    for cell in (tiny, skewed):
        positions = rng.random((3, 3)) @ cell
        assert eqv2_edges(positions, cell, pbc, 3.5) == ase_edges(positions, cell, pbc, 3.5)


def test_single_atom_in_tiny_cell_sees_its_images():
    cell = np.eye(3) * 1.5
    edges = eqv2_edges(np.zeros((1, 3)), cell, (True, True, True), 1.6)
    assert edges == {(0, 0, *s) for s in [(1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1)]}


@pytest.mark.parametrize(
    "cell, pbc",
    [
        (np.diag([3.0, 0.0, 0.0]), (True, False, False)),
        (np.array([[3.0, 0.0, 0.0], [1.0, 2.5, 0.0], [0.0, 0.0, 0.0]]), (True, True, False)),
        (np.zeros((3, 3)), (False, False, False)),
    ],
)
def test_zero_cell_vectors_along_non_periodic_directions(cell, pbc):
    positions = np.random.default_rng(2).random((6, 3)) * 4
    assert eqv2_edges(positions, cell, pbc, 4.0) == ase_edges(positions, cell, pbc, 4.0)


def test_molecule_and_isolated_atoms():
    water = molecule("H2O")
    assert eqv2_edges(water.positions, np.zeros((3, 3)), [False] * 3, 1.2) == ase_edges(
        water.positions, water.cell, water.pbc, 1.2
    )
    edge_index, shifts = radius_graph(np.array([[0.0, 0, 0], [10.0, 0, 0]]), np.zeros((3, 3)), [False] * 3, 5.0)
    assert edge_index.shape == (2, 0) and shifts.shape == (0, 3)
    edge_index, shifts = radius_graph(np.zeros((0, 3)), np.zeros((3, 3)), [False] * 3, 5.0)
    assert edge_index.shape == (2, 0) and shifts.shape == (0, 3)


UNBINNABLE_BOXES_SCRIPT = """
import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list
from eqv2.graph.neighbors import pairs_within, radius_graph
cell = np.array([[4.0, 0.0, 0.0], [1.0, 3.5, 0.0], [0.5, 0.3, 9.0]])

def without_atom_0(graph):
    keep = (graph[0] != 0).all(dim=0)  # atom 0 keeps only edges to its own periodic images when far
    return graph[0][:, keep], graph[1][keep]

for pbc in [(False,) * 3, (True, True, False), (True, False, False)]:
    for mode in ("shell", "reference_strict"):
        positions = np.random.default_rng(3).random((8, 3)) * 4
        near = without_atom_0(radius_graph(positions, cell, pbc, 5.0, 500, mode=mode))
        positions[0] += np.array([1.0, 2.0, 3.0]) * 1e7  # far along every direction, periodic or not
        far = without_atom_0(radius_graph(positions, cell, pbc, 5.0, 500, mode=mode))
        assert all((a.shape == b.shape and (a == b).all()) for a, b in zip(near, far)), (pbc, mode)

sheet = np.c_[np.random.default_rng(5).random((3000, 2)) * 500.0, np.zeros(3000)]  # flat, 500 Å across
for pbc, sheet_cell in [((False,) * 3, np.zeros((3, 3))), ((True, True, False), np.diag([500.0, 500.0, 0.0]))]:
    atoms = Atoms(numbers=np.ones(3000), positions=sheet, cell=sheet_cell, pbc=pbc)
    i, j, shifts = neighbor_list("ijS", atoms, 1.0)
    source, target, found_shifts, _ = pairs_within(sheet, sheet_cell, np.array(pbc), 1.0)  # eqv2.validation's radius
    found = {(int(a), int(b), *map(int, s)) for a, b, s in zip(source, target, found_shifts)}
    assert found == {(int(a), int(b), *map(int, s)) for a, b, s in zip(j, i, shifts)}, pbc
print("same")
"""


def test_boxes_vesin_cannot_bin_keep_the_process_alive():
    """vesin's cell list dies (SIGFPE) on thin boxes of more than 10^5 cells: an atom far off along a
    non-periodic direction (its graph is that of the other atoms) and a flat sheet 500 Å across searched
    at 1 Å (the pairs are ASE's). Run in a child process, where a crash is a failure."""
    result = subprocess.run([sys.executable, "-c", UNBINNABLE_BOXES_SCRIPT], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "same", result.stderr[-2000:]


@pytest.mark.parametrize("pbc", [(False, False, False), (True, True, False), (True, False, False)])
def test_narrowed_gaps_keep_every_pair_and_distance(pbc):
    rng = np.random.default_rng(4)
    cell = np.array([[3.0, 0.0, 0.0], [0.8, 3.2, 0.0], [0.4, 0.6, 3.0]])
    clusters = [rng.random((5, 3)) * 3 + offset for offset in ([0, 0, 0], [0, 0, 40.0], [55.0, -70.0, 130.0])]
    positions = np.concatenate(clusters)
    box = np.where(np.asarray(pbc)[:, None], cell, 0.0)
    moved = close_empty_gaps(positions, box, np.asarray(pbc), 0.2)  # 20 Å widest gap: all three narrowed
    assert moved is not positions
    assert (
        eqv2_edges(moved, cell, pbc, 4.0)
        == eqv2_edges(positions, cell, pbc, 4.0)
        == ase_edges(positions, cell, pbc, 4.0)
    )
    i, j, shifts, distances = cell_list_pairs(positions, box, np.asarray(pbc), 4.0)
    np.testing.assert_allclose(distances, np.linalg.norm(positions[j] + shifts @ box - positions[i], axis=1))
    assert close_empty_gaps(positions, box, np.asarray(pbc), 4.0) is positions  # no stretch of 400 Å


def test_edge_vectors_order_and_inclusive_cutoff():
    crystal = bulk("Cu", "sc", a=2.0)  # nearest neighbours exactly at the cutoff
    edge_index, shifts = radius_graph(crystal.positions, crystal.cell[:], crystal.pbc, 2.0)
    assert edge_index.dtype == torch.long and shifts.dtype == torch.long
    assert edge_index.shape[1] == 6
    vectors = crystal.positions[edge_index[0]] + shifts.numpy() @ crystal.cell[:] - crystal.positions[edge_index[1]]
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 2.0)
    positions, cell = random_triclinic(np.random.default_rng(3), 20)
    edge_index, shifts = radius_graph(positions, cell, [True] * 3, 4.0)
    keys = np.column_stack([edge_index[1], edge_index[0], shifts]).tolist()
    assert keys == sorted(keys)


def test_torch_input_and_batch_equal_single_graphs():
    rng = np.random.default_rng(4)
    structures = [random_triclinic(rng, n) for n in (5, 0, 8)]
    pbcs = [(True, True, True), (False, False, False), (True, False, True)]
    edge_index, shifts = radius_graph_batch(
        torch.as_tensor(np.concatenate([p for p, _ in structures])),
        torch.as_tensor(np.stack([c for _, c in structures])),
        torch.tensor(pbcs),
        torch.tensor([5, 0, 8]),
        4.0,
    )
    expected_index, expected_shifts, offset = [], [], 0
    for (positions, cell), pbc in zip(structures, pbcs):
        single_index, single_shifts = radius_graph(torch.as_tensor(positions), cell, pbc, 4.0)
        expected_index.append(single_index + offset)
        expected_shifts.append(single_shifts)
        offset += len(positions)
    assert torch.equal(edge_index, torch.cat(expected_index, dim=1))
    assert torch.equal(shifts, torch.cat(expected_shifts))


def test_bad_arguments():
    with pytest.raises(ValueError, match="zero volume"):
        radius_graph(np.zeros((2, 3)) + [[0, 0, 0], [1, 0, 0]], np.diag([3.0, 3.0, 0.0]), [True] * 3, 2.0)
    with pytest.raises(ValueError, match="neighbour mode"):
        radius_graph(np.zeros((1, 3)), np.eye(3), [True] * 3, 2.0, max_neighbors=4, mode="loose")


def fcc_neighbor_counts(max_neighbors, mode):
    crystal = bulk("Cu", "fcc", a=3.6).repeat((2, 2, 2))
    edge_index, _ = radius_graph(crystal.positions, crystal.cell[:], crystal.pbc, 6.0, max_neighbors, mode)
    return np.bincount(edge_index[1].numpy(), minlength=len(crystal))


@pytest.mark.parametrize(
    "max_neighbors, strict, shell, reference_loose",
    [(1, 1, 12, 12), (5, 5, 12, 12), (12, 12, 12, 18), (13, 13, 18, 18), (18, 18, 18, 42)],
)
def test_tie_modes_on_perfect_fcc(max_neighbors, strict, shell, reference_loose):
    """fcc shells around each atom (a = 3.6 Å, cutoff 6 Å): 12, 6, 24 atoms."""
    assert set(fcc_neighbor_counts(max_neighbors, "strict")) == {strict}
    assert set(fcc_neighbor_counts(max_neighbors, "shell")) == {shell}
    assert set(fcc_neighbor_counts(max_neighbors, "reference_loose")) == {reference_loose}


def test_strict_breaks_ties_by_source_then_shift():
    crystal = bulk("Cu", "fcc", a=3.6)  # one atom: all 12 nearest neighbours are images of atom 0
    _, shifts = radius_graph(crystal.positions, crystal.cell[:], crystal.pbc, 3.0, max_neighbors=3, mode="strict")
    _, all_shifts = radius_graph(crystal.positions, crystal.cell[:], crystal.pbc, 3.0)
    assert shifts.tolist() == sorted(all_shifts.tolist())[:3]


def test_limits_match_their_definitions_on_random_structure():
    positions, cell = random_triclinic(np.random.default_rng(5), 12)
    k = 6
    full_index, full_shifts = radius_graph(positions, cell, [True] * 3, 5.0)
    distances = np.linalg.norm(positions[full_index[0]] + full_shifts.numpy() @ cell - positions[full_index[1]], axis=1)
    for mode in ("strict", "shell", "reference_loose"):
        edge_index, _ = radius_graph(positions, cell, [True] * 3, 5.0, max_neighbors=k, mode=mode)
        for target in range(len(positions)):
            mine = np.sort(distances[full_index[1].numpy() == target])
            expected = {
                "strict": min(k, len(mine)),
                "shell": np.sum(mine <= mine[min(k, len(mine)) - 1] + 1e-4),
                "reference_loose": len(mine) if len(mine) <= k else np.sum(mine**2 <= mine[k] ** 2 + 0.01),
            }[mode]
            assert int((edge_index[1] == target).sum()) == expected


@pytest.mark.parametrize("mode", ["strict", "shell", "reference_loose"])
def test_limited_search_gives_the_edges_of_a_full_cutoff_search(mode, monkeypatch):
    """The neighbour-limited search starts small and grows; its edges equal those of one search at the
    cutoff, on symmetric crystals (degenerate shells), a rattled supercell and a slab."""
    from eqv2.graph import neighbors

    slab = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((3, 3, 3))
    slab.center(vacuum=6.0, axis=2)
    rattled = bulk("NaCl", "rocksalt", a=5.64).repeat((3, 3, 3))
    rattled.rattle(0.05, seed=1)
    cases = [bulk("Cu", "fcc", a=3.61), bulk("Fe", "bcc", a=2.87, cubic=True).repeat(3), rattled, slab]
    for atoms, k in itertools.product(cases, (4, 12, 20)):
        limited = eqv2_edges(atoms.positions, atoms.cell[:], atoms.pbc, 9.0, max_neighbors=k, mode=mode)
        with monkeypatch.context() as patch:
            patch.setattr(neighbors, "_first_search_radius", lambda *args: np.inf)  # one search at the cutoff
            full = eqv2_edges(atoms.positions, atoms.cell[:], atoms.pbc, 9.0, max_neighbors=k, mode=mode)
        assert limited == full, (atoms.get_chemical_formula(), k)
