"""``Model.stages()`` (golden/model.py): the weighted layers with their poolings and grids, the
one walk over a model's layers that both hardware plans use."""

from __future__ import annotations

import numpy as np

from augsnn.golden.model import Conv2d, Dense, Flatten, Model, SumPool
from augsnn.golden.modelfile import load
from augsnn.golden.neuron import NeuronParams


def _n():
    return NeuronParams(theta_p=50, theta_n=70, coef_bits=3, pot_bits=16, v_init=0)


def _w(*shape):
    return np.ones(shape, dtype=np.int64)


def test_net2_stages():
    st = load("net2-aug").stages()
    assert [(s.number, s.index, s.layer.type, s.pools, s.pool) for s in st] == [
        (0, 0, "conv2d", (2,), 2), (1, 2, "conv2d", (2,), 2), (2, 5, "dense", (), 1)]
    assert [(s.in_grid, s.in_shape, s.out_grid, s.pooled_grid) for s in st] == [
        ((1, 28, 28), (1, 28, 28), (12, 24, 24), (12, 12, 12)),
        ((12, 12, 12), (12, 12, 12), (64, 8, 8), (64, 4, 4)),
        ((64, 4, 4), (1024,), (10, 1, 1), (10, 1, 1))]


def test_merged_pools_flatten_first_and_1d_input():
    m = Model(name="p", method="aug", input_shape=(1, 13, 13), layers=[
        Conv2d(_w(4, 1, 3, 3), _n(), 8), SumPool(2), SumPool(2), Flatten(),
        Dense(_w(3, 16), _n(), 8)])
    s0, s1 = m.stages()
    assert (s0.pools, s0.pool, s0.out_grid, s0.pooled_grid) == ((2, 2), 4, (4, 11, 11), (4, 2, 2))
    assert (s1.in_grid, s1.in_shape) == ((4, 2, 2), (16,))
    flat = Model(name="f", method="aug", input_shape=(1, 4, 4), layers=[
        Flatten(), Dense(_w(6, 16), _n(), 8), Dense(_w(3, 6), _n(), 8)])
    assert [(s.index, s.in_grid, s.in_shape) for s in flat.stages()] == [
        (1, (1, 4, 4), (16,)), (2, (6, 1, 1), (6,))]
    one_d = Model(name="o", method="aug", input_shape=(10,), layers=[Dense(_w(3, 10), _n(), 8)])
    assert one_d.stages()[0].in_grid == (10, 1, 1)
