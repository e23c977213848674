"""Training runs on a tiny model: it learns, resumes exactly, fine-tunes, matches DDP, and evaluates."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import ase.io
import numpy as np
import pytest
import torch
import yaml
from ase import Atoms
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator

import eqv2
from eqv2.checkpoints.loading import read_checkpoint_file
from eqv2.checkpoints.native import save_atomically
from eqv2.cli import main as cli_main
from eqv2.train import ConfigError, config_from_dict, train

pytestmark = pytest.mark.usefixtures("one_thread")


def rows(run_dir: Path) -> list[dict[str, float]]:
    with open(run_dir / "metrics.csv") as handle:
        return [{key: float(value) for key, value in row.items()} for row in csv.DictReader(handle)]


def max_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[key].double() - b[key].double()).abs().max()) for key in a if a[key].is_floating_point())


@pytest.fixture(scope="module")
def trained(make_config, tmp_path_factory) -> Path:
    """A 30-step run with TensorBoard and plots."""
    run_dir = tmp_path_factory.mktemp("trained")
    config = make_config(optim={"max_steps": 30, "lr": 1e-2}, eval_every=10, tensorboard=True, plots=True)
    train(config_from_dict(config), run_dir)
    return run_dir


def test_loss_falls_and_run_dir_is_complete(trained):
    history = rows(trained)
    assert [row["step"] for row in history] == [10, 20, 30]
    assert history[-1]["train_loss"] < 0.7 * history[0]["train_loss"]
    for name in ("last.pt", "best.pt", "config.yaml", "learning_curves.png", "parity_val.png"):
        assert (trained / name).is_file(), name
    assert list((trained / "tensorboard").glob("events.out.tfevents.*"))
    potential = eqv2.load(trained / "best.pt")
    assert potential.statistics.element_references is not None
    assert potential.statistics.trained_elements == [13, 28, 29]  # the clusters' Al, Ni, Cu


def test_a_model_refuses_elements_it_was_not_trained_on(trained, make_config, emt_data, tmp_path):
    gold = ase.io.read(emt_data["val"], index=0)
    gold.numbers[1:3] = [79, 26]
    gold.calc = eqv2.Calculator(str(trained / "best.pt"))
    with pytest.raises(eqv2.DataError, match=r"Al.*: elements Fe \(26\), Au \(79\) are not among the 3 elements "):
        gold.get_potential_energy()
    val = ase.io.read(emt_data["val"], index=":")
    val[2].numbers[0] = 79
    ase.io.write(tmp_path / "val_with_gold.extxyz", val)
    config = make_config()
    config["data"]["val"] = str(tmp_path / "val_with_gold.extxyz")
    with pytest.raises(ConfigError, match=r"data\.val: .*val_with_gold\.extxyz\[2\]: element Au \(79\) is not among"):
        train(config_from_dict(config), tmp_path / "run")
    assert not (tmp_path / "run" / "last.pt").exists()  # refused before training


def test_checkpoints_load_in_calculator(trained, emt_data):
    atoms = ase.io.read(emt_data["val"], index=0)
    atoms.calc = eqv2.Calculator(str(trained / "last.pt"))
    assert np.isfinite(atoms.get_potential_energy())


def test_resume_equals_uninterrupted(make_config, tmp_path):
    config = make_config(model={"alpha_drop": 0.1, "drop_path_rate": 0.1}, optim={"max_steps": 6})
    train(config_from_dict(config), tmp_path / "straight")
    train(config_from_dict({**config, "stop_at_step": 3}), tmp_path / "resumed")
    assert rows(tmp_path / "resumed")[-1]["step"] == 3
    train(config_from_dict(config), tmp_path / "resumed", resume=True)
    straight = read_checkpoint_file(tmp_path / "straight" / "last.pt")
    resumed = read_checkpoint_file(tmp_path / "resumed" / "last.pt")
    assert straight["training"]["step"] == resumed["training"]["step"] == 6
    assert max_difference(straight["training"]["raw_state_dict"], resumed["training"]["raw_state_dict"]) <= 1e-6
    assert max_difference(straight["state_dict"], resumed["state_dict"]) <= 1e-6
    for straight_row, resumed_row in zip(rows(tmp_path / "straight"), rows(tmp_path / "resumed"), strict=True):
        straight_row.pop("structures_per_s"), resumed_row.pop("structures_per_s")
        assert straight_row == pytest.approx(resumed_row, rel=1e-6)


def test_fine_tune_with_frozen_backbone(trained, make_config, tmp_path):
    source = eqv2.load(trained / "best.pt")
    model = {"init_from": str(trained / "best.pt"), "reinit_heads": True, "freeze_backbone": True}
    config = make_config(optim={"max_steps": 3}, normalization={"refit": False})
    config["model"] = model
    train(config_from_dict(config), tmp_path)
    tuned = eqv2.load(tmp_path / "last.pt")
    before, after = source.model.state_dict(), tuned.model.state_dict()
    heads = [key for key in before if key.startswith(("energy_head.", "force_head."))]
    assert heads and any(not torch.equal(before[key], after[key]) for key in heads)
    assert all(torch.equal(before[key], after[key]) for key in before if key not in heads)
    assert tuned.statistics == source.statistics


SOCKET_ERRORS = ("Address already in use", "DistNetworkError", "Connection reset", "Connection refused")


def run_with_one_retry_on_socket_errors(command: list[str], environment: dict[str, str]):
    """Run torchrun; a second try only when the first failed on a local socket (port race), not on eqv2."""
    finished = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=300)
    if finished.returncode != 0 and any(text in finished.stderr for text in SOCKET_ERRORS):
        finished = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=300)
    return finished


def test_ddp_two_processes_match_one(make_config, tmp_path):
    common = dict(dtype="float64", eval_every=1)
    single = make_config(optim={"max_steps": 4, "batch_size": 4}, **common)
    train(config_from_dict(single), tmp_path / "single")
    double = make_config(optim={"max_steps": 4, "batch_size": 2}, **common)
    config_path = tmp_path / "ddp.yaml"
    config_path.write_text(yaml.safe_dump(double))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    command += ["-m", "eqv2", "train", str(config_path), "--run-dir", str(tmp_path / "ddp")]
    environment = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2]), "GLOO_SOCKET_IFNAME": "lo"}
    finished = run_with_one_retry_on_socket_errors(command, environment)
    assert finished.returncode == 0, finished.stdout[-4000:] + finished.stderr[-8000:]
    losses = [row["train_loss"] for row in rows(tmp_path / "single")]
    assert [row["train_loss"] for row in rows(tmp_path / "ddp")] == pytest.approx(losses, rel=1e-4)
    weights = [read_checkpoint_file(tmp_path / name / "last.pt")["state_dict"] for name in ("single", "ddp")]
    assert max_difference(*weights) <= 1e-6


def write_bad_data_config(make_config, emt_data, folder: Path) -> Path:
    """A config whose training set has two coincident atoms in its structure 2."""
    images = ase.io.read(emt_data["train"], index=":")
    images[2].positions[1] = images[2].positions[0]
    ase.io.write(folder / "bad.extxyz", images)
    config = make_config(optim={"max_steps": 2})
    config["data"]["train"] = str(folder / "bad.extxyz")
    (folder / "bad.yaml").write_text(yaml.safe_dump(config))
    return folder / "bad.yaml"


BAD_DATA_ERROR = "eqv2 train: error: {folder}/bad.extxyz[2]: atoms 0 and 1 are 0 Å apart"


def test_train_reports_bad_input_in_one_line(make_config, emt_data, tmp_path, capsys):
    assert cli_main(["train", str(tmp_path / "missing.yaml")]) == 2
    assert f"eqv2 train: error: config file {tmp_path / 'missing.yaml'} does not exist" in capsys.readouterr().err
    config_path = write_bad_data_config(make_config, emt_data, tmp_path)
    assert cli_main(["train", str(config_path), "--run-dir", str(tmp_path / "run")]) == 2
    assert BAD_DATA_ERROR.format(folder=tmp_path) in capsys.readouterr().err


def test_every_torchrun_rank_reports_bad_data_in_one_line_and_exits_2(make_config, emt_data, tmp_path):
    config_path = write_bad_data_config(make_config, emt_data, tmp_path)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    command += ["-m", "eqv2", "train", str(config_path), "--run-dir", str(tmp_path / "run")]
    environment = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2]), "GLOO_SOCKET_IFNAME": "lo"}
    finished = run_with_one_retry_on_socket_errors(command, environment)
    output = finished.stdout + finished.stderr
    assert output.count(BAD_DATA_ERROR.format(folder=tmp_path)) == 2, output[-8000:]
    assert len(re.findall(r"exitcode\s+: 2\b", output)) == 2, output[-8000:]  # torchrun's summary, per rank
    assert "DataError" not in output and "/eqv2/" not in output  # no traceback from a rank


def test_eval_command(trained, emt_data, tmp_path):
    out = tmp_path / "metrics.json"
    assert cli_main(["eval", str(trained / "best.pt"), str(emt_data["val"]), "--json", str(out)]) == 0
    metrics = json.loads(out.read_text())
    assert set(metrics) == {"energy_mae", "energy_per_atom_mae", "forces_mae", "forces_cos", "efwt", "n"}
    images = ase.io.read(emt_data["val"], index=":")
    labels = [atoms.get_potential_energy() for atoms in images]
    for atoms in images:
        atoms.calc = eqv2.Calculator(str(trained / "best.pt"))
    errors = [abs(atoms.get_potential_energy() - label) for atoms, label in zip(images, labels)]
    assert metrics["n"] == len(images)
    assert metrics["energy_mae"] == pytest.approx(np.mean(errors), rel=1e-5)


def test_eval_reports_a_file_that_is_not_a_checkpoint(emt_data, tmp_path, capsys):
    not_a_checkpoint = tmp_path / "notes.pt"
    not_a_checkpoint.write_text("not a checkpoint")
    assert cli_main(["eval", str(not_a_checkpoint), str(emt_data["val"])]) == 2
    error = capsys.readouterr().err
    assert "notes.pt" in error and "Traceback" not in error


def test_interrupted_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_atomically({"step": torch.tensor(1)}, path)

    def killed_mid_write(data, stream):
        stream.write(b"half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", killed_mid_write)
    with pytest.raises(KeyboardInterrupt):
        save_atomically({"step": torch.tensor(2)}, path)
    assert int(torch.load(path, weights_only=True)["step"]) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_fine_tune_from_a_fairchem_checkpoint(make_config, tmp_path):
    source = Path(__file__).parents[1] / "fixtures/reference/tiny_plain_s2_L3M3/eqv2_tiny_plain_s2_L3M3_oc20.pt"
    config = make_config(optim={"max_steps": 2}, eval_every=2)
    config["model"] = {"init_from": str(source), "reinit_heads": True}
    train(config_from_dict(config), tmp_path)
    tuned = eqv2.load(tmp_path / "best.pt")
    assert tuned.model.config.to_dict() == eqv2.load(source).model.config.to_dict()
    assert tuned.statistics.element_references is not None  # refit on the new data


def test_bf16_true_trains_under_autocast_on_cpu(make_config, tmp_path, monkeypatch):
    """`bf16: true` runs the training forward under bf16 autocast on the CPU too (null: GPUs only)."""
    states = []
    original = torch.autocast.__init__

    def recording_init(self, device_type, *args, **kwargs):
        original(self, device_type, *args, **kwargs)
        states.append((device_type, self._enabled))

    monkeypatch.setattr(torch.autocast, "__init__", recording_init)
    train(config_from_dict(make_config(optim={"max_steps": 2}, eval_every=2, bf16=True)), tmp_path / "on")
    assert ("cpu", True) in states
    states.clear()
    train(config_from_dict(make_config(optim={"max_steps": 2}, eval_every=2)), tmp_path / "default")
    assert ("cpu", True) not in states
    rows = list(csv.DictReader(open(tmp_path / "on" / "metrics.csv")))
    assert np.isfinite(float(rows[-1]["train_loss"]))


def test_trained_model_gives_an_isolated_atom_its_training_energy(make_config, tmp_path, capsys):
    clusters = ase.io.read(make_config()["data"]["train"], index=":")
    atom = Atoms("Cu", positions=[[0.0, 0.0, 0.0]])
    atom.center(vacuum=6.0)
    atom.calc = EMT()
    energy = atom.get_potential_energy()
    atom.calc = SinglePointCalculator(atom, energy=energy, forces=np.zeros((1, 3)))
    ase.io.write(tmp_path / "train.extxyz", clusters + [atom])
    config = make_config(optim={"max_steps": 4})
    config["model"]["isolated_atom_reference"] = True
    config["data"]["train"] = str(tmp_path / "train.extxyz")
    train(config_from_dict(config), tmp_path / "run")
    assert "element references pinned to isolated atoms: Cu" in capsys.readouterr().err
    potential = eqv2.load(tmp_path / "run" / "best.pt")
    assert potential.statistics.element_references[29] == energy
    atom.calc = eqv2.Calculator(potential)
    assert atom.get_potential_energy() == pytest.approx(energy, abs=1e-5)


@pytest.mark.parametrize("normalization", [{"element_references": False}, {"energy_mean": 1.5}])
def test_isolated_atom_reference_refuses_a_normalization_that_shifts_lone_atoms(make_config, tmp_path, normalization):
    config = make_config(normalization=normalization)
    config["model"]["isolated_atom_reference"] = True
    with pytest.raises(ConfigError, match=r"model\.isolated_atom_reference: needs normalization\.element_references"):
        train(config_from_dict(config), tmp_path / "run")
