import torch

from eqv2.so3.layout import CoefficientLayout


def test_reduced_index_lmax4_mmax2():
    layout = CoefficientLayout(4, 2)
    expected = [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 18, 19, 20, 21, 22]
    assert layout.reduced_index().tolist() == expected
    assert layout.num_reduced == 19 and layout.order_sizes() == [5, 4, 3]


def test_m_major_order():
    layout = CoefficientLayout(4, 2)
    order = [(l, 0) for l in range(5)] + [(l, 1) for l in range(1, 5)] + [(l, -1) for l in range(1, 5)]
    order += [(l, 2) for l in range(2, 5)] + [(l, -2) for l in range(2, 5)]
    assert layout.m_major_degrees_orders == order
    forward, backward = layout.reduced_to_m_major(), layout.m_major_to_reduced()
    assert torch.equal(forward[backward], torch.arange(19))


def test_sizes():
    assert CoefficientLayout(6, 2).num_reduced == 29
    assert CoefficientLayout(6, 3).num_reduced == 37
    assert CoefficientLayout(6, 6).num_reduced == 49
