"""`eqv2 experiment`: a tiny sweep end to end, skipping and resuming runs, sweep-config errors, train_limit."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import pytest
import torch
import yaml

from eqv2.cli import main as cli_main
from eqv2.experiment import load_sweep, plan_runs
from eqv2.experiment import runs as experiment_runs
from eqv2.train import ConfigError, config_from_dict, train
from eqv2.train.setup import training_subset


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models run fastest on one thread, and the machine is shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def base_config(make_config, emt_data) -> dict:
    """The tiny training config, 2 steps, tested on the validation file."""
    config = make_config(optim={"max_steps": 2}, eval_every=2)
    config["data"]["test"] = str(emt_data["val"])
    return config


def write_sweep(folder: Path, training_config: dict, sweep: dict) -> Path:
    """``sweep`` as a YAML in ``folder``, with ``base: base.yaml`` (``training_config``, written beside it) first."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "base.yaml").write_text(yaml.safe_dump(training_config))
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump({"base": "base.yaml", **sweep}))
    return path


SWEEP = {
    "name": "tiny",
    "seeds": [0, 1],
    "overrides": ["model.num_heads=1"],
    "variants": [
        {"name": "n8", "group": "tiny", "overrides": ["data.train_limit=8"]},
        {"name": "n16", "group": "tiny", "overrides": ["data.train_limit=16"]},
    ],
    "report": {"x": "data.train_limit", "log_log": True},
}


class TrainSpy:
    """Stands in for `eqv2.train.train` in the sweep runner: records (run dir, resume), then trains."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []

    def __call__(self, config, run_dir, resume=False):
        self.calls.append((Path(run_dir).relative_to(Path(run_dir).parents[1]).as_posix(), resume))
        return train(config, run_dir, resume)


@pytest.fixture(scope="module")
def swept(make_config, emt_data, tmp_path_factory):
    """The tiny sweep run through the CLI, first ``--only n8`` then all of it: (sweep path, out, train calls)."""
    folder = tmp_path_factory.mktemp("sweep")
    path = write_sweep(folder, base_config(make_config, emt_data), SWEEP)
    out = folder / "out"
    spy = TrainSpy()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(experiment_runs, "train", spy)
        assert cli_main(["experiment", str(path), "--out", str(out), "--only", "n8"]) == 0
        assert cli_main(["experiment", str(path), "--out", str(out)]) == 0
    return path, out, spy.calls


def test_sweep_runs_each_variant_and_seed_once(swept):
    _, out, calls = swept
    assert calls == [("n8/seed0", False), ("n8/seed1", False), ("n16/seed0", False), ("n16/seed1", False)]
    for run in ("n8/seed0", "n8/seed1", "n16/seed0", "n16/seed1"):
        done = json.loads((out / run / "done.json").read_text())
        assert done["steps"] == 2 and done["resumed_from_step"] == 0 and done["parameters"] > 0
        assert (out / run / "test_metrics.json").is_file()
    with open(out / "n8/seed0/metrics.csv") as handle:
        epochs = [float(row["epoch"]) for row in csv.DictReader(handle)]
    assert epochs == [1.0]  # 8 structures = 2 batches of 4: the subset is what trains


def test_report_has_every_variant_and_the_plots(swept):
    _, out, _ = swept
    report = (out / "REPORT.md").read_text()
    assert "`n8`" in report and "`n16`" in report and "eqv2 experiment" in report
    assert "Least-squares slopes" in report and "Not finished" not in report
    assert "n16/seed1" in report  # the per-run table
    for name in ("test_forces_mae.png", "scaling.png"):
        assert (out / name).stat().st_size > 1000


def test_rerun_trains_nothing(swept, monkeypatch):
    path, out, _ = swept
    before = {p: p.stat().st_mtime_ns for p in out.glob("*/seed*/last.pt")}

    def must_not_train(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(experiment_runs, "train", must_not_train)
    assert cli_main(["experiment", str(path), "--out", str(out)]) == 0
    assert cli_main(["experiment", str(path), "--out", str(out), "--report-only"]) == 0
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/seed*/last.pt")} == before


def test_dry_run_lists_runs(swept, capsys):
    path, out, _ = swept
    assert cli_main(["experiment", str(path), "--out", str(out / "elsewhere"), "--dry-run", "--only", "n16"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["new", "new"]
    assert not (out / "elsewhere").exists()


def test_interrupted_run_resumes(make_config, emt_data, tmp_path, monkeypatch):
    sweep = {"seeds": [0], "variants": [{"name": "only"}]}
    path = write_sweep(tmp_path, base_config(make_config, emt_data), sweep)
    (run,) = plan_runs(load_sweep(path), tmp_path / "out")
    train(dataclasses.replace(run.config, stop_at_step=1), run.run_dir)
    spy = TrainSpy()
    monkeypatch.setattr(experiment_runs, "train", spy)
    assert cli_main(["experiment", str(path), "--out", str(tmp_path / "out")]) == 0
    assert spy.calls == [("only/seed0", True)]
    assert json.loads((run.run_dir / "done.json").read_text())["resumed_from_step"] == 1
    with open(run.run_dir / "metrics.csv") as handle:
        assert [int(row["step"]) for row in csv.DictReader(handle)] == [1, 2]
    assert "resumed at step 1" in (tmp_path / "out" / "REPORT.md").read_text()


@pytest.mark.parametrize(
    "change, key",
    [
        ({"overide": []}, "overide"),
        ({"seeds": []}, "seeds"),
        ({"seeds": ["0"]}, "seeds"),
        ({"variants": [{"name": "a", "overides": []}]}, r"variants\[0\]\.overides"),
        ({"variants": [{"name": "a/b"}]}, r"variants\[0\]\.name"),
        ({"variants": [{"name": "a"}, {"name": "a"}]}, "repeated name 'a'"),
        ({"variants": [{"name": "a", "overrides": ["model.num_layer=2"]}]}, r"model\.num_layer"),
        ({"variants": [{"name": "a", "overrides": ["seed=3"]}]}, "seeds"),
        ({"overrides": ["data.test=null"]}, r"data\.test"),
        ({"report": {"x": "model.lmax_lst"}}, r"report\.x"),
        ({"report": {"log_log": True}}, r"report\.log_log"),
        ({"base_config": {}}, "base_config"),
        ({"base": "missing.yaml"}, "base: .*missing.yaml"),
    ],
)
def test_sweep_errors_name_the_key(make_config, emt_data, tmp_path, change, key):
    sweep = {"seeds": [0], "variants": [{"name": "a"}], **change}
    path = write_sweep(tmp_path, base_config(make_config, emt_data), sweep)
    with pytest.raises(SystemExit, match=key):
        cli_main(["experiment", str(path), "--dry-run"])


def test_missing_data_file_names_the_key(make_config, emt_data, tmp_path):
    sweep = {"seeds": [0], "variants": [{"name": "a", "overrides": ["data.test=nowhere.extxyz"]}]}
    path = write_sweep(tmp_path, base_config(make_config, emt_data), sweep)
    with pytest.raises(SystemExit, match=r"data\.test: nowhere\.extxyz does not exist"):
        cli_main(["experiment", str(path), "--out", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()


def test_train_limit_subsets_are_nested_and_fixed():
    dataset = list(range(50))
    subsets = [training_subset(dataset, limit).indices for limit in (5, 20, 50)]
    assert [len(subset) for subset in subsets] == [5, 20, 50]
    assert set(subsets[0]) < set(subsets[1]) < set(subsets[2]) == set(dataset)
    assert training_subset(dataset, 20).indices == subsets[1]
    assert training_subset(dataset, None) is dataset
    with pytest.raises(ConfigError, match=r"data\.train_limit: 51 is more than the 50"):
        training_subset(dataset, 51)
    with pytest.raises(ConfigError, match=r"data\.train_limit"):
        config_from_dict({"data": {"train": "t", "val": "v", "train_limit": 0}, "optim": {"max_steps": 1}})
