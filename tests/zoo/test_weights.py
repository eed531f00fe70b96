import pytest
import torch

from edgezoo.errors import ArtifactIntegrityError, WeightsError
from edgezoo.files import sha256_file
from edgezoo.zoo import create_model
from edgezoo.zoo.weights import cached_checkpoint, load_weights, save_weights


def test_save_load_round_trip_with_sha256(tmp_path):
    model = create_model("maxim-tiny-denoise", pretrained=False)
    digest = save_weights(model, tmp_path / "w.safetensors")
    fresh = create_model("maxim-tiny-denoise", pretrained=False)
    load_weights(fresh, tmp_path / "w.safetensors", sha256=digest)
    for a, b in zip(model.state_dict().values(), fresh.state_dict().values()):
        assert torch.equal(a, b)


def test_float16_storage_halves_the_file_and_loads_back_as_float32(tmp_path):
    model = create_model("maxim-tiny-denoise", pretrained=False)
    save_weights(model, tmp_path / "w32.safetensors")
    digest = save_weights(model, tmp_path / "w16.safetensors", dtype=torch.float16)
    assert (tmp_path / "w16.safetensors").stat().st_size < 0.55 * (tmp_path / "w32.safetensors").stat().st_size
    fresh = load_weights(create_model("maxim-tiny-denoise", pretrained=False), tmp_path / "w16.safetensors", digest)
    for a, b in zip(model.state_dict().values(), fresh.state_dict().values()):
        assert b.dtype == a.dtype
        if a.is_floating_point():
            assert torch.equal(b, a.half().float())  # rounded to float16, nothing else
        else:
            assert torch.equal(a, b)


def test_tampered_weights_are_rejected(tmp_path):
    path = tmp_path / "w.safetensors"
    digest = save_weights(create_model("maxim-tiny-denoise", pretrained=False), path)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactIntegrityError, match="sha256"):
        load_weights(create_model("maxim-tiny-denoise", pretrained=False), path, sha256=digest)


def test_weights_of_another_architecture_are_rejected(tmp_path):
    save_weights(create_model("maxim-small-denoise", pretrained=False), tmp_path / "w.safetensors")
    with pytest.raises(WeightsError, match="does not fit"):
        load_weights(create_model("maxim-tiny-denoise", pretrained=False), tmp_path / "w.safetensors")


def test_checkpoint_cache_is_offline_verified_and_importable(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEZOO_CACHE", str(tmp_path / "cache"))
    upstream = tmp_path / "upstream.safetensors"
    save_weights(create_model("maxim-tiny-denoise", pretrained=False), upstream)
    digest = sha256_file(upstream)
    with pytest.raises(WeightsError, match="never downloads"):
        cached_checkpoint("maxim.safetensors", digest, "https://example.invalid/maxim")
    with pytest.raises(ArtifactIntegrityError):
        cached_checkpoint("maxim.safetensors", "0" * 64, "https://example.invalid/maxim", import_from=upstream)
    cached = cached_checkpoint("maxim.safetensors", digest, "https://example.invalid/maxim", import_from=upstream)
    assert sha256_file(cached) == digest
    # a later call finds it in the cache, and a corrupted cache entry is caught
    assert cached_checkpoint("maxim.safetensors", digest, "https://example.invalid/maxim") == cached
    cached.write_bytes(b"broken")
    with pytest.raises(ArtifactIntegrityError, match="delete it"):
        cached_checkpoint("maxim.safetensors", digest, "https://example.invalid/maxim")
