"""float64 symmetry of the whole network (via `eqv2.testing`)."""

import pytest

from eqv2.testing import GATE_MODEL, S2_MODEL, equivariance_errors, structures, tiny_potential


@pytest.mark.parametrize("structure", structures(), ids=lambda s: s.name)
@pytest.mark.parametrize("forces", ["direct", "conservative"])
def test_gate_network_is_exactly_equivariant(structure, forces):
    errors = equivariance_errors(tiny_potential(**GATE_MODEL), structure, seed=3, forces=forces)
    assert max(errors.values()) < 1e-10, errors


def test_s2_network_error_shrinks_with_grid_resolution():
    """S2 activations are equivariant only up to the grid quadrature; finer grids give smaller errors."""
    structure = structures()[2]
    rotation_errors = {}
    for resolution in (8, 12, 24, 48):
        errors = equivariance_errors(tiny_potential(**dict(S2_MODEL, grid_resolution=resolution)), structure, seed=1)
        rotation_errors[resolution] = max(errors["rotation_energy"], errors["rotation_forces"])
        assert errors["translation_energy"] < 1e-10 and errors["permutation_energy"] < 1e-10
        print(f"S2 grid {resolution}x{resolution}: relative rotation error {rotation_errors[resolution]:.2e}")
    values = [rotation_errors[r] for r in (8, 12, 24, 48)]
    assert values[-1] < values[0] / 10
    assert values[2] < values[0]
