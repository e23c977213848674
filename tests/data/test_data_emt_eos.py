"""`eqv2 data emt-eos`: bulk frames that span each crystal's energy minimum, labels equal EMT, determinism and
reuse."""

import ase.io
import numpy as np
import pytest
from ase.calculators.emt import EMT

from eqv2.cli import main
from eqv2.data import ReadOptions, open_dataset
from eqv2.data.emt import LATTICES, METALS
from eqv2.data.emt_eos import RATTLED_COPIES, SCALES


@pytest.fixture(scope="module")
def eos_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("eos")
    assert main(["data", "emt-eos", "--out", str(out), "--seed", "3"]) == 0
    return out


@pytest.fixture(scope="module")
def frames(eos_dir):
    return ase.io.read(eos_dir / "train.extxyz", ":")


def test_every_metal_and_lattice_at_every_scale_perfect_and_rattled(frames):
    assert len(frames) == (1 + RATTLED_COPIES) * len(METALS) * len(LATTICES) * len(SCALES)
    seen = {(f.info["metal"], f.info["lattice"], round(f.info["scale"], 4)) for f in frames}
    assert len(seen) == len(METALS) * len(LATTICES) * len(SCALES)
    perfect = [f for f in frames if np.abs(f.get_forces()).max() < 1e-8]
    assert len(perfect) == len(seen)  # one perfect crystal per metal, lattice and scale
    assert all(np.abs(f.get_forces()).max() > 1e-3 for f in frames[1 :: 1 + RATTLED_COPIES])


def test_the_scales_bracket_every_fcc_energy_minimum(frames):
    for metal in METALS:
        perfect = [f for f in frames[:: 1 + RATTLED_COPIES] if f.info["metal"] == metal and f.info["lattice"] == "fcc"]
        energies = [f.get_potential_energy() / len(f) for f in perfect]
        assert 0 < int(np.argmin(energies)) < len(energies) - 1, metal


def test_labels_equal_emt_recomputed_and_read_as_training_data(eos_dir, frames):
    for frame in frames[::37]:
        copy = frame.copy()
        copy.calc = EMT()
        assert copy.get_potential_energy() == pytest.approx(frame.get_potential_energy(), abs=1e-6)
        np.testing.assert_allclose(copy.get_stress(), frame.get_stress(), atol=1e-7)
    dataset = open_dataset(str(eos_dir / "train.extxyz"), ReadOptions())
    assert len(dataset) == len(frames)
    assert all(dataset[i].stress_is_defined for i in (0, len(frames) - 1))


def test_same_seed_same_file_reused_other_seed_refused(eos_dir, tmp_path, capsys):
    assert main(["data", "emt-eos", "--out", str(tmp_path), "--seed", "3"]) == 0
    assert (tmp_path / "train.extxyz").read_bytes() == (eos_dir / "train.extxyz").read_bytes()
    assert main(["data", "emt-eos", "--out", str(tmp_path), "--seed", "3"]) == 0
    assert "reusing" in capsys.readouterr().err
    assert main(["data", "emt-eos", "--out", str(tmp_path), "--seed", "4"]) == 2
    assert "holds other data" in capsys.readouterr().err
