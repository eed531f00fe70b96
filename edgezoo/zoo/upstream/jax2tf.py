"""Flax parameters recovered from a graph that jax2tf produced (as TF.js stores it).

jax2tf freezes a Flax model into a TensorFlow graph whose node names carry the Flax
scope (``.../jax2tf_apply_/<scope>/<module>/...``); the TF.js converter then folds the
parameters into constants. Each parameter is recognised by the op that reads it:

- a kernel feeds ``Conv2D`` (HWIO), ``Conv2DBackpropInput`` (H, W, out, in) or an
  ``Einsum`` (a Dense kernel, kept as the variable ``jax2tf_arg_<n>`` of shape (in, out));
  the Dense kernel's scope comes from its ``Einsum`` node, the others from their own name;
- a LayerNorm scale feeds a ``Mul``; a bias (conv, Dense or LayerNorm) feeds an ``AddV2``.

Constants read by anything else (resize weights, shapes) are not parameters.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgezoo.errors import BadInputError
from edgezoo.zoo.upstream.tfjs import TfjsGraph

APPLY_SCOPE = "jax2tf_apply_/"
KERNEL_OPS = {"Conv2D": "kernel", "Conv2DBackpropInput": "kernel_transpose", "Einsum": "kernel"}
EINSUM_SUFFIX = "/einsum/Einsum"


def _scope(name: str, suffix: str = "") -> str | None:
    """The Flax scope of node ``name`` inside ``jax2tf_apply_``: its name without
    ``suffix`` if given (which must end it), else without its last component."""
    if APPLY_SCOPE not in name:
        return None
    inner = name.split(APPLY_SCOPE, 1)[1]
    if suffix:
        return inner[: -len(suffix)] if inner.endswith(suffix) else None
    return inner.rsplit("/", 1)[0] if "/" in inner else None


def _role(name: str, readers: list[dict[str, Any]]) -> tuple[str, str] | None:
    """(Flax module scope, parameter role) of one constant, or None for a non-parameter."""
    ops = {r["op"] for r in readers}
    if len(ops) != 1:
        return None
    op = ops.pop()
    if op in KERNEL_OPS:
        if op == "Einsum":
            scope = _scope(readers[0]["name"], EINSUM_SUFFIX) if len(readers) == 1 else None
        else:
            scope = _scope(name)
        return (scope, KERNEL_OPS[op]) if scope else None
    if op in ("Mul", "AddV2") and "jax2tf_arg" not in name:
        scope = _scope(name)
        return (scope, "scale" if op == "Mul" else "bias") if scope else None
    return None


def flax_parameters(graph: TfjsGraph) -> dict[str, dict[str, np.ndarray]]:
    """Flax module scope -> {role: array} for every parameter constant of ``graph``.

    Roles: ``kernel`` (Conv HWIO or Dense (in, out)), ``kernel_transpose`` (a
    ConvTranspose as TensorFlow's ``Conv2DBackpropInput`` reads it: H, W, out, in),
    ``scale`` and ``bias``.
    """
    readers = graph.consumers()
    modules: dict[str, dict[str, np.ndarray]] = {}
    for name, value in graph.weights.items():
        if value.dtype != np.float32 or value.ndim == 0:
            continue
        found = _role(name, readers.get(name, []))
        if found is None:
            continue
        scope, role = found
        slot = modules.setdefault(scope, {})
        if role in slot:
            raise BadInputError(f"two constants claim {scope}/{role} (one is {name}): the graph is not a jax2tf "
                                "export edgezoo can read")
        slot[role] = value
    if not modules:
        raise BadInputError("the graph has no jax2tf parameters (no node under jax2tf_apply_/): it was not converted "
                            "from a Flax model")
    return modules


def strip_root(modules: dict[str, dict[str, np.ndarray]], anchor: str) -> dict[str, dict[str, np.ndarray]]:
    """Drop the wrapper scopes above the model (e.g. ``Wrapper/backbone/``): the prefix
    in front of the module named ``anchor``, which must exist."""
    roots = {scope[: -len(anchor)] for scope in modules if scope == anchor or scope.endswith("/" + anchor)}
    if len(roots) != 1:
        raise BadInputError(f"cannot find the model's root scope (module {anchor!r} appears {len(roots)} times); "
                            "is this the right package for this model?")
    root = roots.pop()
    return {scope[len(root):]: params for scope, params in modules.items() if scope.startswith(root)}


def write_jax2tf_graph(modules: dict[str, dict[str, np.ndarray]], folder: Any, root: str = "") -> Any:
    """Write Flax parameters as a TF.js graph model named the way jax2tf and the TF.js
    converter name them (the inverse of :func:`flax_parameters`), with a few non-parameter
    constants beside them as a real export has. Returns the ``model.json`` path.

    Only the parameter-bearing nodes and their readers are written: enough for
    :func:`flax_parameters`, not a runnable TensorFlow graph.
    """
    from edgezoo.zoo.upstream.tfjs import write_graph

    apply = "StatefulPartitionedCall/jax2tf_apply_/" + root
    nodes: list[dict[str, Any]] = [{"name": "xs_0", "op": "Placeholder"}]
    weights: dict[str, np.ndarray] = {}

    def constant(name: str, value: np.ndarray, reader_op: str, reader: str) -> None:
        weights[name] = value
        nodes.append({"name": name, "op": "Const"})
        nodes.append({"name": reader, "op": reader_op, "input": ["xs_0", name]})

    for arg, (scope, params) in enumerate(sorted(modules.items())):
        where = apply + scope
        for role, value in params.items():
            if role == "kernel" and value.ndim == 2:
                constant(f"StatefulPartitionedCall/jax2tf_arg_{arg}/ReadVariableOp", value, "Einsum",
                         where + EINSUM_SUFFIX)
            elif role == "kernel":
                constant(f"{where}/transpose_3", value, "Conv2D", f"{where}/Conv2D")
            elif role == "kernel_transpose":
                constant(f"{where}/transpose_4", value, "Conv2DBackpropInput", f"{where}/conv2d_transpose")
            elif role == "scale":
                constant(f"{where}/Reshape_2", value.reshape(1, 1, 1, -1), "Mul", f"{where}/jit_fn_/Mul")
            else:
                suffix = "Reshape_3" if "scale" in params else "Reshape"
                constant(f"{where}/{suffix}", value.reshape(1, 1, 1, -1), "AddV2", f"{where}/jit_fn_/AddV2")
    # what a real export also holds: resize weights and scalars, which are not parameters
    constant(apply + "UpSampleRatio_0/jit__resize_/Reshape", np.eye(4, dtype=np.float32), "BroadcastTo",
             apply + "UpSampleRatio_0/jit__resize_/BroadcastTo")
    constant(apply + "LayerNorm/Const_1", np.array(1e-6, np.float32), "AddV2", apply + "LayerNorm/AddV2")
    constant(apply + "LayerNorm/Const_3", np.array(3, np.int32), "Mul", apply + "LayerNorm/Mul")
    return write_graph(folder, nodes, weights)
