"""`compile=True`: torch.compile'd network parts give eager's outputs and do not recompile per size."""

import pytest
import torch
from torch._dynamo.utils import counters

from eqv2.potential import Potential
from eqv2.testing import S2_MODEL, structures, tiny_potential
from eqv2.train.config import ConfigError, config_from_dict


@pytest.fixture(scope="module")
def eager_and_compiled() -> tuple[Potential, Potential]:
    torch._dynamo.reset()
    counters.clear()  # dynamo's counters, which reset() keeps: from here they count this module's graphs
    eager = tiny_potential(dtype=torch.float32, **S2_MODEL)
    compiled = tiny_potential(dtype=torch.float32, **S2_MODEL)
    compiled.load_state_dict(eager.state_dict())
    compiled.compile_network()
    return eager, compiled


def test_compiled_outputs_equal_eager_within_float32_round_off(eager_and_compiled):
    eager, compiled = eager_and_compiled
    for structure in structures()[:3]:
        batch = eager.collate([structure])
        for mode in ("direct", "conservative"):
            expected, result = eager(batch, forces=mode), compiled(batch, forces=mode)
            torch.testing.assert_close(result["energy"], expected["energy"], rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(result["forces"], expected["forces"], rtol=1e-4, atol=1e-5)
    assert counters["stats"]["unique_graphs"] > 0  # the outputs came from compiled graphs


def test_new_numbers_of_atoms_and_edges_reuse_the_compiled_code(eager_and_compiled):
    _, compiled = eager_and_compiled
    compiled(compiled.collate([structures()[1]]))
    graphs = counters["stats"]["unique_graphs"]
    assert graphs > 0
    for structure in structures():  # other atom and edge counts
        compiled(compiled.collate([structure]))
    assert counters["stats"]["unique_graphs"] == graphs


def test_training_config_refuses_compile_with_double_backward():
    base = {"data": {"train": "t.extxyz", "val": "v.extxyz"}, "optim": {"max_steps": 10}, "compile": True}
    assert config_from_dict(base).compile
    with pytest.raises(ConfigError, match="compile: needs loss.forces_mode direct"):
        config_from_dict({**base, "loss": {"forces_mode": "conservative"}})
