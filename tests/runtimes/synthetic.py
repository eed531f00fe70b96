"""Synthetic manifests for planner tests: no files, no torch."""

from __future__ import annotations

from edgezoo.manifests import Manifest

PROFILE = "test-host-2c-00000000"


def latency(backend: str, device: str, side: int, p90: float, profile: str = PROFILE,
            peak_mb: float | None = None) -> dict:
    entry = {"device_profile": profile, "backend": backend, "device": device, "input_shape": [1, 3, side, side],
             "p50_ms": p90 * 0.9, "p90_ms": p90, "runs": 20}
    if peak_mb is not None:
        entry["peak_mb"] = peak_mb
    return entry


def artifact(fmt: str, precision: str = "fp32", side: int | None = 256, latency: list | None = None,
             parity_passed: bool | None = None) -> dict:
    art = {"format": fmt, "precision": precision, "file": f"model-{precision}.{fmt}", "sha256": "0" * 64,
           "bytes": 1, "static_shape": side is not None,
           "input_shape": [1, 3, side, side] if side else [1, 3, "H", "W"], "latency": latency or []}
    if parity_passed is not None:
        art["parity"] = {"executed": True, "psnr_db": 70.0 if parity_passed else 20.0, "threshold_db": 60.0,
                         "passed": parity_passed}
    return art


def manifest(name: str, psnr: float | None, artifacts: list[dict], gflops: float | None = None) -> Manifest:
    quality = [] if psnr is None else [{
        "dataset": "photos", "degradation": "gaussian sigma=25", "seed": 0,
        "mean": {"psnr_db": psnr, "ssim": 0.8}}]
    return Manifest.model_validate({
        "name": name, "family": "maxim", "task": "denoise", "paper": {"title": "t", "url": "u"}, "config": {},
        "params": 1000, "gflops_per_mpix": gflops,
        "io": {"inputs": [{"name": "image", "shape": [1, 3, "H", "W"], "multiple_of": 32}],
               "outputs": [{"name": "restored", "shape": [1, 3, "H", "W"]}]},
        "preprocessing": {"pad_to_multiple_of": 32}, "quality": quality, "artifacts": artifacts,
    })
