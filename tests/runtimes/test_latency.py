"""The timers the benchmarks and `edgezoo bench` share."""

from edgezoo.runtimes.latency import time_round_robin, time_runs


def test_round_robin_rotates_the_order_and_times_every_call():
    calls: list[str] = []
    times = time_round_robin({name: (lambda n=name: calls.append(n)) for name in "abc"}, runs=3, warmup=1)
    assert calls[:3] == list("abc")  # warm-up, in order, untimed
    assert calls[3:] == list("abc") + list("bca") + list("cab")  # each callable leads one round
    assert {k: len(v) for k, v in times.items()} == {"a": 3, "b": 3, "c": 3}
    assert all(t >= 0 for v in times.values() for t in v)


def test_time_runs_skips_the_warm_up():
    calls: list[int] = []
    assert len(time_runs(lambda: calls.append(1), runs=4, warmup=2)) == 4 and len(calls) == 6


def _busy_then(states):
    """A load check that reports the given busy/free states in turn (the last repeats)."""
    from edgezoo.runtimes.profile import HostRate

    seen = list(states)

    def check():
        busy = seen.pop(0) if len(seen) > 1 else seen[0]
        return HostRate(now_gflops=10.0 if busy else 90.0, best_gflops=100.0)

    return check


def test_bench_measures_again_when_the_host_was_busy(conv_dir):
    from edgezoo.runtimes.latency import bench_export
    from edgezoo.runtimes.store import open_export_dir

    export = open_export_dir(conv_dir)
    rows = bench_export(export, backend="onnxruntime", runs=2, warmup=0, save=False, load_check=_busy_then([True, False]))
    # the first row found the host busy and was measured again; the host stayed free after that
    assert [r.tries for r in rows] == [2] + [1] * (len(rows) - 1)
    assert all(not r.loaded and r.host_load_share == 0.9 for r in rows)
    assert all(r.p90_ms is not None and r.error is None for r in rows)


def test_bench_flags_a_row_still_measured_under_load(conv_dir):
    from edgezoo.runtimes.latency import bench_export
    from edgezoo.runtimes.store import open_export_dir

    said: list[str] = []
    rows = bench_export(open_export_dir(conv_dir), backend="onnxruntime", runs=2, warmup=0, save=False,
                        load_check=_busy_then([True]), load_retries=1, progress=said.append)
    assert rows and all(r.loaded and r.tries == 2 and r.to_dict()["loaded"] for r in rows)
    assert any("measured under load" in s for s in said) and any("measuring again" in s for s in said)
