import numpy as np
import pytest

from eqv2 import EquiformerV2, EquiformerV2Config
from eqv2.testing import predict, structures, tiny_potential


def test_reference_keywords_accepted_and_unused_ones_ignored():
    config = EquiformerV2Config.from_dict(
        {"num_layers": 2, "attn_activation": "scaled_silu", "num_distance_basis": 512, "use_pbc": True}
    )
    assert config.num_layers == 2 and config.lmax == 6 and config.mmax == 2


def test_defaults_are_the_reference_defaults():
    config = EquiformerV2Config()
    assert (config.max_neighbors, config.max_radius, config.max_num_elements) == (500, 5.0, 90)
    assert (config.num_layers, config.sphere_channels, config.norm_type) == (12, 128, "rms_norm_sh")
    assert (config.alpha_drop, config.drop_path_rate, config.weight_init) == (0.1, 0.05, "normal")
    assert config.distance_gaussians == 600  # fixed in the reference, whatever num_distance_basis says
    assert config.energy_rescale == 77.81317 and config.degree_rescale == 23.395238876342773


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_layer": 3}, "unknown EquiformerV2 option 'num_layer'"),
        ({"num_layers": "3"}, "num_layers: expected int"),
        ({"use_gate_act": 1}, "use_gate_act: expected bool"),
        ({"lmax_list": [4, 6], "mmax_list": [2, 2]}, "single resolution"),
        ({"lmax_list": [2], "mmax_list": [3]}, "mmax_list"),
        ({"norm_type": "batch_norm"}, "norm_type"),
        ({"use_s2_act_attn": True}, "use_s2_act_attn"),
        ({"grid_resolution": 7}, "grid_resolution"),
        ({"alpha_drop": 1.5}, "alpha_drop"),
        ({"max_neighbors_mode": "loose"}, "max_neighbors_mode"),
        ({"distance_gaussians": 1}, "distance_gaussians"),
    ],
)
def test_bad_options_name_the_key(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EquiformerV2(**kwargs)


def test_distance_gaussians_set_the_radial_basis():
    potential = tiny_potential(distance_gaussians=32)
    assert potential.model.distance_basis.centres.shape == (32,)
    result = predict(potential, structures()[0], forces="conservative")
    assert np.isfinite(result["energy"]) and np.isfinite(result["forces"]).all()
