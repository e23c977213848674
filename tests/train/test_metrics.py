"""Evaluation metrics against values computed by hand; schedule, sampler and EMA rules."""

import math

import numpy as np
import pytest
import torch

from eqv2.train.ema import ExponentialMovingAverage
from eqv2.train.metrics import Predictions, compute_metrics
from eqv2.train.sampler import BalancedBatches, Position
from eqv2.train.schedule import learning_rate


def test_metrics_by_hand():
    predictions = Predictions(
        energy=np.array([1.01, 5.0]),
        energy_true=np.array([1.0, 4.0]),
        num_atoms=np.array([1, 2]),
        forces=np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 1.0]]),
        forces_true=np.array([[1.02, 0.0, 0.0], [0.0, 0.0, 2.0], [0.0, 0.0, 1.0]]),
        stress=np.ones((1, 3, 3)),
        stress_true=np.zeros((1, 3, 3)),
    )
    metrics = compute_metrics(predictions)
    assert metrics["energy_mae"] == pytest.approx((0.01 + 1.0) / 2)
    assert metrics["energy_per_atom_mae"] == pytest.approx((0.01 + 0.5) / 2)
    assert metrics["forces_mae"] == pytest.approx((0.02 + 2.0 + 2.0) / 9)
    assert metrics["forces_cos"] == pytest.approx((1.0 + 0.0 + 1.0) / 3)
    assert metrics["efwt"] == pytest.approx(0.5)  # structure 0: |dE| 0.01, max |dF| 0.02; structure 1 fails
    assert metrics["stress_mae"] == pytest.approx(1.0)
    assert metrics["n"] == 2


def test_schedule_warmup_then_cosine():
    kwargs = dict(peak=1.0, total_steps=110, warmup_steps=10, warmup_factor=0.2, min_factor=0.01)
    assert learning_rate(0, **kwargs) == pytest.approx(0.2)
    assert learning_rate(5, **kwargs) == pytest.approx(0.6)
    assert learning_rate(10, **kwargs) == pytest.approx(1.0)
    assert learning_rate(60, **kwargs) == pytest.approx(0.01 + 0.99 * 0.5)
    assert learning_rate(110, **kwargs) == pytest.approx(0.01)


def test_sampler_covers_epoch_and_balances_atoms():
    num_atoms = np.array([10, 1, 9, 2, 8, 3, 7, 4, 6, 5, 30, 1])
    ranks = [BalancedBatches(num_atoms, 2, rank, 2, seed=0) for rank in range(2)]
    seen = []
    for (_, a), (_, b) in zip(*(sampler.stream(Position()) for sampler in ranks)):
        if len(seen) == 12:
            break
        assert len(a) == len(b) == 2 and not set(a) & set(b)
        seen += a + b
    assert sorted(seen) == list(range(12))
    single = BalancedBatches(num_atoms, 4, 0, 1, seed=0)
    assert set(single.rank_share(single.global_batch(1, 0))) == set(ranks[0].global_batch(1, 0))
    share = ranks[0].rank_share(np.array([10, 0, 1, 3]))  # atoms 30, 10, 1, 2: 30+1 vs 10+2
    assert sorted(num_atoms[share].tolist()) in ([1, 30], [2, 10])


def test_ema_warm_up_and_swap():
    model = torch.nn.Linear(2, 1)
    ema = ExponentialMovingAverage(model, decay=0.999)
    start = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    ema.update(model)  # first decay: min(0.999, 2 / 11)
    expected = start + (1 - 2 / 11)
    assert torch.allclose(ema.shadow["weight"], expected)
    with ema.swapped_into(model):
        assert torch.allclose(model.weight, expected)
    assert torch.allclose(model.weight, start + 1.0)
    assert math.isclose(ema.state_dict()["num_updates"], 1)
