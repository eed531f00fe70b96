"""Package a training run's best weights into edgezoo:
``release_weights.py MODEL RUN_DIR [float32|float16]`` (how the shipped file stores them).
A conditional-diffusion model (issue 11) takes the ``runs`` folder of
``scripts/device_conditional.py --out OUT`` (``OUT/runs``) and ships the model's
EMA weights in float16 by default, its recipe and loss log read from the run.

``release_weights.py MODEL --remeasure`` keeps the shipped weights and re-measures the
figures of their manifest (after a change to how models are evaluated);
``edgezoo eval MODEL --check`` then recomputes and compares them."""

import sys

import torch

from edgezoo.zoo.registry import get_entry
from edgezoo.zoo.release import release, remeasure

if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: release_weights.py MODEL (RUN_DIR [float32|float16] | --remeasure)")
    torch.set_num_threads(1)
    if get_entry(sys.argv[1]).task == "classify" and sys.argv[2] != "--remeasure":
        from edgezoo.zoo.release_classifier import release_classifier

        manifest = release_classifier(sys.argv[1], sys.argv[2])
        sys.exit(print(manifest.quality[0].metrics, manifest.quality[0].note))
    if get_entry(sys.argv[1]).protocol.name == "conditional-restore":
        from edgezoo.zoo.release_conditional import release_run

        manifest = release_run(sys.argv[1], sys.argv[2], dtype=sys.argv[3] if len(sys.argv) == 4 else "float16",
                               progress=print)
        sys.exit(print("\n".join(f"{int(q.metrics['steps'])} steps: {q.mean}" for q in manifest.quality)))
    if sys.argv[2] == "--remeasure":
        manifest = remeasure(sys.argv[1], progress=print)
    else:
        dtype = sys.argv[3] if len(sys.argv) == 4 else "float32"
        manifest = release(sys.argv[1], sys.argv[2], progress=print, dtype=dtype)
    for result in manifest.quality:
        print(result.degradation, result.mean, result.baselines)
