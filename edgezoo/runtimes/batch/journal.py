"""The batch journal: one JSON line per finished output in ``OUT/.edgezoo-batch.jsonl``.

A line is appended (and flushed to disk) only after its output was renamed into
place, so a crash loses at most the record of outputs in flight, which are then made
again. Each worker appends its own lines to a file of its own in
``OUT/.edgezoo-batch.d/`` as soon as an output lands (results reach the driver later,
Ray Data's in batches), and the driver keeps the main file; a run reads both and
merges them into the main file at its end. A line torn by the crash is ignored. An
output is skipped on a rerun when its record names the same input sha256, the same
fingerprint (artifact sha256 and the options that change pixels) and the output still
has the sha256 recorded.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterator

from edgezoo.files import atomic_write_text, sha256_file

JOURNAL_FILE = ".edgezoo-batch.jsonl"
WORKER_JOURNALS = ".edgezoo-batch.d"


def append_line(path: Path, record: dict[str, Any]) -> None:
    """Append one record to a journal file and flush it to disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("\n" + json.dumps(record, sort_keys=True) + "\n")  # after a torn line, a line of its own
        handle.flush()
        os.fsync(handle.fileno())


def output_key(out_dir: Path, output: str | os.PathLike) -> str:
    """An output's journal key: its path relative to the output folder."""
    return Path(output).resolve().relative_to(out_dir.resolve()).as_posix()


def make_record(out_dir: Path, input_path: str, output: str, input_sha256: str, output_sha256: str,
                made_with: str) -> dict[str, Any]:
    return {"output": output_key(out_dir, output), "input": str(input_path), "input_sha256": input_sha256,
            "output_sha256": output_sha256, "fingerprint": made_with}


def fingerprint(options: dict[str, Any]) -> str:
    """sha256 of the options that decide an output's pixels (artifact sha256 included)."""
    return hashlib.sha256(json.dumps(options, sort_keys=True, default=str).encode()).hexdigest()


class Journal:
    """The records of an output folder, keyed by output path relative to it."""

    def __init__(self, out_dir: str | os.PathLike) -> None:
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / JOURNAL_FILE
        self.worker_dir = self.out_dir / WORKER_JOURNALS
        self.records: dict[str, dict[str, Any]] = {}
        self.worker_files = sorted(self.worker_dir.glob("*.jsonl")) if self.worker_dir.is_dir() else []
        for record in self._read([self.path, *self.worker_files]):
            self.records[record["output"]] = record
        self._handle: Any = None

    @staticmethod
    def _read(paths: list[Path]) -> Iterator[dict[str, Any]]:
        for path in paths:
            if not path.is_file():
                continue
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # torn by a crash mid-line, or the empty line before a record
                if isinstance(record, dict) and isinstance(record.get("output"), str):
                    yield record

    def key(self, output: str | os.PathLike) -> str:
        return output_key(self.out_dir, output)

    def is_done(self, input_path: str | os.PathLike, output: str | os.PathLike, made_with: str) -> bool:
        """Whether ``output`` is recorded as made from this input's content with these
        options and is still the file that was written."""
        record = self.records.get(self.key(output))
        if not record or record.get("fingerprint") != made_with:
            return False
        output = Path(output)
        try:
            return (output.is_file() and sha256_file(input_path) == record.get("input_sha256")
                    and sha256_file(output) == record.get("output_sha256"))
        except OSError:
            return False

    def record(self, input_path: str, output: str, input_sha256: str, output_sha256: str, made_with: str) -> None:
        """Append one finished output's record, flushed to disk before returning."""
        record = make_record(self.out_dir, input_path, output, input_sha256, output_sha256, made_with)
        self.records[record["output"]] = record
        if self._handle is None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self._handle = open(self.path, "a", encoding="utf-8")
            self._handle.write("\n")  # a torn last line from a crash stays a line of its own
        self._handle.write(json.dumps(record, sort_keys=True) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def compact(self) -> None:
        """Rewrite the journal with one line per output (atomically), dropping torn and
        superseded lines."""
        self.close()
        for record in self._read(sorted(self.worker_dir.glob("*.jsonl")) if self.worker_dir.is_dir() else []):
            self.records[record["output"]] = record  # what workers recorded that never reached the driver
        if self.records:
            text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in self.records.values())
            atomic_write_text(self.path, text)
        for path in sorted(self.worker_dir.glob("*.jsonl")) if self.worker_dir.is_dir() else []:
            path.unlink()  # merged above (read at the start, or recorded by the driver since)
        if self.worker_dir.is_dir() and not any(self.worker_dir.iterdir()):
            self.worker_dir.rmdir()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
