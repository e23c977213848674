"""The attention: chunked edge processing at inference gives the one-pass result; bf16 autocast."""

import numpy as np
import pytest
import torch

from eqv2.nn import graph_ops
from eqv2.testing import S2_MODEL, structures, tiny_potential


def test_edge_chunks_cover_the_edges_in_order(monkeypatch):
    monkeypatch.setitem(graph_ops.EDGE_CHUNK_VALUES, "cpu", 100)
    cpu = torch.device("cpu")
    with torch.no_grad():
        assert graph_ops.edge_chunks(10, 25, cpu) == [slice(0, 4), slice(4, 8), slice(8, 10)]
        assert graph_ops.edge_chunks(3, 1000, cpu) == [slice(0, 1), slice(1, 2), slice(2, 3)]  # at least one edge
        assert graph_ops.edge_chunks(0, 25, cpu) == [slice(0, 0)]


def test_edge_chunks_are_one_slice_under_autograd(monkeypatch):
    monkeypatch.setitem(graph_ops.EDGE_CHUNK_VALUES, "cpu", 100)
    with torch.enable_grad():
        assert graph_ops.edge_chunks(10, 25, torch.device("cpu")) == [slice(0, 10)]


@pytest.mark.parametrize("structure", structures()[1:3], ids=lambda s: s.name)
def test_chunked_inference_equals_one_pass(structure, monkeypatch):
    """With a chunk of a few edges the attention and edge-degree embedding give the same energy and
    direct forces as the single pass that autograd uses (float64)."""
    potential = tiny_potential(**S2_MODEL)
    batch = potential.collate([structure])
    with torch.enable_grad():
        one_pass = potential.energy_and_derivatives(batch)
    values_per_edge = 2 * 16 * 16  # attention messages: [x_j | x_i], lmax 3 (16 coefficients), 16 channels
    monkeypatch.setitem(graph_ops.EDGE_CHUNK_VALUES, "cpu", 7 * values_per_edge)  # 7 edges per chunk
    chunked = potential(batch)
    assert batch.edge_index.shape[1] > 3 * 7
    np.testing.assert_allclose(chunked["energy"], one_pass["energy"].detach(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(chunked["forces"], one_pass["direct_forces"].detach(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("grad", [False, True], ids=["inference", "training"])
def test_bf16_autocast_runs_close_to_float32(grad, monkeypatch):
    """Under bf16 autocast (CPU here, as bf16 training runs on GPUs) the chunked and one-pass paths
    run and stay near the float32 result."""
    monkeypatch.setitem(graph_ops.EDGE_CHUNK_VALUES, "cpu", 7 * 2 * 16 * 16)
    potential = tiny_potential(dtype=torch.float32, **S2_MODEL)
    batch = potential.collate([structures()[2]])
    with torch.set_grad_enabled(grad):
        exact = potential.model(batch)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = potential.model(batch)
    assert torch.isfinite(low["forces"]).all()
    cosine = torch.nn.functional.cosine_similarity(low["forces"].float().flatten(), exact["forces"].flatten(), dim=0)
    assert cosine > 0.95  # bf16 keeps 8 bits: a few percent per component on this random model
    assert (low["energy"].float() - exact["energy"]).abs().max() < 0.1 * exact["energy"].abs().max()


def test_bf16_autocast_training_step_gives_float32_gradients():
    """Backward through the memory-lean SO(2) products under autocast (the GPU bf16 training path)."""
    potential = tiny_potential(dtype=torch.float32, **S2_MODEL)
    batch = potential.collate([structures()[1], structures()[2]])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        outputs = potential.model(batch)
    (outputs["energy"].float().abs().sum() + outputs["forces"].float().abs().sum()).backward()
    gradients = [p.grad for p in potential.model.parameters() if p.grad is not None]
    assert gradients and all(g.dtype == torch.float32 and torch.isfinite(g).all() for g in gradients)


def test_compute_dtype_is_autocasts_when_it_is_on():
    x = torch.zeros(2, dtype=torch.float32)
    assert graph_ops.compute_dtype(x) == torch.float32
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert graph_ops.compute_dtype(x) == torch.bfloat16
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=False):
        assert graph_ops.compute_dtype(x.double()) == torch.float64
