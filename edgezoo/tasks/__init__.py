"""Task protocols: what a task means to every layer, as a small plugin per task.

A protocol makes a variant's :class:`~edgezoo.manifests.schema.ModelSpec` (its tensors,
their roles and shape rules, the serving program, metrics, labels), supplies real inputs
for parity checks, compares an artifact's outputs with the reference by output role,
and turns a model's outputs into what a user reads. Export, runtime and planner ask the
protocol instead of assuming "an RGB image in, a same-size image out". Torch-free.
"""

from __future__ import annotations

from edgezoo.errors import UnknownModelError
from edgezoo.tasks.base import TaskProtocol
from edgezoo.tasks.classify import ClassifyProtocol
from edgezoo.tasks.conditional import ConditionalRestoreProtocol
from edgezoo.tasks.generate import GenerateProtocol
from edgezoo.tasks.instruct import InstructRestoreProtocol
from edgezoo.tasks.resize import ResizeProtocol
from edgezoo.tasks.restore import RestoreProtocol

_PROTOCOLS: dict[str, TaskProtocol] = {}
for _protocol in (RestoreProtocol(), ClassifyProtocol(), ResizeProtocol(), GenerateProtocol(),
                  ConditionalRestoreProtocol(), InstructRestoreProtocol()):
    for _task in _protocol.tasks:
        _PROTOCOLS[_task] = _protocol


def protocol_for(task: str) -> TaskProtocol:
    """The protocol serving ``task`` (``denoise``, ``classify``, ...)."""
    try:
        return _PROTOCOLS[task]
    except KeyError:
        raise UnknownModelError(f"no task protocol for task '{task}' (known: {', '.join(sorted(_PROTOCOLS))})") from None


def served_task(task: str) -> str:
    """The task a user asks for that models of ``task`` also serve: ``deblur`` for
    ``conditional-deblur``, ``super-resolve`` for ``conditional-sr4`` (``edgezoo run
    deblur`` plans over both kinds of deblurring model); ``task`` itself otherwise."""
    return getattr(_PROTOCOLS.get(task), "serves", {}).get(task, task)


def protocol_named(name: str) -> TaskProtocol:
    """The protocol called ``name`` (as stored in a manifest's spec)."""
    for protocol in _PROTOCOLS.values():
        if protocol.name == name:
            return protocol
    raise UnknownModelError(f"unknown task protocol '{name}': this edgezoo is older than the manifest; upgrade it")


__all__ = ["TaskProtocol", "protocol_for", "protocol_named", "served_task"]
