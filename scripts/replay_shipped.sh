#!/usr/bin/env bash
# Replay the recorded training run of each shipped restoration model and check the replayed
# weights against its manifest (`edgezoo eval MODEL --check --weights`: each sigma's mean PSNR
# within 0.05 dB, SSIM within 0.002).
#
# Usage: scripts/replay_shipped.sh PHOTOS_DIR [OUT_DIR] [MODEL ...]
#   PHOTOS_DIR  the training pool: `scripts/fetch_photos.sh DIR` puts it in DIR/photos; its files
#               must have the sha256 the manifest records (checked before anything trains)
#   OUT_DIR     where the replayed runs go (default: runs-replay)
#   MODEL       default: maxim-tiny-denoise maxim-small-denoise
#
# Cost: maxim-tiny-denoise's 6000 steps of batch 16 take hours on a CPU (on one thread of a shared
# 2-core Intel Xeon under load, device profile intel-xeon-2c-02789612, its first 50 steps took
# 146 s: about 5 h in all; the original run took about 1.6 h). maxim-small-denoise is refused: its run started from an earlier run's weights,
# which do not ship. Exit status: 0 when every model asked for was replayed and matched.
set -euo pipefail
photos=${1:?usage: replay_shipped.sh PHOTOS_DIR [OUT_DIR] [MODEL ...]}
out=${2:-runs-replay}
shift $(( $# < 2 ? $# : 2 ))
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(maxim-tiny-denoise maxim-small-denoise)
python=${PYTHON:-python}
status=0
for model in "${models[@]}"; do
  # the exact recorded command, on these photos, once they are shown to be the recorded ones
  if ! command=$("$python" -c 'import sys
from edgezoo.errors import EdgezooError
from edgezoo.zoo.release import replay_command
try:
    print(replay_command(*sys.argv[1:]))
except EdgezooError as exc:
    sys.exit(f"error: {exc}")' "$model" "$photos" "$out"); then
    echo "$model: not replayed" >&2
    status=1
    continue
  fi
  echo "$model: $command"
  eval "$command"
  edgezoo eval "$model" --check --weights "$out/$model/best.safetensors" || status=1
done
exit $status
