import pytest

from eqv2 import EquiformerV2
from eqv2.model_config import available_presets

PARAMETER_COUNTS = {"oc20-31M": 31_058_690, "oc20-83M": 83_164_802, "oc20-153M": 153_602_690}


@pytest.mark.parametrize("name, count", PARAMETER_COUNTS.items())
def test_preset_parameter_counts_equal_the_reference(name, count):
    model = EquiformerV2.from_preset(name)
    assert sum(p.numel() for p in model.parameters()) == count


def test_presets_are_listed_and_unknown_names_refused():
    assert set(PARAMETER_COUNTS) <= set(available_presets())
    with pytest.raises(ValueError, match="unknown preset 'oc20-1B'"):
        EquiformerV2.from_preset("oc20-1B")
