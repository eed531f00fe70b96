"""Run in a subprocess by the tests: open a bundle and run it with the runtime alone.
torch, coremltools, the zoo and the exporters cannot be imported here (an import hook
refuses them), so whatever this reproduces came from the bundle's files and contract.json.

usage: python app_probe.py BUNDLE INPUTS.npz OUTPUTS.npz
"""

import importlib.abc
import sys

BLOCKED = ("torch", "coremltools", "litert_torch", "onnxscript", "edgezoo.zoo", "edgezoo.export")


class _Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in BLOCKED):
            raise ImportError(f"{name} is blocked: a bundle must run with the runtime alone")
        return None


sys.meta_path.insert(0, _Refuse())

import numpy as np  # noqa: E402

from edgezoo.runtimes.bundle import open_bundle  # noqa: E402
from edgezoo.runtimes.samplers import sample_rng  # noqa: E402

bundle = open_bundle(sys.argv[1])
inputs = dict(np.load(sys.argv[2]))
results = {}
for i, entry in enumerate(bundle.contract["artifacts"]):
    if entry["format"] == "coreml":
        continue  # Core ML predicts only on Apple platforms
    key = f"{i}:{entry['file']}"
    if bundle.contract.get("sampler"):
        results[key] = bundle.generate(entry, rng=sample_rng(0, 0))
    elif entry["signature"] == "uint8_nhwc":
        runner = bundle.runner(entry)
        results[key] = runner.run({entry["inputs"][0]["name"]: inputs["pixels"]})[entry["outputs"][0]["name"]]
    else:
        results[key] = bundle.restore(entry, inputs["image"])
np.savez(sys.argv[3], **results)
print(",".join(sorted({m for m in BLOCKED if m in sys.modules})) or "clean")
