"""Device profile and inventory probing on this host."""

from edgezoo.runtimes import Inventory, device_profile, probe_inventory, target
from edgezoo.runtimes import profile as profile_module
from edgezoo.runtimes.backends import all_backends
from edgezoo.runtimes.backends.base import Backend


def test_profile_is_stable_and_names_cpu_cores_and_backends():
    a = device_profile()
    b = device_profile(refresh=True)
    assert a.id == b.id and a.info == b.info
    assert {"cpu_model", "cpu_flags", "cores", "backends"} <= set(a.info)
    assert a.id.endswith(a.id.rsplit("-", 1)[1]) and f"-{a.info['cores']}c-" in a.id


def test_profile_changes_with_backend_versions(monkeypatch):
    before = device_profile(refresh=True).id
    monkeypatch.setattr(profile_module, "backend_versions", lambda: {"onnxruntime": "0.0.1"})
    try:
        assert device_profile(refresh=True).id != before
    finally:
        monkeypatch.undo()
        device_profile(refresh=True)


def test_probe_lists_installed_backends_and_explains_absent_ones():
    inventory = probe_inventory(refresh=True)
    installed = {b.name for b in all_backends() if b.available()}
    assert set(inventory.backends()) <= installed
    for name, why in inventory.absent.items():
        assert name not in installed and why
    if "onnxruntime" in installed:
        assert any(t.key == "onnxruntime:cpu" for t in inventory.targets)


class _Broken(Backend):
    name, formats, package, install_hint = "broken", ("onnx",), "json", "-"

    def devices(self):
        raise RuntimeError("driver crashed\nsecond line")

    def load(self, *a, **k):
        raise AssertionError


class _Absent(_Broken):
    name, package = "absent", "no_such_package_edgezoo"


def test_a_backend_that_fails_to_start_is_recorded_not_raised():
    inventory = probe_inventory([_Broken(), _Absent()])
    assert inventory.targets == []
    assert inventory.failures == {"broken": "RuntimeError: driver crashed"}
    assert "absent" in inventory.absent


def test_simulated_inventories_select_by_format():
    inventory = Inventory([target("openvino", "npu", "NPU"), target("litert", "cpu")])
    assert [t.key for t in inventory.for_format("onnx")] == ["openvino:NPU"]
    assert [t.key for t in inventory.for_format("tflite")] == ["litert:cpu"]
    assert inventory.to_dict()["targets"][0]["kind"] == "npu"


def test_the_host_rate_for_estimates_is_the_best_seen_on_the_profile(tmp_path, monkeypatch):
    """A matmul timing taken under load reads low; estimates use the best rate this
    profile ever measured (kept in the cache), so they do not swing with the load."""
    import json

    from edgezoo.runtimes import profile

    monkeypatch.setenv("EDGEZOO_CACHE", str(tmp_path))
    rates = iter([50.0, 200.0, 20.0])
    monkeypatch.setattr(profile, "matmul_peak_gflops", lambda: next(rates))
    assert profile.host_rate_gflops("p-1") == 50.0
    assert profile.host_rate_gflops("p-1") == 200.0
    assert profile.host_rate_gflops("p-1") == 200.0  # a loaded 20 GFLOP/s does not lower it
    assert json.loads((tmp_path / profile.RATE_FILE).read_text()) == {"p-1": 200.0}
    monkeypatch.setattr(profile, "matmul_peak_gflops", lambda: 30.0)
    assert profile.host_rate_gflops("p-2") == 30.0  # another profile keeps its own
