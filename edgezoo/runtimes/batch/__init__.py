"""Batch runs: many pictures through one model, on a local process pool or on Ray
Data, resumable after a crash. Torch-free, like the rest of the runtime.

    >>> from edgezoo.runtimes.batch import BatchItem, SessionSpec, run_batch
    >>> summary = run_batch(items, spec, out_dir, engine="local", workers=2)

Each worker process (or Ray actor) holds one runtime session, loaded from a
:class:`SessionSpec` that pins the plan the driver made, so every worker runs the same
artifact on the same backend. Outputs land by rename; a journal in the output folder
(``.edgezoo-batch.jsonl``) records, per output, the sha256 of its input, of the
artifact and options that made it (the fingerprint) and of the output itself; a rerun
skips an output whose record still matches all three.
"""

from edgezoo.runtimes.batch.journal import JOURNAL_FILE, Journal
from edgezoo.runtimes.batch.runner import BatchSummary, Failure, run_batch
from edgezoo.runtimes.batch.worker import BatchItem, SessionSpec, Worker

__all__ = ["JOURNAL_FILE", "BatchItem", "BatchSummary", "Failure", "Journal", "SessionSpec", "Worker", "run_batch"]
