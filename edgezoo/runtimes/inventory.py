"""What this host can run: (backend, device) targets, probed without importing absent packages.

Tests and apps may build an :class:`Inventory` by hand (an NPU-only phone, a GPU box,
a host whose OpenVINO fails to start) and give it to the planner or ``load``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Iterable

from edgezoo.runtimes.backends import all_backends, get_backend
from edgezoo.runtimes.backends.base import Backend, Device, DeviceKind

KINDS: tuple[DeviceKind, ...] = ("npu", "gpu", "cpu")


@dataclass(frozen=True)
class Target:
    """One usable place to run: a backend, one of its devices, and the formats it reads."""

    backend: str
    device: Device
    formats: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{self.backend}:{self.device.name}"

    @property
    def kind(self) -> DeviceKind:
        return self.device.kind


def target(backend: str, kind: DeviceKind, name: str | None = None, formats: Iterable[str] | None = None,
           detail: str = "") -> Target:
    """Build a :class:`Target` by hand (simulated inventories): formats default to what
    the named backend reads."""
    if formats is None:
        formats = get_backend(backend).formats
    return Target(backend, Device(backend, kind, name or kind, detail), tuple(formats))


@dataclass
class Inventory:
    """Targets usable on a host; ``failures``: backends installed but broken here
    (backend -> why); ``absent``: backends not available (backend -> why, with the fix)."""

    targets: list[Target]
    failures: dict[str, str] = field(default_factory=dict)
    absent: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)

    def for_format(self, fmt: str) -> list[Target]:
        return [t for t in self.targets if fmt in t.formats]

    def backends(self) -> list[str]:
        return sorted({t.backend for t in self.targets})

    def to_dict(self) -> dict[str, Any]:
        return {
            "targets": [
                {"backend": t.backend, "device": t.device.name, "kind": t.kind, "formats": list(t.formats),
                 "version": self.versions.get(t.backend), "detail": t.device.detail}
                for t in self.targets
            ],
            "failures": dict(self.failures),
            "absent": dict(self.absent),
        }


def _probe(backends: Iterable[Backend]) -> Inventory:
    inventory = Inventory(targets=[])
    for backend in backends:
        if not backend.available():
            inventory.absent[backend.name] = backend.unavailable_reason()
            continue
        try:
            devices = backend.devices()
        except Exception as exc:  # a plugin that fails to start must not hide the others
            first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]
            inventory.failures[backend.name] = f"{exc.__class__.__name__}: {first[:200]}"
            continue
        inventory.versions[backend.name] = backend.version() or "unknown"
        inventory.targets += [Target(backend.name, dev, backend.formats) for dev in devices]
    return inventory


_LOCK = threading.Lock()
_CACHED: Inventory | None = None


def probe_inventory(backends: Iterable[Backend] | None = None, refresh: bool = False) -> Inventory:
    """Probe every backend (or those given) and return what this host can run. The
    default probe is cached for the process; ``refresh=True`` probes again."""
    global _CACHED
    if backends is not None:
        return _probe(backends)
    with _LOCK:
        if _CACHED is None or refresh:
            _CACHED = _probe(all_backends())
        return _CACHED
