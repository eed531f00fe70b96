"""A CPU proof that the conditional-diffusion recipes learn (issue 11): not the shipped figures.

    python benchmarks/conditional_smoke.py [--run DIR] [--reuse] [--json-out FILE]

Trains ``dvsr-tiny-deblur`` (predictor 120 s, then teacher 330 s, one torch thread,
batch 8 of 32 px patches, Gaussian blur) with ``scripts/device_conditional.py`` into
``--run``, unless ``--reuse`` takes the run already there, then measures on the first 3
evaluation photos (centre 128 px crops): the blurred input, Wiener and Richardson-Lucy with
the true kernel, the predictor alone, one sample and the mean of 4 at 2 and 10 DDIM steps,
in domain (Gaussian blur) and out of it (motion blur); and, as a control, the same
trained predictor with an untrained denoiser (what the teacher's steps changed). Prints a
table and writes JSON with the device profile. Minutes of CPU training: the figures show
that learning happens, nothing about what the family reaches (that is the GPU run's job).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SCRIPT = ROOT / "scripts" / "device_conditional.py"
MODEL = "dvsr-tiny-deblur"
COMMON = ["--models", MODEL, "--device", "cpu", "--threads", "1", "--batch", "8", "--patch", "32",
          "--checkpoint-every", "100"]
EVAL = ["--eval-steps", "2,10", "--eval-samples", "4", "--eval-images", "3", "--eval-side", "128"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", default="/tmp/cond-proof2")
    parser.add_argument("--reuse", action="store_true", help="measure the run already in --run")
    parser.add_argument("--json-out", default=str(ROOT / "benchmarks" / "results" / "conditional_smoke.json"))
    args = parser.parse_args()
    out = Path(args.run)
    if not args.reuse:
        for phase, seconds in (("predictor", 120), ("teacher", 330)):
            subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), *COMMON, "--phases", phase,
                            "--seconds", str(seconds)], check=True)
        subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), *COMMON, "--phases", "evaluate", *EVAL],
                       check=True)

    import torch

    from edgezoo.files import atomic_write_text
    from edgezoo.runtimes.profile import device_profile
    from edgezoo.zoo.data import evaluation_images
    from edgezoo.zoo.train_conditional import evaluate_conditional, load_model

    torch.set_num_threads(1)
    quality = json.loads((out / "quality.json").read_text())["models"][MODEL]
    train = json.loads((out / "train.json").read_text())
    logs = {phase: [json.loads(line) for line in (out / "runs" / MODEL / phase / "log.jsonl").read_text().splitlines()]
            for phase in ("predictor", "teacher")}
    # the control: the trained predictor with the denoiser as initialised (seed 0)
    control = load_model(MODEL, out / "runs")
    torch.manual_seed(0)
    control.denoiser.load_state_dict(load_model(MODEL).denoiser.state_dict())
    photos = dict(sorted(evaluation_images(max_side=128).items())[:3])
    untrained = evaluate_conditional(control, "blur-gaussian", photos, (2, 10), 4, baselines=False)
    profile = device_profile()
    record = {
        "what": "CPU proof that dvsr-tiny-deblur's predictor and teacher learn: NOT the shipped figures (minutes "
                "of one CPU thread on a shared host; scripts/device_conditional.py on a GPU makes those)",
        "command": "python benchmarks/conditional_smoke.py" + (" --reuse" if args.reuse else ""),
        "device_profile": profile.id, "torch_threads": 1,
        "training": {phase: {k: train[f"{MODEL}/{phase}"][k] for k in
                             ("steps_done", "device_seconds", "patches_seen", "trainable_params", "params", "device")}
                     | {"recipe": {k: train[f"{MODEL}/{phase}"]["recipe"][k] for k in ("batch", "patch", "seed")},
                        "loss_log": logs[phase]}
                     for phase in ("predictor", "teacher")},
        "degradation_trained_on": "blur-gaussian",
        "evaluation": {"photos": sorted(photos), "side_px": 128, "metric": "PSNR/SSIM on RGB in [0, 1]",
                       "in_domain": quality["blur-gaussian"], "out_of_domain": quality["blur-motion"],
                       "control_untrained_denoiser_in_domain": untrained},
    }
    atomic_write_text(Path(args.json_out), json.dumps(record, indent=1, default=float))
    rows = [("in domain (Gaussian)", quality["blur-gaussian"]["mean"]), ("out of domain (motion)",
                                                                           quality["blur-motion"]["mean"]),
            ("control: untrained denoiser", untrained["mean"])]
    print(f"device profile {profile.id}; PSNR dB (mean of {len(photos)} photos)")
    for label, means in rows:
        print(f"  {label:30s} " + "  ".join(f"{k} {v['psnr_db']:.2f}" for k, v in means.items()))
    print(f"wrote {args.json_out}")


if __name__ == "__main__":
    main()
