import ase.io
import numpy as np
import pytest
from ase.build import bulk

import eqv2
from eqv2.cli import main
from eqv2.simulate.prediction import predict


def test_predict_round_trips_through_extxyz(checkpoint, slabs, tmp_path):
    structures = [*slabs[:2], bulk("Cu", "fcc", a=3.6, cubic=True)]
    ase.io.write(tmp_path / "in.extxyz", structures)
    assert main(["predict", checkpoint, str(tmp_path / "in.extxyz"), "-o", str(tmp_path / "out.extxyz"),
                 "--batch-size", "2"]) == 0  # fmt: skip
    expected = predict(eqv2.load(checkpoint), ase.io.read(tmp_path / "in.extxyz", index=":"), batch_size=2)
    for atoms, result in zip(ase.io.read(tmp_path / "out.extxyz", index=":"), expected):
        assert atoms.get_potential_energy() == pytest.approx(result["energy"], abs=1e-7)
        np.testing.assert_allclose(atoms.get_forces(apply_constraint=False), result["forces"], atol=1e-7)
    np.testing.assert_allclose(atoms.get_stress(voigt=False), expected[-1]["stress"], atol=1e-7)


def test_flagged_structures_keep_their_place(potential, slabs):
    overlapping = slabs[0].copy()
    overlapping.positions[-1] = overlapping.positions[-2] + 0.05
    results = predict(potential, [slabs[1], overlapping, slabs[2]], batch_size=3, on_error="flag")
    assert "structure 1: atoms" in results[1]["error"]
    assert results[0]["energy"] == pytest.approx(predict(potential, slabs[1:2])[0]["energy"], abs=1e-9)
    assert "energy" in results[2]


@pytest.mark.parametrize("command", ["predict", "relax"])
def test_not_a_checkpoint_is_a_clear_error(command, slabs, tmp_path, capsys):
    (tmp_path / "model.pt").write_text("not a checkpoint")
    ase.io.write(tmp_path / "in.extxyz", slabs[:1])
    code = main([command, str(tmp_path / "model.pt"), str(tmp_path / "in.extxyz"), "-o", str(tmp_path / "o.xyz")])
    assert code == 2
    assert "not a readable checkpoint" in capsys.readouterr().err


def test_unknown_element_is_a_clear_error(checkpoint, slabs, tmp_path, capsys):
    bad = slabs[0].copy()
    bad.numbers[-1] = 110
    ase.io.write(tmp_path / "in.extxyz", [slabs[1], bad])
    assert main(["predict", checkpoint, str(tmp_path / "in.extxyz"), "-o", str(tmp_path / "o.xyz")]) == 2
    assert "structure 1: atomic number 110" in capsys.readouterr().err


@pytest.mark.parametrize("on_error", ["raise", "flag"])
def test_an_atomic_number_no_element_has_is_a_clear_error(on_error, checkpoint, slabs, tmp_path, capsys):
    bad = slabs[0].copy()
    bad.numbers[-1] = 119  # a .traj file holds it; an extxyz record cannot
    ase.io.write(tmp_path / "in.traj", [slabs[1], bad])
    arguments = [checkpoint, str(tmp_path / "in.traj"), "-o", str(tmp_path / "o.xyz"), "--on-error", on_error]
    assert main(["predict", *arguments]) == 2
    assert f"structure 1: atomic number 119 of atom {len(bad) - 1} is outside 1..118" in capsys.readouterr().err


def test_predict_bf16_flag_runs_the_bf16_mode(checkpoint, slabs, tmp_path):
    ase.io.write(tmp_path / "in.extxyz", slabs[:2])
    assert main(["predict", checkpoint, str(tmp_path / "in.extxyz"), "-o", str(tmp_path / "out.extxyz"), "--bf16"]) == 0
    potential = eqv2.load(checkpoint)
    potential.bf16 = True
    expected = predict(potential, ase.io.read(tmp_path / "in.extxyz", index=":"))
    exact = predict(eqv2.load(checkpoint), ase.io.read(tmp_path / "in.extxyz", index=":"))
    for atoms, result, float32 in zip(ase.io.read(tmp_path / "out.extxyz", index=":"), expected, exact):
        assert atoms.get_potential_energy() == pytest.approx(result["energy"], abs=1e-7)
        assert atoms.get_potential_energy() != float32["energy"]
