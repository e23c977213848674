"""`eqv2.nn.edges`: target-aligned edge chunks give the one-pass results, with and without autograd."""

import numpy as np
import pytest
import torch

from eqv2.nn import edges
from eqv2.nn.edges import target_aligned_slices
from eqv2.testing import S2_MODEL, structures, tiny_potential

MESSAGE_VALUES = 2 * 16 * 16  # the tiny S2 model's [x_j | x_i] messages: lmax 3 (16 coefficients), 16 channels


def test_slices_cover_the_edges_in_order_and_never_split_a_target():
    target = torch.tensor([0, 0, 0, 1, 1, 3, 3, 3, 3, 3, 4])  # atom 2 has no edges
    slices = target_aligned_slices(target, num_targets=6, max_edges=4)
    assert [s for s, _, _ in slices] == [slice(0, 3), slice(3, 5), slice(5, 10), slice(10, 11)]
    assert [(first, end) for _, first, end in slices] == [(0, 1), (1, 2), (3, 4), (4, 5)]
    assert target_aligned_slices(target, 6, max_edges=100) == [(slice(0, 11), 0, 5)]
    assert target_aligned_slices(torch.zeros(0, dtype=torch.long), 3, 4) == []
    with pytest.raises(ValueError, match="sorted by target"):
        target_aligned_slices(torch.tensor([1, 0]), 2, 4)


def small_chunks(monkeypatch, edges_per_chunk: int = 7) -> None:
    for budget in (edges.EDGE_CHUNK_VALUES, edges.GRAD_EDGE_CHUNK_VALUES):
        monkeypatch.setitem(budget, "cpu", edges_per_chunk * MESSAGE_VALUES)


@pytest.mark.parametrize("structure", structures()[1:3], ids=lambda s: s.name)
def test_chunked_inference_equals_one_pass(structure, monkeypatch):
    """Chunks of a few edges (no autograd; features recomputed per layer) give the energy and direct
    forces of one pass over all edges (float64)."""
    potential = tiny_potential(**S2_MODEL)
    batch = potential.collate([structure])
    one_pass = potential(batch)
    small_chunks(monkeypatch)
    monkeypatch.setattr(edges, "KEPT_FEATURE_BYTES", 0)
    chunked = potential(batch)
    assert batch.edge_index.shape[1] > 3 * 7
    np.testing.assert_allclose(chunked["energy"], one_pass["energy"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(chunked["forces"], one_pass["forces"], rtol=0, atol=1e-12)


def test_checkpointed_chunks_give_the_conservative_forces_and_stress_of_one_pass(monkeypatch):
    """Under autograd several chunks are checkpointed (recomputed in backward): the same -dE/dr and
    strain derivative as one pass (float64, a periodic cell)."""
    potential = tiny_potential(**S2_MODEL)
    batch = potential.collate([structures()[2]])
    one_pass = potential(batch, forces="conservative", stress=True)
    small_chunks(monkeypatch)
    chunk_plan = potential.model.edge_chunks(batch.edge_vectors(), batch.atomic_numbers, batch.edge_index)
    with torch.enable_grad():
        checkpointed = potential.model.edge_chunks(batch.edge_vectors(), batch.atomic_numbers, batch.edge_index)
    assert len(chunk_plan) > 3 and checkpointed.checkpointed
    chunked = potential(batch, forces="conservative", stress=True)
    for key in ("energy", "forces", "stress"):
        np.testing.assert_allclose(chunked[key], one_pass[key], rtol=0, atol=1e-11, err_msg=key)


def test_checkpointed_training_gradients_equal_one_pass(monkeypatch):
    """Parameter gradients of a loss on energy and direct forces do not depend on the chunking."""
    potential = tiny_potential(**S2_MODEL)
    batch = potential.collate(structures()[1:3])

    def gradients() -> list[torch.Tensor]:
        potential.model.zero_grad()
        outputs = potential.model(batch)
        (outputs["energy"].square().sum() + outputs["forces"].square().sum()).backward()
        return [p.grad.clone() for p in potential.model.parameters() if p.grad is not None]

    one_pass = gradients()
    small_chunks(monkeypatch)
    for ours, theirs in zip(gradients(), one_pass, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-10)
