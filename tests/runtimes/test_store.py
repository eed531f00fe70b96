"""Where artifacts are found for a name, a task or a folder."""

from pathlib import Path

import pytest

from edgezoo.errors import ManifestError, UnknownModelError
from edgezoo.runtimes import artifact_roots, default_artifact_dir, find_exports, resolve
from synthetic import artifact, manifest


def export(root: Path, name: str, task: str = "denoise") -> Path:
    m = manifest(name, 30.0, [artifact("onnx")])
    m.task = task
    m.save(root / name / "manifest.yaml")
    return root / name


def test_default_dir_is_the_cache_unless_the_env_names_a_root(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEZOO_CACHE", str(tmp_path / "c"))
    assert default_artifact_dir("m") == tmp_path / "c" / "artifacts" / "m"
    monkeypatch.setenv("EDGEZOO_ARTIFACTS", f"{tmp_path / 'a'}:{tmp_path / 'b'}")
    assert default_artifact_dir("m") == tmp_path / "a" / "m"
    assert artifact_roots([tmp_path / "s"]) == [tmp_path / "s", tmp_path / "a", tmp_path / "b", tmp_path / "c" / "artifacts"]


def test_what_export_writes_by_default_is_what_load_finds(tmp_path):
    export(default_artifact_dir("maxim-x-denoise").parent, "maxim-x-denoise")
    found = resolve("maxim-x-denoise")
    assert [e.path for e in found] == [default_artifact_dir("maxim-x-denoise")]


def test_search_order_env_before_cache_and_explicit_before_env(tmp_path, monkeypatch):
    cache = default_artifact_dir("m").parent
    export(cache, "m")
    export(tmp_path / "env", "m")
    export(tmp_path / "mine", "m")
    monkeypatch.setenv("EDGEZOO_ARTIFACTS", str(tmp_path / "env"))
    assert resolve("m")[0].path == tmp_path / "env" / "m"
    assert resolve("m", search=[tmp_path / "mine"])[0].path == tmp_path / "mine" / "m"
    assert len(find_exports("m", search=[tmp_path / "mine"])) == 3


def test_a_task_name_gives_every_exported_model_of_the_task(tmp_path):
    root = default_artifact_dir("x").parent
    export(root, "tiny", "denoise")
    export(root, "small", "denoise")
    export(root, "other", "deblur")
    assert sorted(e.name for e in resolve("denoise")) == ["small", "tiny"]


def test_a_folder_is_its_own_export(tmp_path):
    folder = export(tmp_path, "m")
    assert resolve(folder)[0].name == "m"
    assert resolve(folder / "manifest.yaml")[0].name == "m"


def test_unknown_name_is_a_usage_error_with_the_fix():
    with pytest.raises(UnknownModelError) as info:
        resolve("maxim-nothing")
    assert "`edgezoo list`" in str(info.value) and "edgezoo export maxim-nothing" not in str(info.value)
    assert info.value.exit_code == 2


def test_a_near_miss_gets_did_you_mean_and_a_real_command(monkeypatch):
    monkeypatch.setattr("edgezoo.runtimes.store.packaged_tasks", lambda: {"maxim-tiny-denoise": "denoise"})
    with pytest.raises(UnknownModelError, match=r"did you mean maxim-tiny-denoise\? It has no exports yet: "
                                                r"run `edgezoo export maxim-tiny-denoise --format all`"):
        resolve("maxim-tiny-denoize")
    with pytest.raises(UnknownModelError, match=r"did you mean denoise\?.*`edgezoo export maxim-tiny-denoise"):
        resolve("denoize")


def test_a_shipped_model_without_exports_says_how_to_export(monkeypatch):
    monkeypatch.setattr("edgezoo.runtimes.store.packaged_tasks", lambda: {"maxim-tiny-denoise": "denoise"})
    with pytest.raises(ManifestError, match=r"no exported artifacts for maxim-tiny-denoise: run `edgezoo export maxim-tiny-denoise --format all`"):
        resolve("maxim-tiny-denoise")
    with pytest.raises(ManifestError, match="no exported artifacts for task denoise"):
        resolve("denoise")
