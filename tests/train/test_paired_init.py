"""Initial weights keyed by parameter name (`paired_init`): shared layers start equal across variants."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from eqv2.model import EquiformerV2
from eqv2.train import ConfigError, config_from_dict
from eqv2.train.paired_init import build_paired
from eqv2.train.trainer import Trainer

GATE = {"use_gate_act": True, "use_sep_s2_act": False}
S2 = {"use_gate_act": False, "use_sep_s2_act": False}


def parameters(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def shared(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> list[str]:
    return [name for name in a if name in b and a[name].shape == b[name].shape]


@pytest.fixture
def tiny(make_config) -> dict:
    """The tiny model options of the training tests."""
    return make_config()["model"]


def test_variants_share_the_weights_of_their_common_layers(tiny):
    """Gate and S2 activation differ in one linear map's shape; paired, every other layer starts equal."""
    gate = parameters(build_paired(lambda: EquiformerV2(**{**tiny, **GATE}), seed=3))
    s2 = parameters(build_paired(lambda: EquiformerV2(**{**tiny, **S2}), seed=3))
    common = shared(gate, s2)
    assert len(common) < len(gate)  # the variants do differ
    assert all(torch.equal(gate[name], s2[name]) for name in common)
    torch.manual_seed(3)
    plain_gate = parameters(EquiformerV2(**{**tiny, **GATE}))
    torch.manual_seed(3)
    plain_s2 = parameters(EquiformerV2(**{**tiny, **S2}))
    assert not all(torch.equal(plain_gate[name], plain_s2[name]) for name in common)  # one stream: they differ


def test_redraws_keep_each_parameter_distribution_and_depend_on_seed_and_name():
    class Toy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.first = nn.Linear(400, 300)  # kaiming-uniform weight, uniform bias: bound 1/sqrt(400) = 0.05
            self.second = nn.Linear(400, 300)
            self.scale = nn.Parameter(torch.empty(1000).uniform_(2.0, 3.0))
            self.offset = nn.Parameter(torch.zeros(10))
            nn.init.normal_(self.second.weight, std=0.5)
            nn.init.zeros_(self.second.bias)

    torch.manual_seed(0)
    model = build_paired(Toy, seed=7)
    again = build_paired(Toy, seed=7)
    other = build_paired(Toy, seed=8)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), again.parameters()))
    assert not torch.equal(model.first.weight, other.first.weight)
    assert not torch.equal(model.first.weight[:, :300], model.second.weight[:, :300])
    assert model.first.weight.abs().max() <= 0.05 and model.first.weight.std() > 0.025
    assert model.first.bias.abs().max() <= 0.05 and model.first.bias.std() > 0.02
    assert float(model.second.weight.detach().std()) == pytest.approx(0.5, rel=0.02)
    assert torch.equal(model.second.bias, torch.zeros(300)) and torch.equal(model.offset, torch.zeros(10))
    assert 2.0 <= model.scale.min() and model.scale.max() <= 3.0 and model.scale.std() > 0.25


def test_a_partly_changed_draw_is_refused():
    class Scaled(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.empty(4, 4).normal_())
            with torch.no_grad():
                self.weight[0] = 0.0

    with pytest.raises(ValueError, match=r"weight: changed in place by __setitem__"):
        build_paired(Scaled, seed=0)


def test_trainer_pairs_variants_at_the_same_seed(make_config, tiny, tmp_path):
    """Same seed: the same batches in the same order and, with paired_init, equal shared initial weights."""
    trainers = {}
    for name, options in {"gate": GATE, "s2": S2}.items():
        config = config_from_dict(make_config(model={**tiny, **options}, paired_init=True, seed=5))
        trainers[name] = Trainer(config, tmp_path / name)
    streams = {name: t.sampler.stream(t.state.position) for name, t in trainers.items()}
    batches = {name: [next(stream)[1] for _ in range(6)] for name, stream in streams.items()}
    assert batches["gate"] == batches["s2"]
    gate, s2 = (parameters(trainers[name].potential.model) for name in ("gate", "s2"))
    assert all(torch.equal(gate[name], s2[name]) for name in shared(gate, s2))


def test_paired_init_is_for_fresh_models_only(make_config):
    with pytest.raises(ConfigError, match="paired_init"):
        config_from_dict(make_config(paired_init=True, model={"init_from": "some.pt"}))
