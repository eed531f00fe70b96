"""The runtime stays light: loading and running artifacts imports no torch, no
coremltools, and nothing from the zoo or the exporters."""

import subprocess

HEAVY = ("torch", "coremltools", "edgezoo.zoo", "edgezoo.export", "litert_torch", "onnxscript")

PROBE = """
import sys
import numpy as np
from edgezoo import runtimes
from edgezoo.runtimes.store import open_export_dir
ran = []
export = sys.argv[1]
for art in open_export_dir(export).manifest.artifacts:
    for backend in ("onnxruntime", "openvino", "litert"):
        try:
            session = runtimes.load(export, backend=backend, artifact=art.key, prefer=["cpu"])
        except Exception:
            continue
        session(np.zeros((64, 64, 3), np.float32))
        session.describe()
        ran.append(backend)
runtimes.device_profile(); runtimes.probe_inventory()
heavy = [m for m in sys.argv[2:] if m in sys.modules]
assert not heavy, heavy
print(",".join(sorted(set(ran))))
"""


def test_importing_the_runtime_pulls_in_nothing_heavy(python):
    code = ("import sys, edgezoo.runtimes, edgezoo.cli.runtime_cmds, edgezoo.runtimes.batch, edgezoo.cli.batch_cmd, "
            "edgezoo.runtimes.bundle, edgezoo.runtimes.sampler_table\nprint([m for m in sys.argv[1:] if m in sys.modules])")
    result = subprocess.run([python, "-c", code, *HEAVY], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stdout + result.stderr


def test_loading_and_running_every_backend_pulls_in_nothing_heavy(python, tiny_export):
    from edgezoo.runtimes.backends import get_backend

    result = subprocess.run([python, "-c", PROBE, str(tiny_export), *HEAVY], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    ran = set(result.stdout.strip().split(","))
    installed = {b for b in ("onnxruntime", "openvino", "litert") if get_backend(b).available()}
    assert installed and installed <= ran, (installed, ran)
