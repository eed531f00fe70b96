"""The batch journal: one JSON line per finished output in ``OUT/.edgezoo-batch.jsonl``.

A line is appended (and flushed to disk) only after its output was renamed into
place, so a crash loses at most the record of outputs in flight, which are then made
again. A line torn by the crash is ignored. An output is skipped on a rerun when its
record names the same input sha256, the same fingerprint (artifact sha256 and the
options that change pixels) and the output still has the sha256 recorded.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from edgezoo.files import atomic_write_text, sha256_file

JOURNAL_FILE = ".edgezoo-batch.jsonl"


def fingerprint(options: dict[str, Any]) -> str:
    """sha256 of the options that decide an output's pixels (artifact sha256 included)."""
    return hashlib.sha256(json.dumps(options, sort_keys=True, default=str).encode()).hexdigest()


class Journal:
    """The records of an output folder, keyed by output path relative to it."""

    def __init__(self, out_dir: str | os.PathLike) -> None:
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / JOURNAL_FILE
        self.records: dict[str, dict[str, Any]] = {}
        if self.path.is_file():
            for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # torn by a crash mid-line
                if isinstance(record, dict) and isinstance(record.get("output"), str):
                    self.records[record["output"]] = record
        self._handle: Any = None

    def key(self, output: str | os.PathLike) -> str:
        return Path(output).resolve().relative_to(self.out_dir.resolve()).as_posix()

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
        record = {"output": self.key(output), "input": str(input_path), "input_sha256": input_sha256,
                  "output_sha256": output_sha256, "fingerprint": made_with}
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
        if self.records:
            text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in self.records.values())
            atomic_write_text(self.path, text)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
