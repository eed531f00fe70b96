"""The one interface every inference backend implements.

A backend is probed without importing its package (``importlib.util.find_spec``), so an
absent optional backend costs nothing and never raises on import.
"""

from __future__ import annotations

import importlib.util
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from edgezoo.errors import ArtifactIntegrityError, BackendUnavailableError, BadInputError

DeviceKind = Literal["cpu", "gpu", "npu"]


@dataclass(frozen=True)
class Device:
    """One place a backend can execute: ``kind`` is what the planner reasons about,
    ``name`` what the backend calls it (an ORT provider, an OpenVINO device, ...)."""

    backend: str
    kind: DeviceKind
    name: str
    detail: str = ""

    @property
    def key(self) -> str:
        return f"{self.backend}:{self.name}"


@dataclass
class TensorInfo:
    name: str
    shape: list[Any]
    dtype: str


class Runner(ABC):
    """A loaded artifact bound to one device. ``run`` is safe to call from several threads."""

    backend: str
    device: Device
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]

    @abstractmethod
    def _run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Execute with feeds keyed by this runner's own input names."""

    def run(self, inputs: dict[str, np.ndarray] | np.ndarray) -> dict[str, np.ndarray]:
        """Run on ``inputs`` (a dict by input name, or one array for a one-input model)
        and return outputs by name."""
        feeds = self._match_inputs(inputs)
        return dict(zip((o.name for o in self.outputs), self._run(feeds)))

    def describe(self) -> dict[str, Any]:
        """What actually executes where (overridden by backends that can tell more)."""
        return {"backend": self.backend, "device": self.device.name, "kind": self.device.kind}

    def _match_inputs(self, inputs: dict[str, np.ndarray] | np.ndarray) -> dict[str, np.ndarray]:
        if isinstance(inputs, np.ndarray):
            if len(self.inputs) != 1:
                raise BadInputError(f"this model takes {len(self.inputs)} inputs; pass a dict by name")
            inputs = {self.inputs[0].name: inputs}
        names = [i.name for i in self.inputs]
        if set(inputs) != set(names):
            if len(inputs) == len(names) == 1:  # converters rename single inputs (args_0, x, ...)
                inputs = {names[0]: next(iter(inputs.values()))}
            else:
                raise BadInputError(f"inputs {sorted(inputs)} do not match the model's {names}")
        feeds = {}
        for info in self.inputs:
            array = inputs[info.name]
            if not isinstance(array, np.ndarray) or array.dtype != np.dtype(info.dtype):
                got = array.dtype if isinstance(array, np.ndarray) else type(array).__name__
                raise BadInputError(f"input '{info.name}' must be a {info.dtype} array, got {got}")
            static = [d for d in info.shape if isinstance(d, int) and d > 0]
            if len(array.shape) != len(info.shape) or any(
                isinstance(d, int) and d > 0 and d != a for d, a in zip(info.shape, array.shape)
            ):
                raise BadInputError(
                    f"input '{info.name}' has shape {list(array.shape)}, the artifact takes {info.shape}"
                    + (" (fixed shape: tile the image, or use edgezoo.runtimes.load)" if static else "")
                )
            feeds[info.name] = np.ascontiguousarray(array)
        return feeds


class LockedRunner(Runner, ABC):
    """For runtimes whose session objects are not thread-safe: one call at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def run(self, inputs: dict[str, np.ndarray] | np.ndarray) -> dict[str, np.ndarray]:
        with self._lock:
            return super().run(inputs)


class Backend(ABC):
    """An inference engine: which formats it reads, where it can run them."""

    name: str
    formats: tuple[str, ...]
    package: str  # the import name probed by available()
    install_hint: str
    distributions: tuple[str, ...] = ()  # pip distributions that provide ``package``, in order

    def available(self) -> bool:
        try:
            return importlib.util.find_spec(self.package) is not None
        except (ImportError, ValueError):
            return False

    def unavailable_reason(self) -> str:
        """Why ``available()`` is false, with the fix."""
        return f"not installed: {self.install_hint}"

    def require(self) -> None:
        if not self.available():
            raise BackendUnavailableError(f"{self.name} is {self.unavailable_reason()}")

    def version(self) -> str | None:
        """The installed version, read from package metadata (nothing is imported)."""
        from importlib.metadata import PackageNotFoundError, version

        if not self.available():
            return None
        for dist in self.distributions or (self.package,):
            try:
                return version(dist)
            except PackageNotFoundError:
                continue
        return "unknown"

    @abstractmethod
    def devices(self) -> list[Device]: ...

    @abstractmethod
    def load(
        self, artifact: str | Path, device: Device | str = "cpu", threads: int | None = None,
        precision: str | None = None,
    ) -> Runner:
        """Load ``artifact`` onto ``device`` and return a thread-safe :class:`Runner`.

        ``precision`` is the artifact's own precision (fp32/fp16/int8); backends that
        would otherwise lower it silently (OpenVINO's bf16 default on CPUs with
        AVX512-BF16/AMX) keep fp32 artifacts in fp32 and fp16 ones in fp16 (or fp32
        where the device has no fp16 compute); None is taken as fp32. Raises
        :class:`BackendUnavailableError` or :class:`ArtifactIntegrityError`."""

    def device(self, spec: Device | str) -> Device:
        """Resolve ``"cpu"``/``"gpu"``/``"npu"`` or a backend device name to a Device."""
        if isinstance(spec, Device):
            return spec
        for dev in self.devices():
            if spec in (dev.name, dev.kind):
                return dev
        names = ", ".join(d.name for d in self.devices()) or "none"
        raise BackendUnavailableError(f"{self.name} has no device '{spec}' on this host (it has: {names})")


def check_artifact_file(path: str | Path) -> Path:
    """Fail early, in one line, on a missing or empty artifact."""
    path = Path(path)
    if not path.exists():
        raise ArtifactIntegrityError(f"artifact {path} does not exist")
    if path.is_file() and path.stat().st_size == 0:
        raise ArtifactIntegrityError(f"artifact {path} is empty; re-export it")
    return path


def load_failure(backend: str, path: Path, exc: Exception) -> ArtifactIntegrityError:
    """A one-line error for an artifact its runtime cannot parse."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
    return ArtifactIntegrityError(f"{backend} cannot load {path.name}: {first[:200]} (corrupt or truncated? re-export it)")

