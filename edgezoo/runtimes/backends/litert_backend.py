"""LiteRT (TFLite) interpreter with XNNPACK: ``ai-edge-litert``, else ``tflite-runtime``.

Only the CPU is listed: the interpreter's GPU and NPU paths need a vendor library *and*
the hardware, and LiteRT falls back to CPU without saying so when either is missing,
so this backend does not claim them. ``describe()`` tells whether XNNPACK took the whole
graph (one delegate partition fed only by the model inputs and constants) and which
accelerator libraries the installed package ships.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from edgezoo.runtimes.backends.base import (
    Backend, Device, LockedRunner, Runner, TensorInfo, check_artifact_file, load_failure,
)

# (import name of the interpreter module, distribution name), in order of preference
INTERPRETERS = (("ai_edge_litert.interpreter", "ai-edge-litert"), ("tflite_runtime.interpreter", "tflite-runtime"))


DEBUG_ENV = "EDGEZOO_DEBUG"  # set to 1 to let the interpreter's own log lines through
_STDERR_LOCK = threading.Lock()  # fd 2 is one per process: two loads must not swap it at once


@contextlib.contextmanager
def quiet_native_log() -> Iterator[None]:
    """Keep the interpreter's INFO lines ("Created TensorFlow Lite XNNPACK delegate
    for CPU.") off the user's terminal. They are written by C++ straight to file
    descriptor 2, past ``sys.stderr``, so fd 2 is pointed at a temporary file for the
    block; any other line written meanwhile (a warning, another thread's output) is
    passed on afterwards."""
    if os.environ.get(DEBUG_ENV):
        yield
        return
    with _STDERR_LOCK, tempfile.TemporaryFile() as sink:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError):  # no fd 2 to redirect
            yield
            return
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            kept = [line for line in sink.read().decode("utf-8", errors="replace").splitlines(keepends=True)
                    if not line.startswith("INFO: ")]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


def _find_interpreter() -> tuple[str, str] | None:
    for module, dist in INTERPRETERS:
        try:
            if importlib.util.find_spec(module.split(".")[0]) is not None:
                return module, dist
        except (ImportError, ValueError):
            continue
    return None


def _shipped_accelerators(module: str) -> list[str]:
    """Accelerator libraries inside the installed package (not proof of hardware)."""
    spec = importlib.util.find_spec(module.split(".")[0])
    if spec is None or not spec.submodule_search_locations:
        return []
    root = Path(list(spec.submodule_search_locations)[0])
    found = [p.stem.replace("libLiteRt", "").replace("Accelerator", "").lower() + " (gpu)"
             for p in root.glob("libLiteRt*Accelerator*.so")]
    vendors = root / "vendors"
    if vendors.is_dir():
        found += [f"{v.name} (npu dispatch)" for v in sorted(vendors.iterdir())
                  if (v / "dispatch").is_dir() and any((v / "dispatch").iterdir())]
    return found


def delegate_coverage(interpreter: Any) -> dict[str, Any]:
    """How much of the graph the default delegate (XNNPACK) took.

    Delegated nodes stay in the node list, replaced in the execution plan by
    ``DELEGATE`` nodes; the graph is fully delegated when one partition consumes only
    model inputs and constants and produces every model output."""
    ops = interpreter._get_ops_details()  # experimental API, stable since TF 2.5
    delegates = [op for op in ops if op["op_name"] == "DELEGATE"]
    originals = [op for op in ops if op["op_name"] != "DELEGATE"]
    model_inputs = {int(d["index"]) for d in interpreter.get_input_details()}
    model_outputs = {int(d["index"]) for d in interpreter.get_output_details()}
    produced = {int(t) for op in originals for t in op["outputs"]}
    full = len(delegates) == 1 and model_outputs <= {int(t) for t in delegates[0]["outputs"]} and not (
        {int(t) for t in delegates[0]["inputs"] if t >= 0} & (produced - model_inputs)
    )
    return {"delegate_partitions": len(delegates), "graph_ops": len(originals), "fully_delegated": full}


def signature_names(interpreter: Any) -> dict[int, str]:
    """Tensor index -> name in the model's one signature (``serving_default``): the
    contract's names, where the raw tensor names carry converter prefixes
    (``serving_default_image:0``). Empty for a model without exactly one signature."""
    try:
        signatures = interpreter.get_signature_list()
        if len(signatures) != 1:
            return {}
        runner = interpreter.get_signature_runner(next(iter(signatures)))
        details = {**runner.get_input_details(), **runner.get_output_details()}
    except (AttributeError, ValueError, KeyError):  # old interpreters without signature runners
        return {}
    return {int(d["index"]): name for name, d in details.items()}


class LiteRtRunner(LockedRunner):
    backend = "litert"

    def __init__(self, interpreter: Any, device: Device, package: str, module: str, threads: int | None) -> None:
        super().__init__()
        self.interpreter, self.device, self.package, self._module = interpreter, device, package, module
        self.threads = threads
        self._in = interpreter.get_input_details()
        self._out = interpreter.get_output_details()
        names = signature_names(interpreter)  # tensor index -> the name the exporter gave it
        self._in_names = [names.get(int(d["index"]), d["name"]) for d in self._in]
        self.inputs = [TensorInfo(n, [int(x) for x in d["shape_signature"]] or list(d["shape"]), np.dtype(d["dtype"]).name)
                       for n, d in zip(self._in_names, self._in)]
        self.outputs = [TensorInfo(names.get(int(d["index"]), d["name"]), [int(x) for x in d["shape"]],
                                   np.dtype(d["dtype"]).name) for d in self._out]
        self._shapes = {n: tuple(d["shape"]) for n, d in zip(self._in_names, self._in)}

    def _run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        for name, detail in zip(self._in_names, self._in):
            array = feeds[name]
            if tuple(array.shape) != self._shapes[name]:
                with quiet_native_log():
                    self.interpreter.resize_tensor_input(detail["index"], list(array.shape))
                    self.interpreter.allocate_tensors()
                self._shapes[name] = tuple(array.shape)
            self.interpreter.set_tensor(detail["index"], array)
        self.interpreter.invoke()
        return [self.interpreter.get_tensor(d["index"]).copy() for d in self._out]

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "backend": self.backend, "device": self.device.name, "kind": self.device.kind,
            "interpreter": self.package, "delegate": "XNNPACK (default CPU delegate)",
            "threads": self.threads or "interpreter default",
            "accelerators_shipped": _shipped_accelerators(self._module),
        }
        try:
            with self._lock:
                info.update(delegate_coverage(self.interpreter))
        except Exception as exc:  # the op-details API is experimental
            info["delegate_coverage"] = f"unknown ({exc.__class__.__name__})"
        info["fallback_to_cpu"] = False  # CPU is the only device this backend offers
        return info


class LiteRtBackend(Backend):
    name = "litert"
    formats = ("tflite",)
    package = "ai_edge_litert"
    install_hint = "pip install ai-edge-litert (or tflite-runtime on numpy<2 systems)"

    def available(self) -> bool:
        return _find_interpreter() is not None

    def version(self) -> str | None:
        found = _find_interpreter()
        if found is None:
            return None
        from importlib.metadata import PackageNotFoundError, version

        try:
            return f"{found[1]} {version(found[1])}"
        except PackageNotFoundError:
            return found[1]

    def devices(self) -> list[Device]:
        found = _find_interpreter()
        return [Device(self.name, "cpu", "cpu", detail=f"XNNPACK via {found[1]}")] if found else []

    def load(
        self, artifact: str | Path, device: Device | str = "cpu", threads: int | None = None,
        precision: str | None = None,
    ) -> Runner:
        self.require()
        found = _find_interpreter()
        assert found is not None
        module = importlib.import_module(found[0])
        path = check_artifact_file(artifact)
        dev = self.device(device)
        threads = threads or os.cpu_count()  # the interpreter's own default is one thread
        try:
            with quiet_native_log():
                interpreter = module.Interpreter(model_path=str(path), num_threads=threads)
                interpreter.allocate_tensors()
        except Exception as exc:  # the interpreter raises ValueError/RuntimeError on bad flatbuffers
            raise load_failure(self.name, path, exc) from None
        return LiteRtRunner(interpreter, dev, found[1], found[0], threads)
