"""Programs of several graphs, composed on loaded runners: the components a program
calls once per request (``Program.once``: an instruction's text encoder) and the one it
calls per tile, fed their outputs. Shared by the runtime's session and the export's
task-quality gate, so both serve a request the same way. Torch-free."""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np

from edgezoo.errors import BadInputError
from edgezoo.manifests.schema import Component, ModelSpec

RunFunction = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


def runner_call(runner: Any, output: str) -> Callable[[Mapping[str, np.ndarray]], np.ndarray]:
    """``runner`` as one call: its feeds cast to the dtypes it declares (a name it does
    not declare gets its only input's, else float32), output ``output`` as float32. The
    declared dtypes are read once: a step graph is called steps x tiles times."""
    from edgezoo.tasks.base import pick_output

    declared = {info.name: np.dtype(info.dtype) for info in getattr(runner, "inputs", None) or []}
    other = next(iter(declared.values())) if len(declared) == 1 else np.dtype(np.float32)

    def call(arrays: Mapping[str, np.ndarray]) -> np.ndarray:
        fed = {name: np.asarray(a).astype(declared.get(name, other), copy=False) for name, a in arrays.items()}
        return pick_output(runner.run(fed), output).astype(np.float32, copy=False)

    return call


def tiled_input(component: Component) -> str:
    """The name of the one image input a tiled component is called per tile with."""
    images = [t.name for t in component.inputs if t.role == "image"]
    if len(images) != 1:
        raise BadInputError(f"component '{component.name}' takes {len(images)} image inputs; a tiled program "
                            "feeds exactly one")
    return images[0]


def once_outputs(spec: ModelSpec, runners: Mapping[str, Any], feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every ``once`` component of ``spec``'s program called on ``feeds`` (the request's
    tensors, by input name; a later component may also read an earlier one's outputs):
    their outputs by name, float32."""
    known = dict(feeds)
    produced: dict[str, np.ndarray] = {}
    for name in spec.program.once:
        component = spec.component(name)
        missing = [t.name for t in component.inputs if t.name not in known]
        if missing:
            raise BadInputError(f"the {name} of this program needs {', '.join(missing)} from the request")
        for tensor in component.outputs:
            value = runner_call(runners[name], tensor.name)({t.name: known[t.name] for t in component.inputs})
            known[tensor.name] = produced[tensor.name] = value
    return produced


def tile_function(spec: ModelSpec, runner: Any, fixed: Mapping[str, np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """The program's component as a function of one (1, C, h, w) tile: its image input
    fed the tile, every other input from ``fixed`` (the once components' outputs)."""
    component = spec.component()
    image = tiled_input(component)
    missing = [t.name for t in component.inputs if t.name != image and t.name not in fixed]
    if missing:
        raise BadInputError(f"the {component.name} of this program needs {', '.join(missing)} besides the picture, "
                            "and no once-per-request component gives it")
    call = runner_call(runner, component.outputs[0].name)
    others = {t.name: fixed[t.name] for t in component.inputs if t.name != image}

    def one_tile(tile: np.ndarray) -> np.ndarray:
        return call({image: tile, **others})

    return one_tile


def program_run(spec: ModelSpec, runners: Mapping[str, Any]) -> RunFunction:
    """A program with ``once`` components as one call on one tile: ``{image input: (1,
    C, h, w), the once components' inputs...}`` -> ``{program output: ...}``. The once
    components run on every call here (the export's quality gate, per tile); the
    session runs them once per request and reuses :func:`tile_function`."""
    component = spec.component()
    image, output = tiled_input(component), component.outputs[0].name

    def run(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if image not in inputs:
            raise BadInputError(f"the program takes '{image}' and the request's tensors, not {sorted(inputs)}")
        request = {k: v for k, v in inputs.items() if k != image}
        fixed = once_outputs(spec, runners, request)
        return {output: tile_function(spec, runners[component.name], fixed)(inputs[image])}

    return run


__all__ = ["once_outputs", "program_run", "runner_call", "tile_function", "tiled_input"]
