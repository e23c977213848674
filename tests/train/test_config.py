"""Config loading: YAML + overrides, errors that name the key."""

import pytest

from eqv2.train.config import ConfigError, config_from_dict, load_config


def minimal(**extra) -> dict:
    return {"data": {"train": "t.extxyz", "val": "v.extxyz"}, "optim": {"max_steps": 10}, **extra}


def test_yaml_and_dotted_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "data: {train: t.extxyz, val: v.extxyz}\noptim:\n  max_steps: 5\n  lr: 1e-3\nmodel: {preset: oc20-31M}\n"
    )
    config = load_config(path, ["optim.lr=2e-4", "loss.forces=mae", "model.num_layers=2", "seed=3"])
    assert config.optim.lr == 2e-4 and isinstance(config.optim.lr, float)
    assert config.loss.forces == "mae" and config.seed == 3
    assert config.model["num_layers"] == 2 and config.model["preset"] == "oc20-31M"


@pytest.mark.parametrize(
    "values, key",
    [
        (minimal(optim={"max_steps": 10, "lrr": 1.0}), "optim.lrr"),
        (minimal(optim={"max_steps": "ten"}), "optim.max_steps"),
        (minimal(loss={"forces": "l3"}), "loss.forces"),
        (minimal(sed=1), "sed"),
        (minimal(model={"num_layer": 2}), "model.num_layer"),
        (minimal(model={"num_layers": 2.5}), "model.num_layers"),
        (minimal(model={"freeze_backbone": "yes"}), "model.freeze_backbone"),
        (minimal(data={"train": 3, "val": "v"}), "data.train"),
        (minimal(optim={"max_steps": 1, "max_epochs": 1.0}), "optim.max_steps"),
        (minimal(normalization=[1]), "normalization"),
    ],
)
def test_errors_name_the_key(values, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        config_from_dict(values)


def test_override_must_have_a_value():
    with pytest.raises(ConfigError, match="key.sub=value"):
        load_config(None, ["optim.lr"])
