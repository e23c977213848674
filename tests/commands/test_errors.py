"""Every command reports bad input the same way: one line on stderr naming the command, exit code 2."""

import pytest

from eqv2.cli import COMMANDS, main

MISSING = "missing"  # a file that does not exist, in the test's directory
BAD_INPUT = {
    "predict": ["predict", f"{MISSING}.pt", "in.extxyz", "-o", "out.extxyz"],
    "relax": ["relax", f"{MISSING}.pt", "in.extxyz", "-o", "out.extxyz"],
    "md": ["md", f"{MISSING}.pt", "in.extxyz", "-o", "out.traj"],
    "adsorbml": ["adsorbml", f"{MISSING}.pt", "--slab", "slab.extxyz", "-o", "out.extxyz"],
    "data": ["data", "emt", "--out", "data", "--n", "0"],
    "train": ["train", f"{MISSING}.yaml"],
    "experiment": ["experiment", f"{MISSING}.yaml", "--dry-run"],
    "eval": ["eval", f"{MISSING}.pt", "data.extxyz"],
    "convert": ["convert", f"{MISSING}.pt", "out.pt"],
}


def test_every_command_has_a_bad_input_case():
    assert set(BAD_INPUT) == set(COMMANDS)


@pytest.mark.parametrize("command", sorted(BAD_INPUT))
def test_bad_input_is_one_line_on_stderr_and_exit_code_2(command, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(BAD_INPUT[command]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"eqv2 {command}: error: ") and error.count("\n") == 1, error
