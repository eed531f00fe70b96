"""Run a TF.js graph model with numpy: an independent reference for imported weights.

Executes the graph node by node as TensorFlow defines each op (the subset jax2tf emits
for the MAXIM packages), so that an imported PyTorch model can be compared with the
upstream graph itself on any input, not only on a package's fixture. Convolutions use
torch's kernels for speed, fed as TensorFlow's NHWC/HWIO semantics prescribe. Slow and
memory-hungry by design: verification, not inference.
"""

from __future__ import annotations

import base64
from typing import Any, Callable

import numpy as np

from edgezoo.errors import BadInputError
from edgezoo.zoo.upstream.tfjs import TfjsGraph

_DTYPES = {"DT_FLOAT": np.float32, "DT_INT32": np.int32, "DT_BOOL": np.bool_, "DT_INT64": np.int64}


def _attr(node: dict[str, Any], key: str, default: Any = None) -> Any:
    value = node.get("attr", {}).get(key)
    if value is None:
        return default
    if "list" in value:
        items = value["list"]
        return [int(i) for i in items.get("i", [])] or [s for s in items.get("s", [])]
    if "i" in value:
        return int(value["i"])
    if "s" in value:
        return base64.b64decode(value["s"]).decode()
    if "type" in value:
        return _DTYPES[value["type"]]
    if "b" in value:
        return bool(value["b"])
    if "f" in value:
        return float(value["f"])
    return default


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _conv2d(node: dict[str, Any], x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    if _attr(node, "data_format", "NHWC") != "NHWC" or set(_attr(node, "dilations", [1])) != {1}:
        raise BadInputError(f"{node['name']}: only NHWC undilated Conv2D is supported")
    stride = _attr(node, "strides")[1:3]
    padding = _attr(node, "padding")
    t = torch.from_numpy(np.require(x, requirements=("C", "W"))).permute(0, 3, 1, 2)
    if padding == "SAME":
        (top, bottom), (left, right) = (_same_padding(t.shape[2 + i], kernel.shape[i], stride[i]) for i in range(2))
        t = F.pad(t, (left, right, top, bottom))
    elif padding == "EXPLICIT":
        pads = _attr(node, "explicit_paddings")
        t = F.pad(t, (pads[4], pads[5], pads[2], pads[3]))
    weight = torch.from_numpy(np.require(kernel, requirements=("C", "W"))).permute(3, 2, 0, 1)  # HWIO -> OIHW
    return torch.nn.functional.conv2d(t, weight, stride=tuple(stride)).permute(0, 2, 3, 1).numpy()


def _conv2d_backprop_input(node: dict[str, Any], sizes: np.ndarray, kernel: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """The gradient of Conv2D(input of shape ``sizes``, ``kernel``) with respect to its
    input, at output gradient ``grad``: TensorFlow's definition of this op."""
    import torch

    if _attr(node, "padding") != "VALID":
        raise BadInputError(f"{node['name']}: only VALID Conv2DBackpropInput is supported")
    stride = tuple(_attr(node, "strides")[1:3])
    n, h, w, c = (int(v) for v in sizes)
    weight = torch.from_numpy(np.require(kernel, requirements=("C", "W"))).permute(3, 2, 0, 1)  # forward conv's OIHW
    g = torch.from_numpy(np.require(grad, requirements=("C", "W"))).permute(0, 3, 1, 2)
    out = torch.nn.grad.conv2d_input((n, c, h, w), weight, g, stride=stride)
    return out.permute(0, 2, 3, 1).numpy()


def _strided_slice(node: dict[str, Any], x: np.ndarray, begin: np.ndarray, end: np.ndarray,
                   strides: np.ndarray) -> np.ndarray:
    masks = {k: _attr(node, k, 0) for k in ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask",
                                             "shrink_axis_mask")}
    index: list[Any] = []
    for i in range(len(begin)):
        bit = 1 << i
        if masks["ellipsis_mask"] & bit:
            index.append(Ellipsis)
        elif masks["new_axis_mask"] & bit:
            index.append(np.newaxis)
        elif masks["shrink_axis_mask"] & bit:
            index.append(int(begin[i]))
        else:
            index.append(slice(None if masks["begin_mask"] & bit else int(begin[i]),
                               None if masks["end_mask"] & bit else int(end[i]), int(strides[i])))
    return np.asarray(x[tuple(index)])


_ELEMENTWISE: dict[str, Callable[..., np.ndarray]] = {
    "Mul": np.multiply, "AddV2": np.add, "Sub": np.subtract, "Maximum": np.maximum, "Minimum": np.minimum,
    "Square": np.square, "Tanh": np.tanh, "Abs": np.abs, "Neg": np.negative, "Exp": np.exp, "Floor": np.floor,
    "Sign": np.sign, "Greater": np.greater, "GreaterEqual": np.greater_equal, "Less": np.less,
    "LessEqual": np.less_equal, "NotEqual": np.not_equal, "LogicalAnd": np.logical_and,
    "FloorMod": np.mod, "FloorDiv": np.floor_divide, "SelectV2": np.where,
}


def _run_op(node: dict[str, Any], args: list[np.ndarray]) -> np.ndarray:
    op = node["op"]
    if op in _ELEMENTWISE:
        out = _ELEMENTWISE[op](*args)
        return out.astype(args[0].dtype) if op in ("Mul", "AddV2", "Sub", "Square", "Neg", "Abs") else out
    if op == "RealDiv":
        return np.divide(*args).astype(args[0].dtype)
    if op == "Rsqrt":
        return (1.0 / np.sqrt(args[0])).astype(args[0].dtype)
    if op == "Reciprocal":
        return (1.0 / args[0]).astype(args[0].dtype)
    if op == "Identity":
        return args[0]
    if op == "Cast":
        return args[0].astype(_attr(node, "DstT"))
    if op == "Pack":
        return np.stack(args, axis=_attr(node, "axis", 0))
    if op == "Reshape":
        return args[0].reshape([int(v) for v in args[1]])
    if op == "BroadcastTo":
        return np.broadcast_to(args[0], [int(v) for v in args[1]])
    if op == "Transpose":
        return np.transpose(args[0], [int(v) for v in args[1]])
    if op == "Einsum":
        return np.einsum(_attr(node, "equation"), *args, optimize=True).astype(args[0].dtype)
    if op == "Sum":
        axes = tuple(int(v) for v in np.atleast_1d(args[1]))
        return np.sum(args[0], axis=axes, keepdims=bool(_attr(node, "keep_dims", False))).astype(args[0].dtype)
    if op == "StridedSlice":
        return _strided_slice(node, *args)
    if op == "ExpandDims":
        return np.expand_dims(args[0], int(args[1]))
    if op == "Squeeze":
        dims = _attr(node, "squeeze_dims", [])
        return np.squeeze(args[0], axis=tuple(dims) if dims else None)
    if op == "Range":
        return np.arange(args[0], args[1], args[2]).astype(np.result_type(args[0], args[2]))
    if op == "ConcatV2":
        return np.concatenate(args[:-1], axis=int(args[-1]))
    if op == "GatherV2":
        return np.take(args[0], args[1], axis=int(args[2]))
    if op == "Shape":
        return np.array(args[0].shape, dtype=np.int32)
    if op == "Conv2D":
        return _conv2d(node, *args)
    if op == "Conv2DBackpropInput":
        return _conv2d_backprop_input(node, *args)
    raise BadInputError(f"the graph uses op {op} ({node['name']}), which this reference does not run")


def run_graph(graph: TfjsGraph, inputs: dict[str, np.ndarray], output: str = "Identity") -> np.ndarray:
    """Evaluate node ``output`` of ``graph`` given placeholder values by name."""
    nodes, values = graph.nodes, dict(inputs)
    remaining: dict[str, int] = {}
    order: list[str] = []
    stack, seen = [output], set()
    while stack:  # iterative post-order: the graph is deep
        name = stack[-1]
        if name in seen:
            stack.pop()
            continue
        pending = [s.split(":")[0] for s in nodes[name].get("input", []) if not s.startswith("^")]
        todo = [p for p in pending if p not in seen and p not in values]
        if todo:
            stack.extend(todo)
            continue
        stack.pop()
        seen.add(name)
        order.append(name)
        for p in pending:
            remaining[p] = remaining.get(p, 0) + 1
    for name in order:
        if name in values:
            continue
        node = nodes[name]
        if node["op"] == "Const":
            values[name] = graph.weights[name]
            continue
        if node["op"] == "Placeholder":
            raise BadInputError(f"no value given for the graph input {name}")
        sources = [s.split(":")[0] for s in node.get("input", []) if not s.startswith("^")]
        values[name] = _run_op(node, [values[s] for s in sources])
        for s in sources:  # free what no later node reads
            remaining[s] -= 1
            if remaining[s] == 0 and s not in inputs and s != output:
                values.pop(s, None)
    return values[output]
