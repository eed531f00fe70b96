"""Weights on disk: safetensors files checked by sha256, shipped or cached.

Shipped weights live in ``edgezoo/weights/`` and their sha256 in the model's manifest.
Upstream checkpoints are never fetched implicitly: :func:`cached_checkpoint` finds a
verified copy in the local cache or says exactly where to put one.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from edgezoo.errors import ArtifactIntegrityError, WeightsError
from edgezoo.files import atomic_path, cache_root, sha256_file

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


def cache_dir() -> Path:
    """Where verified upstream checkpoints are kept (``EDGEZOO_CACHE`` overrides)."""
    return cache_root() / "checkpoints"


def save_weights(
    model: torch.nn.Module, path: str | Path, metadata: dict[str, str] | None = None, dtype: torch.dtype | None = None,
) -> str:
    """Write the model's state dict as safetensors (atomically); return its sha256.
    ``dtype`` stores the floating-point tensors in that type (float16 halves the file);
    :func:`load_weights` casts them back to the model's own."""
    state = {k: v.detach().to("cpu", dtype if dtype is not None and v.is_floating_point() else v.dtype).contiguous()
             for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=metadata or {})
    return sha256_file(path)


def load_weights(model: torch.nn.Module, path: str | Path, sha256: str | None = None) -> torch.nn.Module:
    """Load safetensors weights into ``model``, checking the file's sha256 first."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist")
    if sha256 is not None:
        actual = sha256_file(path)
        if actual != sha256:
            raise ArtifactIntegrityError(
                f"{path} has sha256 {actual[:12]}…, expected {sha256[:12]}…: the file is corrupt or "
                "was replaced; reinstall edgezoo or retrain"
            )
    try:
        state = load_file(str(path))
    except Exception as exc:  # safetensors raises its own error types
        raise WeightsError(f"{path} is not a readable safetensors file ({exc})") from None
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    misshapen = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or misshapen:
        first = (missing or unexpected or misshapen)[0]
        raise WeightsError(
            f"{path} does not fit this architecture: {len(missing)} missing, {len(unexpected)} unexpected, "
            f"{len(misshapen)} misshapen tensors (first: {first})"
        )
    model.load_state_dict(state)
    return model


def shipped_weights_path(name: str) -> tuple[Path, str]:
    """(path, sha256) of the weights shipped for model ``name``."""
    from edgezoo.manifests import packaged_manifest, packaged_names

    if name not in packaged_names():
        from edgezoo.zoo.registry import get_entry
        from edgezoo.zoo.train import DEGRADATIONS

        entry = get_entry(name)
        task = entry.task
        if task == "generate":  # diffusion trains by its own script (one accelerator run trains the ladder)
            family = "soft" if getattr(entry.config, "process", "gaussian") == "soft" else "gaussian"
            raise WeightsError(f"no trained weights ship for '{name}'; use pretrained=False, or train them with "
                               f"`python scripts/device_diffusion.py train --family {family}` (recipe: "
                               "edgezoo.zoo.train_diffusion)")
        if task not in DEGRADATIONS and entry.protocol.name != "conditional-restore":  # suggest only a command that works
            raise WeightsError(f"no trained weights ship for '{name}', and `edgezoo train` has no {task} recipe yet; "
                               "use pretrained=False")
        raise WeightsError(
            f"no trained weights ship for '{name}'; use pretrained=False, or train them with "
            f"`edgezoo train {name} --images DIR`"
        )
    weights = packaged_manifest(name).weights
    if weights is None:
        raise WeightsError(f"the manifest of '{name}' lists no weights; use pretrained=False or train them")
    return WEIGHTS_DIR / weights.file, weights.sha256


def load_shipped_weights(model: torch.nn.Module, name: str) -> torch.nn.Module:
    """Load and verify the weights that ship with edgezoo for ``name``, or for a model
    whose weights come from upstream, the ones imported into the cache
    (``edgezoo weights import``)."""
    from edgezoo.zoo.upstream.sources import UPSTREAM

    if name in UPSTREAM:
        from edgezoo.zoo.upstream.imported import load_imported_weights

        return load_imported_weights(model, name)
    path, sha256 = shipped_weights_path(name)
    return load_weights(model, path, sha256)


def cached_checkpoint(filename: str, sha256: str, source_url: str, import_from: str | Path | None = None) -> Path:
    """A verified local copy of an upstream checkpoint.

    Parameters
    ----------
    filename : str
        Name of the file in the cache.
    sha256 : str
        Expected hex digest; a cached or imported file that differs is rejected.
    source_url : str
        Where a person can download it; only quoted in the error, never fetched.
    import_from : path, optional
        A file the user downloaded; it is verified and copied into the cache.

    Returns
    -------
    pathlib.Path
        The cached file.
    """
    target = cache_dir() / sha256[:16] / filename
    if import_from is not None:
        source = Path(import_from)
        if not source.is_file():
            raise WeightsError(f"{source} does not exist")
        actual = sha256_file(source)
        if actual != sha256:
            raise ArtifactIntegrityError(f"{source} has sha256 {actual[:12]}…, expected {sha256[:12]}…")
        with atomic_path(target) as tmp:
            shutil.copyfile(source, tmp)
    if not target.is_file():
        raise WeightsError(
            f"checkpoint {filename} is not in the cache ({target.parent}) and edgezoo never downloads at "
            f"run time: fetch {source_url} on a connected machine, then pass it with import_from=PATH"
        )
    actual = sha256_file(target)
    if actual != sha256:
        raise ArtifactIntegrityError(
            f"cached {target} has sha256 {actual[:12]}…, expected {sha256[:12]}…: delete it and import again"
        )
    return target
