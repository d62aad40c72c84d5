"""A campaign dropped on the campaign page, scored in the background, its files kept on disk.

The page cannot wait on one long request and show progress, so an upload becomes a *job*:
``POST /ui/api/jobs`` checks the upload (:func:`serving.upload.check_upload`: size, kind of
file, mapping name), saves it and answers at once with the job's id; the scoring runs on a
thread of this worker and writes its state to ``status.json`` as it goes (reading, scoring
``done``/``total`` runs, writing the report, done or failed), which the page polls.

Every job lives in its own folder under the jobs root, so any worker process of the service
can answer for it (BentoML spreads requests over the workers): nothing of a job is held in
one process's memory. The scoring is exactly ``clonescout score`` then ``clonescout
report`` (:func:`serving.batch.pipeline.score_data`, :func:`serving.report.write_report`):
the same files, the same rejects with file, line, column and rule, and every run counted
(runs in = scored + rejected, or the job fails). A structural problem (a zip without a
campaign folder, a table without its key columns) fails the job with every violation
listed; nothing is ever half-written: the files appear only when the job is done.

Job ids are random (:func:`secrets.token_hex`), checked against a strict pattern before any
path is built from them. Jobs older than :data:`KEEP_HOURS` are removed when a new one
starts.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import secrets
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

log = logging.getLogger("clonescout.serving")

JOBS_ENV = "CLONESCOUT_UI_JOBS"
KEEP_HOURS = 24.0
ID_PATTERN = re.compile(r"^[0-9a-f]{24}$")
SCORES = "scores.csv"  # the four files of `clonescout score --out scores.csv`, and the report
FILES = {
    "scores": SCORES,
    "clones": "scores.clones.csv",
    "rejects": "scores.rejects.csv",
    "summary": "scores.summary.json",
    "report": "report.html",
}
CAMPAIGN = "campaign"  # the campaign's clones and runs tables, as read (for a clone's what-if)
# the bar's steps; a chunk costs ~0.7 s beyond its runs (bench_web: 320 runs in 4 chunks took
# 4.1 s on the page, in one 2.0 s), so small campaigns stay whole
PROGRESS_STEPS, MIN_CHUNK_RUNS = 10, 1000

_EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ui-job")


class JobError(ValueError):
    """A job id that is malformed or names no job (the page gets a 404)."""


def jobs_root() -> Path:
    """Where jobs are kept: ``CLONESCOUT_UI_JOBS``, or a folder in the system's temp dir."""
    root = Path(os.environ.get(JOBS_ENV) or Path(tempfile.gettempdir()) / "clonescout-ui-jobs")
    root.mkdir(parents=True, exist_ok=True)
    return root


@dataclass(frozen=True)
class Job:
    """One uploaded campaign and the files its scoring writes."""

    id: str
    folder: Path

    @classmethod
    def open(cls, job_id: str, root: Path | None = None) -> Job:
        """The job ``job_id``; :class:`JobError` if the id is malformed or unknown."""
        if not ID_PATTERN.match(job_id or ""):
            raise JobError(f"{job_id!r} is not a job id (24 hexadecimal characters)")
        folder = (root or jobs_root()) / job_id
        if not (folder / "status.json").is_file():
            raise JobError(f"no job {job_id} (jobs are kept {KEEP_HOURS:g} hours)")
        return cls(job_id, folder)

    @classmethod
    def create(cls, root: Path | None = None) -> Job:
        root = root or jobs_root()
        _sweep(root)
        job_id = secrets.token_hex(12)
        folder = root / job_id
        folder.mkdir()
        job = cls(job_id, folder)
        job.write_status("queued")
        return job

    def file(self, key: str) -> Path:
        """One of the job's output files by its key in :data:`FILES`."""
        return self.folder / "out" / FILES[key]

    def status(self) -> dict[str, Any]:
        return json.loads((self.folder / "status.json").read_text())

    def write_status(self, state: str, **extra: Any) -> None:
        """Replace ``status.json`` atomically (a reader never sees half a file)."""
        body = {"job": self.id, "state": state, "updated": time.time(), **extra}
        tmp = self.folder / "status.json.tmp"
        tmp.write_text(json.dumps(body, allow_nan=False))
        tmp.replace(self.folder / "status.json")


def _sweep(root: Path) -> None:
    """Remove jobs older than :data:`KEEP_HOURS` (best effort: another worker may race)."""
    cutoff = time.time() - KEEP_HOURS * 3600
    for folder in root.iterdir():
        try:
            if ID_PATTERN.match(folder.name) and folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            continue


def submit(job: Job, upload: Path, mapping: str | None, engine: Any) -> None:
    """Score the saved ``upload`` on this worker's job thread (one job at a time)."""
    _EXECUTOR.submit(run, job, upload, mapping, engine)


def run(job: Job, upload: Path, mapping: str | None, engine: Any) -> None:
    """Read, score and report one upload; every outcome ends in ``status.json``."""
    from serving.guard import shown_value
    from serving.upload import UploadError

    try:
        _run(job, upload, mapping, engine)
    except UploadError as exc:
        job.write_status(
            "failed",
            error=str(exc),
            problems=[
                {"path": exc.path, "value": shown_value(exc.value), "expected": exc.expected}
            ],
        )
    except Exception as exc:  # the page says what failed; the trace stays in the server log
        log.error("ui job %s failed: %s\n%s", job.id, exc, traceback.format_exc())
        job.write_status("failed", error=f"scoring failed ({type(exc).__name__}: {exc})")


def _run(job: Job, upload: Path, mapping: str | None, engine: Any) -> None:
    from serving.batch.pipeline import score_data
    from serving.batch.read import file_sha256
    from serving.batch.write import ScoreOutputs
    from serving.report import write_report
    from serving.upload import read_campaign

    job.write_status("reading", file=upload.name)
    work = job.folder / "work"
    data = read_campaign(upload, mapping, work)
    _keep_tables(data, job.folder / CAMPAIGN)
    total = int(data.n_runs_in)
    job.write_status("scoring", done=0, total=total)
    out = job.folder / "out"
    out.mkdir(exist_ok=True)
    outputs = ScoreOutputs.for_out(out / SCORES)
    result = score_data(
        data,
        outputs,
        served_for_jobs(engine),
        engine.ranking,
        chunk_runs=progress_chunk(total),
        progress=_progress(job),
        input_hashes={upload.name: file_sha256(upload)},
    )
    shutil.rmtree(work, ignore_errors=True)
    job.write_status("report", done=total, total=total)
    write_report(outputs.runs, job.file("report"))
    s = result.summary
    job.write_status(
        "done",
        done=total,
        total=total,
        runs_in=s["runs_in"],
        scored=s["scored"],
        rejected=s["rejected"],
        files=sorted(k for k in FILES if job.file(k).exists()),
    )


def progress_chunk(total: int) -> int:
    """Runs per chunk: about ten progress steps, none under ``MIN_CHUNK_RUNS`` runs.

    Chunks change nothing in the files (``clonescout score`` gives the same at any chunk
    size); they only let the bar move.

    >>> progress_chunk(320), progress_chunk(50_000)
    (1000, 5000)
    """
    return max(MIN_CHUNK_RUNS, math.ceil(total / PROGRESS_STEPS))


def _progress(job: Job) -> Callable[[int, int], None]:
    def say(done: int, total: int) -> None:
        job.write_status("scoring", done=int(done), total=int(total))

    return say


def _keep_tables(data: Any, folder: Path) -> None:
    """The clones, runs (and outcomes) tables as read, for the clone page's what-if."""
    folder.mkdir(exist_ok=True)
    data.clones.to_parquet(folder / "clones.parquet", index=False)
    data.runs.to_parquet(folder / "runs.parquet", index=False)
    if data.outcomes is not None:
        data.outcomes.to_parquet(folder / "outcomes.parquet", index=False)


def served_for_jobs(engine: Any) -> Any:
    """The engine's model as ``clonescout score`` serves it, logging to the service's log.

    The job has its own counters (:class:`serving.predlog.LogSink`) on the same log, so
    the API's thread and the job's never count into one object.
    """
    from serving.batch.score import ServedBundle
    from serving.predlog import LogSink

    tally = engine.log_tally
    sink = LogSink(tally.log, tally.required, tally.open_error, tally.url, on_log=tally.on_log)
    s = engine.served
    return ServedBundle(engine.bundle, s.name, s.version, s.uri, "all", None, sink, source="ui")


def campaign_tables(job: Job) -> dict[str, pd.DataFrame | None]:
    """The job's clones, runs and outcomes tables as read (outcomes None when absent)."""
    folder = job.folder / CAMPAIGN
    if not (folder / "runs.parquet").is_file():
        raise JobError(f"job {job.id} has no campaign tables yet (state {job.status()['state']})")
    outcomes = folder / "outcomes.parquet"
    return {
        "clones": pd.read_parquet(folder / "clones.parquet"),
        "runs": pd.read_parquet(folder / "runs.parquet"),
        "outcomes": pd.read_parquet(outcomes) if outcomes.is_file() else None,
    }
