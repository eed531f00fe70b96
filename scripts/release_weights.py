"""Package a training run's best weights into edgezoo: ``release_weights.py MODEL RUN_DIR``."""

import sys

import torch

from edgezoo.zoo.release import release

if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: release_weights.py MODEL RUN_DIR")
    torch.set_num_threads(1)
    manifest = release(sys.argv[1], sys.argv[2], progress=print)
    for result in manifest.quality:
        print(result.degradation, result.mean, result.baselines)
