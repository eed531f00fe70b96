"""`edgezoo batch` on the local process pool: the same pixels as `edgezoo run`, a rerun
that skips what is done (and only that), bad files reported with the rest processed,
a resume after SIGKILL, and one batch per output folder."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from batch_pictures import make_pictures

from edgezoo.cli import main
from edgezoo.runtimes.batch import JOURNAL_FILE

ROOT = Path(__file__).resolve().parents[2]


def edgezoo(*args) -> int:
    return main([str(a) for a in args])


def outputs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if not p.name.startswith(".")}


def test_batch_writes_what_run_writes_and_a_rerun_skips_everything(conv_dir, tmp_path, capsys):
    pictures = make_pictures(tmp_path / "in", 5)
    assert edgezoo("run", conv_dir, tmp_path / "in", "-o", tmp_path / "by-run") == 0
    assert edgezoo("batch", conv_dir, tmp_path / "in", "-o", tmp_path / "by-batch", "--workers", 2) == 0
    assert outputs(tmp_path / "by-batch") == outputs(tmp_path / "by-run")
    assert len(outputs(tmp_path / "by-batch")) == len(pictures)
    capsys.readouterr()
    assert edgezoo("batch", conv_dir, tmp_path / "in", "-o", tmp_path / "by-batch", "--workers", 2, "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["images"], summary["done"], summary["skipped"], summary["failed"]) == (5, 0, 5, 0)


def test_a_changed_input_or_a_damaged_output_is_made_again(conv_dir, tmp_path, capsys):
    pictures = make_pictures(tmp_path / "in", 4)
    out = tmp_path / "out"
    assert edgezoo("batch", conv_dir, tmp_path / "in", "-o", out, "--workers", 1) == 0
    make_pictures(tmp_path / "other", 1, seed=9)[0].replace(pictures[0])  # new content, same name
    (out / pictures[1].name).write_bytes(b"damaged")
    capsys.readouterr()
    assert edgezoo("batch", conv_dir, tmp_path / "in", "-o", out, "--workers", 1, "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["done"], summary["skipped"]) == (2, 2)
    journal = [json.loads(line) for line in (out / JOURNAL_FILE).read_text().splitlines()]
    assert sorted(r["output"] for r in journal) == sorted(p.name for p in pictures)


def test_bad_files_are_reported_and_the_rest_processed(conv_dir, tmp_path, capsys):
    make_pictures(tmp_path / "in", 3)
    (tmp_path / "in" / "empty.png").write_bytes(b"")
    (tmp_path / "in" / "text.jpg").write_text("not a picture")
    code = edgezoo("batch", conv_dir, tmp_path / "in", "-o", tmp_path / "out", "--workers", 2)
    captured = capsys.readouterr()
    assert code == 2
    assert sorted(outputs(tmp_path / "out")) == ["photo000.png", "photo001.png", "photo002.png"]
    failed = [line for line in captured.out.splitlines() if line.strip().startswith("failed:")]
    assert len(failed) == 2 and all("is not a readable image" in line for line in failed), captured.out
    assert "5 picture(s): 3 made, 0 skipped (already done), 2 failed" in captured.out
    assert "Traceback" not in captured.err


def test_bad_options_are_one_line_exit_2(conv_dir, tmp_path, capsys):
    make_pictures(tmp_path / "in", 1)
    (tmp_path / "file").write_text("x")
    for args in (("-o", tmp_path / "o.png"), ("-o", tmp_path / "file"), ("-o", tmp_path / "o", "--address", "x:1"),
                 ("-o", tmp_path / "o", "--workers", 0)):
        assert edgezoo("batch", conv_dir, tmp_path / "in", *args) == 2, args
    assert edgezoo("batch", "no-such-model", tmp_path / "in", "-o", tmp_path / "o") == 2
    assert not (tmp_path / "o").exists()


def test_a_second_batch_into_the_same_folder_is_refused(conv_dir, tmp_path, capsys):
    from edgezoo.files import folder_lock
    from edgezoo.runtimes.batch.runner import LOCK_FILE

    make_pictures(tmp_path / "in", 1)
    out = tmp_path / "out"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from edgezoo.files import folder_lock\n"
        f"with folder_lock({str(out)!r}, True, {LOCK_FILE!r}):\n    print('held', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert holder.stdout.readline().strip() == "held"
        assert edgezoo("batch", conv_dir, tmp_path / "in", "-o", out) == 2
        assert "another batch is writing into" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()
    with folder_lock(out, True, LOCK_FILE, wait=False):  # released by the kill
        pass


def test_a_batch_killed_midway_resumes_and_ends_as_a_clean_run(conv_dir, tmp_path, capsys):
    make_pictures(tmp_path / "in", 24)
    assert edgezoo("batch", conv_dir, tmp_path / "in", "-o", tmp_path / "clean", "--workers", 2) == 0
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # its own process group, so the kill takes the pool's workers too, as a crash of the machine would
    job = subprocess.Popen([sys.executable, "-m", "edgezoo", "batch", str(conv_dir), str(tmp_path / "in"), "-o",
                            str(out), "--workers", "2"], env=env, start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(outputs(out) if out.is_dir() else {}) < 3 and job.poll() is None:
        time.sleep(0.02)
    os.killpg(job.pid, signal.SIGKILL)
    job.wait()
    before = outputs(out)
    if len(before) == 24:
        pytest.skip("the batch finished before it could be killed")
    capsys.readouterr()
    assert edgezoo("batch", conv_dir, tmp_path / "in", "-o", out, "--workers", 2, "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["skipped"] >= 1 and summary["skipped"] + summary["done"] == 24, summary
    assert outputs(out) == outputs(tmp_path / "clean")
    assert not list(out.rglob("*.partial")) and not [p for p in out.iterdir() if p.name.startswith(".")
                                                      and p.name not in (JOURNAL_FILE, ".edgezoo-batch.lock")]


def test_an_output_a_worker_journalled_is_skipped_though_the_driver_never_heard_of_it(conv_dir, tmp_path):
    """Results reach the driver late (Ray Data hands them over in batches): a worker's
    own journal line is enough for a rerun to skip the output."""
    import dataclasses

    from edgezoo import runtimes
    from edgezoo.runtimes.batch import BatchItem, SessionSpec, Worker, run_batch
    from edgezoo.runtimes.batch.journal import WORKER_JOURNALS
    from edgezoo.runtimes.batch.runner import options_fingerprint

    pictures = make_pictures(tmp_path / "in", 3)
    out = tmp_path / "out"
    option = runtimes.plan(runtimes.resolve(conv_dir), None).chosen
    spec = SessionSpec(export_dir=str(conv_dir), artifact=option.artifact.file, backend=option.backend,
                       kind=option.kind, precision="fp32", label=option.label, threads=1)
    items = [BatchItem(i, str(p), str(out / p.name)) for i, p in enumerate(pictures)]
    worker = Worker(dataclasses.replace(spec, out_dir=str(out.resolve()),
                                        made_with=options_fingerprint(spec, option.artifact.sha256)))
    assert worker.process(items[0])["ok"]  # as if the driver was killed before this result reached it
    assert list((out / WORKER_JOURNALS).glob("*.jsonl"))
    summary = run_batch(items, spec, out, option.artifact.sha256, workers=1)
    assert (summary.skipped, summary.done) == (1, 2)
    assert not (out / WORKER_JOURNALS).exists()  # merged into the main journal
    assert len((out / JOURNAL_FILE).read_text().splitlines()) == 3
