"""The attention under bf16 autocast, chunked and in one pass; the autocast compute dtype."""

import pytest
import torch

from eqv2.nn import edges, graph_ops
from eqv2.testing import S2_MODEL, structures, tiny_potential


@pytest.mark.parametrize("grad", [False, True], ids=["inference", "training"])
def test_bf16_autocast_runs_close_to_float32(grad, monkeypatch):
    """Under bf16 autocast (CPU here, as bf16 training runs on GPUs) the chunked and one-pass paths
    run and stay near the float32 result."""
    monkeypatch.setitem(edges.EDGE_CHUNK_VALUES, "cpu", 7 * 2 * 16 * 16)
    monkeypatch.setitem(edges.GRAD_EDGE_CHUNK_VALUES, "cpu", 7 * 2 * 16 * 16)
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
