import ase.io
import numpy as np
import pytest
from ase.optimize import FIRE, LBFGS

import eqv2
from eqv2.cli import main
from eqv2.simulate import relax
from eqv2.simulate.packing import Budget
from eqv2.simulate.prediction import predict
from eqv2.simulate.relax import BatchRelaxation, RelaxationStream, relax_streams
from eqv2.validation import DataError

ASE_OPTIMIZERS = {"fire": FIRE, "lbfgs": LBFGS}


@pytest.mark.parametrize("optimizer", ["fire", "lbfgs"])
def test_batched_relaxation_follows_ase_one_structure_at_a_time(potential, slabs, optimizer):
    results = relax(potential, slabs[:3], fmax=0.01, steps=6, optimizer=optimizer)
    for atoms, result in zip(slabs[:3], results):
        single = atoms.copy()
        single.calc = eqv2.Calculator(potential)
        converged = ASE_OPTIMIZERS[optimizer](single, logfile=None).run(fmax=0.01, steps=6)
        assert result.converged == converged
        np.testing.assert_allclose(result.atoms.positions, single.positions, atol=1e-8)
        assert result.energy == pytest.approx(single.get_potential_energy(), abs=1e-8)


def test_a_refilled_batch_relaxes_each_structure_as_it_would_alone(potential, slabs):
    refilled = relax(potential, slabs[:3], fmax=0.1, steps=40, budget=Budget(max_structures=2))
    assert len({r.steps for r in refilled}) > 1  # structures left the batch at different steps
    for atoms, result in zip(slabs[:3], refilled):
        alone = relax(potential, [atoms], fmax=0.1, steps=40)[0]
        assert (result.steps, result.converged, result.error) == (alone.steps, alone.converged, alone.error)
        np.testing.assert_allclose(result.atoms.positions, alone.atoms.positions, atol=1e-9)


def test_streams_that_overlap_give_each_stream_the_batches_it_has_alone(potential, slabs):
    chunks = [list(enumerate(slabs[:2])), list(enumerate(slabs[2:], start=2))]
    budget = Budget(max_atoms=30)
    streams = (RelaxationStream(BatchRelaxation(potential, 0.01, 12), chunk, budget) for chunk in chunks)
    together = dict(relax_streams(streams))
    for chunk in chunks:
        alone = dict(relax_streams([RelaxationStream(BatchRelaxation(potential, 0.01, 12), chunk, budget)]))
        for key, result in alone.items():
            assert np.array_equal(together[key].atoms.positions, result.atoms.positions)
            assert together[key].energy == result.energy and together[key].steps == result.steps


def test_fixed_atoms_do_not_move(potential, slabs):
    result = relax(potential, slabs[:1], fmax=0.001, steps=10)[0]
    fixed = slabs[0].constraints[0].index
    np.testing.assert_array_equal(result.atoms.positions[fixed], slabs[0].positions[fixed])
    assert np.abs(result.atoms.positions - slabs[0].positions).max() > 1e-3  # the free atoms did move


def test_each_structure_stops_on_its_own_and_a_collapse_is_flagged(potential, slabs):
    results = relax(potential, slabs, fmax=0.05, steps=200)
    *good, collapsed = results  # the random model pulls the O and H of the last one together
    assert all(r.converged and r.error is None for r in good)
    assert len({r.steps for r in good}) > 1
    for result in good:
        free = ~np.isin(np.arange(len(result.atoms)), slabs[0].constraints[0].index)
        assert np.linalg.norm(result.atoms.get_forces()[free], axis=1).max() <= 0.05
    assert not collapsed.converged and "apart (minimum 0.1 Å)" in collapsed.error
    assert collapsed.atoms.info["error"] == collapsed.error and np.isfinite(collapsed.energy)


def test_force_beyond_the_bound_is_flagged(potential, slabs):
    results = relax(potential, slabs[:2], max_force=1e-3)
    assert all(r.steps == 0 and not r.converged and "blew up: force" in r.error for r in results)
    assert all(np.isfinite(r.energy) for r in results)


def test_cell_relaxation_lowers_the_stress(strong_potential, bulk_cu):
    potential = strong_potential
    start = np.abs(predict(potential, [bulk_cu])[0]["stress"]).max()
    result = relax(potential, [bulk_cu], fmax=0.01, steps=100, relax_cell=True, forces="conservative")[0]
    assert result.converged
    assert not np.allclose(result.atoms.cell[:], bulk_cu.cell[:])
    assert np.abs(result.atoms.get_stress()).max() < 0.1 * start


def test_unknown_element_is_a_clear_error(potential, slabs):
    bad = slabs[0].copy()
    bad.numbers[-1] = 110
    with pytest.raises(DataError, match="structure 1: atomic number 110"):
        relax(potential, [slabs[1], bad], steps=2)


def test_relax_command_writes_status_and_trajectories(checkpoint, slabs, tmp_path):
    ase.io.write(tmp_path / "in.extxyz", slabs)
    output, frames = tmp_path / "out.extxyz", tmp_path / "frames"
    code = main(["relax", checkpoint, str(tmp_path / "in.extxyz"), "-o", str(output), "--steps", "3", "--fmax", "1e-4",
                 "--optimizer", "lbfgs", "--trajectory-dir", str(frames)])  # fmt: skip
    assert code == 0
    relaxed = ase.io.read(output, index=":")
    assert [a.info["steps"] for a in relaxed] == [3] * len(slabs)
    assert all(a.info["converged"] in (False, True) and "energy" in a.calc.results for a in relaxed)
    assert len(ase.io.read(frames / "0000.extxyz", index=":")) == 4
