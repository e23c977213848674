"""Training and evaluation on data where only some structures (bulk) carry a stress label."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eqv2.batch import Structure
from eqv2.data import open_dataset
from eqv2.testing import tiny_potential
from eqv2.train import config_from_dict, train
from eqv2.train.config import ConfigError, LossConfig
from eqv2.train.losses import loss_terms
from eqv2.train.metrics import predict_dataset


def stress_loss(potential, structures: list[Structure]):
    """The stress loss term of a batch (scale 0.5) and its predictions."""
    batch = potential.collate(structures)
    predictions = potential.energy_and_derivatives(batch, forces=False, stress=True, create_graph=True)
    config = LossConfig(stress_coefficient=1.0, forces_coefficient=0.0)
    return loss_terms(predictions, batch, config, energy_scale=1.0, forces_scale=0.5)["stress"], predictions, batch


def test_stress_loss_counts_only_labelled_structures_and_stays_finite(mixed_stress_data):
    potential = tiny_potential()
    structures = [open_dataset(mixed_stress_data["train"])[k] for k in (2, 3, 4, 5)]  # cluster, no cell, 2 bulk
    term, predictions, batch = stress_loss(potential, structures)
    assert torch.isnan(predictions["stress"][1]).all()  # no cell volume: no stress
    assert float(term.count) == 2 * 9
    expected = (predictions["stress"][2:] - batch.stress[2:]).abs().sum() / 0.5
    assert float(term.total.detach()) == pytest.approx(float(expected.detach()))
    term.total.backward()
    gradients = [p.grad for p in potential.parameters() if p.grad is not None]
    assert gradients and all(torch.isfinite(g).all() for g in gradients)
    unlabelled, _, _ = stress_loss(potential, structures[:2])
    assert float(unlabelled.count) == 0 and float(unlabelled.total) == 0


@pytest.mark.usefixtures("one_thread")
def test_training_with_stress_on_a_mixed_dataset(mixed_stress_data, make_config, tmp_path):
    config = make_config(loss={"stress_coefficient": 10.0}, optim={"max_steps": 4, "batch_size": 4})
    config["data"] = {"train": str(mixed_stress_data["train"]), "val": str(mixed_stress_data["val"])}
    row = train(config_from_dict(config), tmp_path / "run")
    assert np.isfinite(row["train_loss"]) and np.isfinite(row["val_stress_mae"])
    config["data"]["train"] = str(mixed_stress_data["stressless"])
    with pytest.raises(ConfigError, match="stress label"):
        train(config_from_dict(config), tmp_path / "stressless")


def test_evaluation_reports_the_stress_of_the_labelled_structures(mixed_stress_data):
    potential = tiny_potential()
    dataset = open_dataset(mixed_stress_data["val"])  # 2 clusters without stress, 2 bulk cells with
    together = predict_dataset(potential, dataset, [0, 1, 2, 3], batch_size=4)
    alone = [predict_dataset(potential, dataset, [k], batch_size=1) for k in (2, 3)]
    assert together.stress.shape == (2, 3, 3)
    np.testing.assert_allclose(together.stress, np.concatenate([p.stress for p in alone]), atol=1e-10)
    np.testing.assert_allclose(together.stress_true, [dataset[k].stress for k in (2, 3)])
