"""Which ops of a graph to keep in float when int8 misses its gates.

Every format's graph (ONNX nodes, OpenVINO ops, TFLite operators) is read into the
same small form, :class:`GraphOp`, with the op type mapped to a common kind, so one
rule picks the ops in every format:

- ``io``: the first and the last convolution and everything before/after them (the
  input projection and the output head with its residual add: errors there land in
  the picture unfiltered);
- ``norm``: normalisation, including layer norms written as reductions (MAXIM's
  channel LayerNorm: mean, subtract, square, mean, add eps, rsqrt, multiply, affine);
  a variance computed in int8 is mostly rounding error;
- ``gates``: sigmoid and softmax and the products they gate (values near 0 and 1
  that int8 grids coarsely, multiplied into the signal).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Sequence

GROUPS: tuple[str, ...] = ("io", "norm", "gates")
GROUP_LABELS = {"io": "first/last conv", "norm": "normalisation", "gates": "sigmoid/softmax gating",
                "measured": "most error-prone layers, measured"}

# Kinds that a normalisation written as reductions is made of. The walk that collects
# a norm starts at a reduce_mean and follows consumers only through these.
_NORM_CHAIN = frozenset({"reduce_mean", "sub", "mul", "add", "sqrt", "rsqrt", "reciprocal", "div", "pow"})
_GATE_START = frozenset({"sigmoid", "softmax"})


@dataclass(frozen=True)
class GraphOp:
    """One op: its name in its format, its common kind, and the names of the ops that
    produce its inputs (graph inputs and constants left out). Lists of GraphOp are in
    topological order."""

    name: str
    kind: str
    inputs: tuple[str, ...] = ()


def select(ops: Sequence[GraphOp], groups: Iterable[str]) -> dict[str, list[str]]:
    """Names of the ops in each requested group (an op may be in several)."""
    groups = list(groups)
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        raise ValueError(f"unknown float-layer group {unknown[0]!r}; known: {', '.join(GROUPS)}")
    consumers: dict[str, list[GraphOp]] = defaultdict(list)
    for op in ops:
        for producer in op.inputs:
            consumers[producer].append(op)
    found: dict[str, list[str]] = {}
    if "io" in groups:
        found["io"] = _io_ops(ops)
    if "norm" in groups:
        found["norm"] = _norm_ops(ops, consumers)
    if "gates" in groups:
        found["gates"] = _gate_ops(ops, consumers)
    return found


def union(selected: dict[str, list[str]]) -> list[str]:
    """All selected names once, in first-seen order."""
    return list(dict.fromkeys(name for names in selected.values() for name in names))


def summary(selected: dict[str, list[str]]) -> list[str]:
    """``["first/last conv (4 ops)", ...]`` for the manifest."""
    return [f"{GROUP_LABELS[g]} ({len(names)} ops)" for g, names in selected.items()]


def _io_ops(ops: Sequence[GraphOp]) -> list[str]:
    convs = [i for i, op in enumerate(ops) if op.kind == "conv"]
    if not convs:
        return []
    first, last = convs[0], convs[-1]
    return [op.name for op in ops[: first + 1]] + [op.name for op in ops[last:]]


def _norm_ops(ops: Sequence[GraphOp], consumers: dict[str, list[GraphOp]]) -> list[str]:
    picked: dict[str, None] = {op.name: None for op in ops if op.kind == "norm"}
    for op in ops:
        if op.kind != "reduce_mean":
            continue
        stack = [op]
        while stack:
            current = stack.pop()
            if current.name in picked:
                continue
            picked[current.name] = None
            stack.extend(c for c in consumers.get(current.name, ()) if c.kind in _NORM_CHAIN)
    return [op.name for op in ops if op.name in picked]


def _gate_ops(ops: Sequence[GraphOp], consumers: dict[str, list[GraphOp]]) -> list[str]:
    picked: dict[str, None] = {}
    for op in ops:
        if op.kind in _GATE_START:
            picked[op.name] = None
            for consumer in consumers.get(op.name, ()):
                if consumer.kind == "mul":
                    picked[consumer.name] = None
    return [op.name for op in ops if op.name in picked]
