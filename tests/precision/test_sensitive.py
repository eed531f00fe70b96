"""The float-layer rule: the same ops picked in every format's graph."""

from __future__ import annotations

import pytest

from edgezoo.export.quantize.sensitive import GraphOp, select, summary, union

# conv_in -> layernorm as reductions -> conv_mid -> channel gate -> conv_out -> add(input)
GRAPH = [
    GraphOp("conv_in", "conv"),
    GraphOp("mean", "reduce_mean", ("conv_in",)),
    GraphOp("sub", "sub", ("conv_in", "mean")),
    GraphOp("sq", "mul", ("sub", "sub")),
    GraphOp("var", "reduce_mean", ("sq",)),
    GraphOp("eps", "add", ("var",)),
    GraphOp("rsqrt", "rsqrt", ("eps",)),
    GraphOp("normed", "mul", ("sub", "rsqrt")),
    GraphOp("affine", "add", ("normed",)),
    GraphOp("conv_mid", "conv", ("affine",)),
    GraphOp("residual", "add", ("conv_mid", "conv_in")),
    GraphOp("pool", "reduce_mean", ("residual",)),
    GraphOp("squeeze", "conv", ("pool",)),
    GraphOp("sigmoid", "sigmoid", ("squeeze",)),
    GraphOp("gated", "mul", ("residual", "sigmoid")),
    GraphOp("conv_out", "conv", ("gated",)),
    GraphOp("out", "add", ("conv_out",)),
]


def test_norm_walk_stops_at_the_next_conv():
    picked = select(GRAPH, ["norm"])["norm"]
    assert picked == ["mean", "sub", "sq", "var", "eps", "rsqrt", "normed", "affine", "pool"]


def test_io_and_gates():
    found = select(GRAPH, ["io", "gates"])
    assert found["io"] == ["conv_in", "conv_out", "out"]
    assert found["gates"] == ["sigmoid", "gated"]
    assert "residual" not in union(found)
    assert summary(found) == ["first/last conv (3 ops)", "sigmoid/softmax gating (2 ops)"]


def test_unknown_group():
    with pytest.raises(ValueError, match="known: io, norm, gates"):
        select(GRAPH, ["softmax"])
