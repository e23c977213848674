import ase.io
import numpy as np
import pytest
from ase.build import fcc100, fcc111
from ase.constraints import FixAtoms

from eqv2.cli import main
from eqv2.simulate.adsorbml import anomaly, placements, screen
from eqv2.validation import DataError


def clean_slab(builder=fcc111) -> "ase.Atoms":
    slab = builder("Cu", size=(2, 2, 3), vacuum=6.0)
    slab.info.clear()  # ASE's adsorbate-site table, which extxyz cannot store
    slab.set_constraint(FixAtoms(mask=slab.positions[:, 2] < slab.positions[:, 2].mean()))
    return slab


@pytest.mark.parametrize("builder, sites", [(fcc111, {"top": 4, "bridge": 12, "hollow": 8}),
                                            (fcc100, {"top": 4, "bridge": 8, "hollow": 4})])  # fmt: skip
def test_placements_cover_distinct_sites(builder, sites):
    found = placements(clean_slab(builder), "O", count=100)
    assert {kind: sum(p.info["site"] == kind for p in found) for kind in sites} == sites
    binding = np.array([p.positions[-1] for p in found])
    pairwise = np.linalg.norm(binding[:, None] - binding[None], axis=-1) + 10 * np.eye(len(found))
    assert pairwise.min() > 0.3
    slab_atoms = found[0][:-1]
    assert all(np.linalg.norm(slab_atoms.positions - p.positions[-1], axis=1).min() > 1.5 for p in found)


def test_orientations_and_count():
    found = placements(clean_slab(), "CH2", count=10, seed=1)
    assert len(found) == 10 and len({p.info["angle"] for p in found}) > 1
    assert all(len(p.constraints[0].index) == 4 and list(p.get_tags()[-3:]) == [2, 2, 2] for p in found)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s: s.set_constraint(), "no FixAtoms"),
        (lambda s: s.set_pbc(True) or s.center(vacuum=1.0, axis=2), "no vacuum"),
        (lambda s: s.set_pbc([True, False, False]), "periodic in x and y"),
    ],
)
def test_bad_slab_is_a_clear_error(change, message):
    slab = clean_slab()
    change(slab)
    with pytest.raises(DataError, match=message):
        placements(slab, "O")


def test_unknown_adsorbate_is_a_clear_error():
    with pytest.raises(DataError, match="unknown adsorbate 'XY'"):
        placements(clean_slab(), "XY")


def test_anomalies_are_detected():
    system = placements(clean_slab(), "CO", count=1)[0]
    assert anomaly(system, 2) is None
    desorbed = system.copy()
    desorbed.positions[-2:, 2] += 3.0
    assert anomaly(desorbed, 2, system) == "desorbed"
    dissociated = system.copy()
    dissociated.positions[-1, 0] += 2.4
    dissociated.positions[-1, 2] = system.positions[-2, 2]
    assert anomaly(dissociated, 2, system) == "dissociated"


def test_screening_runs_end_to_end(potential):
    result = screen(potential, clean_slab(), "O", num_placements=4, top_k=2, steps=5)
    assert len(result.placements) == 4 and len(result.reference) == 2
    assert list(result.reference) == result.ranking[:2]
    assert result.best in result.reference and np.isfinite(result.adsorption_energy)
    assert result.reference_calls == sum(r.calls for r in result.reference.values()) >= 2


def test_adsorbml_command(checkpoint, tmp_path, capsys):
    ase.io.write(tmp_path / "slab.extxyz", clean_slab())
    code = main(["adsorbml", checkpoint, "--slab", str(tmp_path / "slab.extxyz"), "--adsorbate", "OH",
                 "--placements", "3", "--top-k", "1", "--steps", "3", "--mode", "single-point",
                 "-o", str(tmp_path / "best.extxyz")])  # fmt: skip
    assert code == 0
    assert "lowest adsorption energy" in capsys.readouterr().err
    assert len(ase.io.read(tmp_path / "best.extxyz", index=":")) == 1
