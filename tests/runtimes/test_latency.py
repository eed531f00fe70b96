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
