"""The opt-in smooth cutoff (``cutoff_envelope``): the energy is continuous as an atom crosses max_radius."""

import numpy as np
import pytest
import torch

from eqv2.batch import Structure
from eqv2.nn.embeddings import polynomial_envelope
from eqv2.testing import TINY_MODEL, finite_difference_forces, predict, structures, tiny_potential

CUTOFF = TINY_MODEL["max_radius"]


def test_polynomial_envelope_is_one_at_zero_and_flat_to_second_order_at_one():
    x = torch.tensor([0.0, 0.5, 1.0 - 1e-9, 1.0, 1.3], dtype=torch.float64, requires_grad=True)
    u = polynomial_envelope(x)
    (first,) = torch.autograd.grad(u.sum(), x, create_graph=True)
    (second,) = torch.autograd.grad(first.sum(), x)
    assert u[0] == 1.0 and 0.0 < u[1] < 1.0
    assert u[2:].abs().max() < 1e-12 and first[2:].abs().max() < 1e-9 and second[2:].abs().max() < 1e-6


def trimer(third_atom_distance: float) -> Structure:
    """Two Cu atoms 2.5 Å apart and a third one at the given distance from the first."""
    direction = np.array([-0.6, 0.8, 0.0])
    return Structure(
        positions=np.array([[0.0, 0.0, 0.0], [2.5, 0.0, 0.0], third_atom_distance * direction]),
        atomic_numbers=np.array([29, 29, 8]),
        cell=np.zeros((3, 3)),
        pbc=np.zeros(3, bool),
        name="trimer",
    )


@pytest.mark.parametrize("envelope", [False, True])
def test_energy_jump_as_an_atom_crosses_the_cutoff(envelope):
    potential = tiny_potential(cutoff_envelope=envelope)
    inside, outside = (predict(potential, trimer(CUTOFF + shift))["energy"] for shift in (-1e-7, 1e-7))
    jump = abs(inside - outside)
    if envelope:
        assert jump < 1e-9
    else:  # the reference architecture: the new edge's softmax term and message appear at full size
        assert jump > 1e-4


def test_conservative_forces_with_the_envelope_match_finite_differences():
    potential = tiny_potential(cutoff_envelope=True)
    for structure in structures()[:2]:
        analytic = predict(potential, structure, forces="conservative")["forces"]
        numeric = finite_difference_forces(potential, structure, atoms=[0, 3])
        assert np.abs(analytic[[0, 3]] - numeric).max() < 1e-6
