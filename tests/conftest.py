from pathlib import Path

import pytest
import torch

FIXTURES = Path(__file__).parent / "fixtures"
REFERENCE_CASES = ("tiny_L4M2", "tiny_gate_L2M1")


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)


TINY_MODEL = dict(
    num_layers=2,
    sphere_channels=16,
    attn_hidden_channels=16,
    num_heads=2,
    attn_alpha_channels=8,
    attn_value_channels=4,
    ffn_hidden_channels=16,
    edge_channels=16,
    lmax_list=[3],
    mmax_list=[2],
    max_radius=4.0,
    max_neighbors=50,
    alpha_drop=0.0,
    drop_path_rate=0.0,
    norm_type="rms_norm_sh",
)
GATE_MODEL = dict(TINY_MODEL, use_gate_act=True)
S2_MODEL = dict(TINY_MODEL, use_grid_mlp=True, norm_type="layer_norm_sh", grid_resolution=12)


def tiny_potential(seed: int = 0, dtype=torch.float64, **overrides):
    """A small random EquiformerV2 potential (float64 by default)."""
    from eqv2.model import EquiformerV2
    from eqv2.potential import Potential

    torch.manual_seed(seed)
    model = EquiformerV2(**{**TINY_MODEL, **overrides}).to(dtype)
    with torch.no_grad():  # random, non-trivial values for parameters that start at 0 or 1
        for name, parameter in model.named_parameters():
            if "bias" in name or "affine" in name or "norm" in name:
                parameter.add_(0.1 * torch.randn_like(parameter))
    return Potential(model.eval())


def structures():
    """Molecule (no cell), slab (periodic in x, y), bulk, and edges exactly along +-y."""
    import numpy as np

    from eqv2.batch import Structure

    rng = np.random.default_rng(7)
    molecule = Structure(
        positions=rng.normal(scale=1.2, size=(6, 3)),
        atomic_numbers=np.array([6, 1, 1, 8, 7, 1]),
        cell=np.zeros((3, 3)),
        pbc=np.zeros(3, bool),
        name="molecule",
    )
    slab_cell = np.array([[5.1, 0.0, 0.0], [2.55, 4.4, 0.0], [0.0, 0.0, 14.0]])
    slab = Structure(
        positions=rng.uniform(size=(8, 3)) @ np.diag([1.0, 1.0, 0.3]) @ slab_cell + [0, 0, 4.0],
        atomic_numbers=np.array([29, 29, 29, 29, 29, 29, 8, 1]),
        cell=slab_cell,
        pbc=np.array([True, True, False]),
        name="slab",
    )
    bulk_cell = np.array([[3.6, 0.1, 0.0], [0.2, 3.5, 0.1], [0.0, 0.3, 3.7]])
    bulk = Structure(
        positions=rng.uniform(size=(4, 3)) @ bulk_cell,
        atomic_numbers=np.array([13, 29, 29, 28]),
        cell=bulk_cell,
        pbc=np.ones(3, bool),
        name="bulk",
    )
    # Cubic cell with atoms stacked along y: many edges exactly along +y and -y.
    axis_cell = np.diag([4.5, 2.9, 4.5])
    polar_axis = Structure(
        positions=np.array([[0.0, 0.0, 0.0], [2.25, 0.0, 2.25], [1.0, 1.45, 3.0]]),
        atomic_numbers=np.array([29, 79, 8]),
        cell=axis_cell,
        pbc=np.ones(3, bool),
        name="polar_axis",
    )
    return [molecule, slab, bulk, polar_axis]
