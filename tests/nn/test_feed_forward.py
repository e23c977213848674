"""Feed-forward networks at inference run over groups of nodes with the result of one pass."""

import numpy as np
import pytest
import torch

from eqv2.nn import feed_forward
from eqv2.nn.activations import S2Grid
from eqv2.nn.feed_forward import FeedForward
from eqv2.testing import GATE_MODEL, S2_MODEL, TINY_MODEL, structures, tiny_potential


@pytest.mark.parametrize("activation", ["sep_s2", "gate", "grid_mlp"])
def test_node_groups_equal_one_pass(activation, monkeypatch):
    """Groups of 3 nodes give the output of all 10 nodes at once (float64), and the hidden tensor of
    a group is what the budget allows."""
    torch.manual_seed(0)
    grid = S2Grid(2, 2, 8, 9)
    network = FeedForward(
        8, 16, 8, 2, grid, use_gate_act=activation == "gate", use_grid_mlp=activation == "grid_mlp"
    ).double()
    x = torch.randn(10, 9, 8, dtype=torch.float64)
    with torch.no_grad():
        one_pass = network(x)
        monkeypatch.setitem(feed_forward.NODE_CHUNK_VALUES, "cpu", 3 * 9 * 16)
        sizes = []
        monkeypatch.setattr(
            network, "nodes_forward", lambda part, f=network.nodes_forward: sizes.append(len(part)) or f(part)
        )
        grouped = network(x)
    assert sizes == [3, 3, 3, 1]
    np.testing.assert_allclose(grouped, one_pass, rtol=0, atol=1e-13)


@pytest.mark.parametrize("config", [TINY_MODEL, GATE_MODEL, S2_MODEL], ids=["sep_s2", "gate", "grid_mlp"])
def test_a_model_with_node_groups_predicts_what_it_predicts_in_one_pass(config, monkeypatch):
    potential = tiny_potential(**config)
    batch = potential.collate(structures()[1:3])
    one_pass = potential(batch)
    monkeypatch.setitem(feed_forward.NODE_CHUNK_VALUES, "cpu", 1)  # one node per group
    grouped = potential(batch)
    np.testing.assert_allclose(grouped["energy"], one_pass["energy"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(grouped["forces"], one_pass["forces"], rtol=0, atol=1e-12)
