"""`eqv2 experiment`: a tiny sweep end to end, skipping, resuming and sharing runs, locks, sweep-config errors,
train_limit."""

from __future__ import annotations

import csv
import dataclasses
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from eqv2.cli import main as cli_main
from eqv2.experiment import claimed, load_sweep, plan_runs
from eqv2.experiment import runs as experiment_runs
from eqv2.experiment.store import ARCHIVED_FILES
from eqv2.experiment.training import train_one
from eqv2.train import ConfigError, config_from_dict, train
from eqv2.train.setup import training_subset

pytestmark = pytest.mark.usefixtures("one_thread")


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
    "report": {
        "x": "data.train_limit",
        "log_log": True,
        "comparisons": [{"variant": "n16", "baseline": "n8", "expect": "lower", "claim": "more data helps"}],
        "slope_expect": "lower",
    },
}


class TrainSpy:
    """Stands in for `eqv2.train.train` in the sweep runner: records (variant/seed, resume), then trains."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []

    def __call__(self, config, run_dir, resume=False):
        limit = config.data.train_limit
        self.calls.append((f"n{limit}/seed{config.seed}" if limit else f"seed{config.seed}", resume))
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
        assert (out / run).is_symlink() and (out / run).resolve().parent == (out.parent / "runs").resolve()
        done = json.loads((out / run / "done.json").read_text())
        assert done["steps"] == 2 and done["resumed_from_step"] == 0 and done["parameters"] > 0
        assert done["peak_rss_mib"] > 0 and done["started"] <= done["finished"]
        assert (out / run / "test_metrics.json").is_file()
    with open(out / "n8/seed0/metrics.csv") as handle:
        epochs = [float(row["epoch"]) for row in csv.DictReader(handle)]
    assert epochs == [1.0]  # 8 structures = 2 batches of 4: the subset is what trains


def test_report_has_every_variant_and_the_plots(swept):
    _, out, _ = swept
    report = (out / "REPORT.md").read_text()
    assert "`n8`" in report and "`n16`" in report and "eqv2 experiment" in report
    assert "Not finished" not in report and "Wall time: runs started" in report
    claims = [line for line in report.splitlines() if line.startswith("| more data helps")]
    assert len(claims) == 2  # forces and energy
    assert all(line.split("|")[-2].strip().strip("*") in VERDICTS for line in claims)
    slopes = [line for line in report.splitlines() if line.startswith("| tiny |")]
    assert len(slopes) == 2 and all(line.split("|")[-3].strip() == "2" for line in slopes)  # 2 seeds each
    assert "n16/seed1" in report and "s per training step" in report  # the per-run and cost tables
    for table in report.split("\n\n"):
        rows = [line for line in table.splitlines() if line.startswith("|")]
        assert len({row.count(" | ") for row in rows}) <= 1, table  # every row has the header's columns
    for name in ("test_metrics.png", "comparisons.png", "scaling.png"):
        assert (out / name).stat().st_size > 1000


VERDICTS = ("reproduced", "not reproduced", "unresolved")


def test_rerun_trains_nothing(swept, monkeypatch):
    path, out, _ = swept
    before = {p: p.stat().st_mtime_ns for p in out.glob("*/seed*/last.pt")}
    assert len(before) == 4

    def must_not_train(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(experiment_runs, "train", must_not_train)
    assert cli_main(["experiment", str(path), "--out", str(out)]) == 0
    assert cli_main(["experiment", str(path), "--out", str(out), "--report-only"]) == 0
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/seed*/last.pt")} == before


def test_dry_run_lists_runs(swept, capsys):
    path, out, _ = swept
    elsewhere = ["--out", str(out.parent / "elsewhere"), "--runs", str(out.parent / "runs")]
    assert cli_main(["experiment", str(path), *elsewhere, "--dry-run", "--only", "n16"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["done", "done"]  # the same runs, in the shared store
    assert not (out.parent / "elsewhere").exists()
    assert cli_main(["experiment", str(path), "--out", str(out), "--dry-run", "--set", "optim.lr=0.001"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == ["new"] * 4


def test_interrupted_run_resumes(make_config, emt_data, tmp_path, monkeypatch):
    sweep = {"seeds": [0], "variants": [{"name": "only"}]}
    path = write_sweep(tmp_path, base_config(make_config, emt_data), sweep)
    (run,) = plan_runs(load_sweep(path), tmp_path / "out")
    train(dataclasses.replace(run.config, stop_at_step=1), run.run_dir)
    spy = TrainSpy()
    monkeypatch.setattr(experiment_runs, "train", spy)
    assert cli_main(["experiment", str(path), "--out", str(tmp_path / "out")]) == 0
    assert spy.calls == [("seed0", True)]
    assert json.loads((run.run_dir / "done.json").read_text())["resumed_from_step"] == 1
    with open(run.run_dir / "metrics.csv") as handle:
        assert [int(row["step"]) for row in csv.DictReader(handle)] == [1, 2]
    assert "(r, from step 1)" in (tmp_path / "out" / "REPORT.md").read_text()


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
def test_sweep_errors_name_the_key(make_config, emt_data, tmp_path, capsys, change, key):
    sweep = {"seeds": [0], "variants": [{"name": "a"}], **change}
    path = write_sweep(tmp_path, base_config(make_config, emt_data), sweep)
    assert cli_main(["experiment", str(path), "--dry-run"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("eqv2 experiment: error: ") and error.count("\n") == 1 and re.search(key, error)


def test_missing_data_file_names_the_key(make_config, emt_data, tmp_path, capsys):
    sweep = {"seeds": [0], "variants": [{"name": "a", "overrides": ["data.test=nowhere.extxyz"]}]}
    path = write_sweep(tmp_path, base_config(make_config, emt_data), sweep)
    assert cli_main(["experiment", str(path), "--out", str(tmp_path / "out")]) == 2
    assert re.search(r"data\.test: nowhere\.extxyz does not exist", capsys.readouterr().err)
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


def test_sweeps_share_identical_runs(swept, monkeypatch):
    """Another sweep asking for a run that the first one trained (same resolved config and data) reuses it."""
    path, out, _ = swept
    other = {
        "name": "other",
        "seeds": [1],
        "variants": [
            {"name": "same_as_n16", "overrides": ["model.num_heads=1", "data.train_limit=16"]},
            {"name": "new", "overrides": ["model.num_heads=1", "data.train_limit=16", "optim.lr=0.001"]},
        ],
    }
    other_path = path.parent / "other.yaml"
    other_path.write_text(yaml.safe_dump({"base": "base.yaml", **other}))
    spy = TrainSpy()
    monkeypatch.setattr(experiment_runs, "train", spy)
    assert cli_main(["experiment", str(other_path), "--out", str(path.parent / "other")]) == 0
    assert spy.calls == [("n16/seed1", False)]  # only "new" trained
    shared = path.parent / "other" / "same_as_n16" / "seed1"
    assert shared.resolve() == (out / "n16" / "seed1").resolve()
    assert "`same_as_n16`" in (path.parent / "other" / "REPORT.md").read_text()


def test_run_key_follows_config_and_data_contents(make_config, emt_data, tmp_path):
    sweep = {"seeds": [0], "variants": [{"name": "a"}, {"name": "b", "overrides": ["optim.lr=0.001"]}]}
    config = base_config(make_config, emt_data)
    data = tmp_path / "val.extxyz"
    data.write_bytes(emt_data["val"].read_bytes())
    config["data"]["test"] = str(data)
    path = write_sweep(tmp_path, config, sweep)
    first = [run.key for run in plan_runs(load_sweep(path), tmp_path / "out")]
    assert len(set(first)) == 2 and first == [run.key for run in plan_runs(load_sweep(path), tmp_path / "out")]
    data.write_text(data.read_text().replace("energy=", "energy=1", 1))  # a changed label, same path
    assert set(first).isdisjoint(run.key for run in plan_runs(load_sweep(path), tmp_path / "out"))


def test_a_run_that_another_process_holds_is_left_to_it(make_config, emt_data, tmp_path, monkeypatch):
    path = write_sweep(tmp_path, base_config(make_config, emt_data), {"seeds": [0], "variants": [{"name": "only"}]})
    (run,) = plan_runs(load_sweep(path), tmp_path / "out")
    spy = TrainSpy()
    monkeypatch.setattr(experiment_runs, "train", spy)
    with claimed(run.run_dir, wait=False) as ours:
        assert ours
        assert train_one(run, "label", wait=False) is False
        with claimed(run.run_dir, wait=False) as second:
            assert not second
    assert spy.calls == [] and not run.run_dir.exists()
    assert train_one(run, "label", wait=False) is True
    assert spy.calls == [("seed0", False)] and (run.view / "done.json").is_file()


STUDIES = Path(__file__).parents[2] / "configs" / "experiments"


def study(name: str, emt_data) -> tuple:
    """A study sweep of configs/experiments with its data pointed at the test data."""
    sweep = load_sweep(STUDIES / f"{name}.yaml")
    data = [f"data.train={emt_data['train']}", f"data.val={emt_data['val']}", f"data.test={emt_data['val']}"]
    return sweep, dataclasses.replace(sweep, overrides=(*sweep.overrides, *data))


def test_the_three_studies_share_a_recipe_and_their_common_runs(emt_data, tmp_path):
    sweeps = {name: study(name, emt_data) for name in ("ablation", "lmax", "data_efficiency")}
    assert all(not original.overrides for original, _ in sweeps.values())  # the recipe alone, in recipe.yaml
    runs = {name: plan_runs(sweep, tmp_path / name, tmp_path / "runs") for name, (_, sweep) in sweeps.items()}
    key = {(name, run.variant.name, run.seed): run.key for name, planned in runs.items() for run in planned}
    for seed in (0, 1, 2):
        assert key[("ablation", "plus_sep_layer_norm", seed)] == key[("lmax", "L2", seed)]
        assert key[("lmax", "L2", seed)] == key[("data_efficiency", "eqv2_n2100", seed)]
        assert key[("ablation", "escn_baseline", seed)] == key[("data_efficiency", "escn_n2100", seed)]
    assert len(set(key.values())) == 3 * (6 + 2 + 6)
    recipe = yaml.safe_load((STUDIES / "recipe.yaml").read_text())
    for planned in runs.values():
        for run in planned:
            config = run.config
            assert (config.optim.max_steps, config.optim.warmup_steps, config.optim.batch_size) == (750, 50, 8)
            assert config.model["cutoff_envelope"] and config.model["distance_gaussians"] == 32
            assert config.paired_init and config.bf16 is False and config.seed in (0, 1, 2)
    (ablation_e,) = [r for r in runs["ablation"] if r.variant.name == "plus_sep_layer_norm" and r.seed == 0]
    assert {key: ablation_e.config.model.get(key) for key in recipe["model"]} == recipe["model"]
    assert recipe["model"]["norm_type"] == "layer_norm_sh"  # the paper's norm, whatever the demo uses


def test_finished_runs_are_archived_and_count_as_done_without_the_run_store(swept, tmp_path, monkeypatch):
    """A clone that has only the committed results folder (no checkpoints) trains nothing and reports them."""
    path, out, _ = swept
    sweep = load_sweep(path)
    runs = plan_runs(sweep, out)
    for run in runs:
        assert sorted(p.name for p in run.results_dir.iterdir()) == sorted(ARCHIVED_FILES)
    clone = tmp_path / "clone"
    shutil.copytree(out.parent / "results", clone / "results")
    monkeypatch.setattr(experiment_runs, "train", lambda *args, **kwargs: pytest.fail("trained a finished run"))
    assert cli_main(["experiment", str(path), "--out", str(clone / "tiny"), "--runs", str(clone / "runs")]) == 0
    report = (clone / "tiny" / "REPORT.md").read_text()
    assert all(f"`{run.key}`" in report or run.key in report for run in runs)


def test_generated_data_counts_by_its_manifest(make_config, emt_data, tmp_path):
    """Data with the generator's manifest beside it keys by the manifest, not by the bytes of the files."""
    folder = tmp_path / "emt"
    folder.mkdir()
    for name in ("train", "val"):
        (folder / f"{name}.extxyz").write_bytes(emt_data[name].read_bytes())
    (folder / "manifest.json").write_text(json.dumps({"generator": "eqv2 data emt", "n": 3, "seed": 0}))
    config = base_config(make_config, emt_data)
    config["data"].update(
        train=str(folder / "train.extxyz"), val=str(folder / "val.extxyz"), test=str(folder / "val.extxyz")
    )
    path = write_sweep(tmp_path, config, {"seeds": [0], "variants": [{"name": "a"}]})
    (first,) = plan_runs(load_sweep(path), tmp_path / "out")
    (folder / "train.extxyz").write_text((folder / "train.extxyz").read_text().replace("energy=", "energy=1", 1))
    assert plan_runs(load_sweep(path), tmp_path / "out")[0].key == first.key
    (folder / "manifest.json").write_text(json.dumps({"generator": "eqv2 data emt", "n": 3, "seed": 1}))
    assert plan_runs(load_sweep(path), tmp_path / "out")[0].key != first.key
