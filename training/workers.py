"""Where Optuna's trials run: in this process, or in worker processes sharing one study.

``Tuner(workers=1, storage=None)`` (the default) runs a study's trials one after the
other in this process, in memory: the result is reproducible from the seed.

With ``workers`` > 1 the study lives in a storage every worker can reach and each worker
process runs its share of the trials; TPE then sees the trials of the other workers as
they complete, and the median pruner compares against all of them. The storage is

- an RDB URL (``postgresql+psycopg2://user@host:5432/db``): a team's shared database. The
  studies stay there (named ``<family>-<id>``, the id logged on the MLflow run), so they
  can be opened later with ``optuna.load_study`` or optuna-dashboard. PostgreSQL serves any
  number of workers; Optuna advises against SQLite for more than one (its locks time out);
- a journal file (``journal:/path/file.log``), Optuna's file storage for processes on one
  machine; with ``workers`` > 1 and no storage a throw-away journal file is used.

Parallel trials are not reproducible (which worker draws which trial depends on timing);
the seeds still make each worker's sampler and every model fit deterministic. Workers are
spawned, not forked (XGBoost's OpenMP pool does not survive a fork), and each fits with
``threads // workers`` XGBoost threads so the machine is not oversubscribed.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import tempfile
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from multiprocessing import get_context
from typing import TYPE_CHECKING

import optuna
from optuna.storages.journal import JournalFileBackend

from training.objective import FIRST_TRIAL, Objective, make_pruner, make_sampler

if TYPE_CHECKING:
    import numpy as np

JOURNAL_PREFIX = "journal:"
WARM_S = 0.5  # each worker holds its warm-up task this long (once per training)


class StorageError(ValueError):
    """An Optuna storage that cannot be used, saying which and what would be right."""


def redact(url: str) -> str:
    """The URL without its password (in the user part or a query), for messages and logs.

    >>> redact("postgresql://ann:secret@db:5432/cs")
    'postgresql://ann:***@db:5432/cs'
    >>> redact("postgresql://db/cs?password=secret&sslmode=require")
    'postgresql://db/cs?password=***&sslmode=require'
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        shown = re.sub(r"(//[^:/@]*:)[^@/]*@", r"\1***@", url)
    return re.sub(r"(password=)[^&]*", r"\1***", shown)


@functools.lru_cache(maxsize=16)
def open_storage(url: str) -> optuna.storages.BaseStorage:
    """The Optuna storage named by ``url`` (an RDB URL or ``journal:PATH``).

    Opened once per process and URL: every study of a training (and every share a worker
    runs) reuses one database engine and its connection pool instead of opening its own.
    """
    if url.startswith(JOURNAL_PREFIX):
        path = url[len(JOURNAL_PREFIX) :]
        if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            raise StorageError(
                f"cannot open the Optuna journal {path}: its folder does not exist; give "
                "journal:/an/existing/folder/file.log"
            )
        return optuna.storages.JournalStorage(JournalFileBackend(path))
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
    except Exception as exc:  # SQLAlchemy's errors have no common public base worth naming
        raise StorageError(
            f"cannot open the Optuna storage {redact(url)}: {type(exc).__name__}: {exc}. "
            "Give a reachable database URL (postgresql+psycopg2://USER@HOST:PORT/DB) or "
            "journal:/path/to/file.log"
        ) from exc


class Tuner:
    """Runs a study's trials here (``workers=1``) or in ``workers`` processes.

    Use it as a context manager around a whole training so that the worker processes are
    started once and stopped at the end; ``threads`` is the machine's XGBoost thread budget
    (0: every core), shared out between the workers.
    """

    def __init__(self, workers: int = 1, storage: str | None = None, threads: int = 0) -> None:
        if workers < 1:
            raise ValueError(f"tuning workers must be >= 1, got {workers}")
        if storage is not None and workers > 1 and storage.startswith("sqlite"):
            raise StorageError(
                f"{workers} workers cannot share the SQLite storage {storage}: SQLite's "
                "locks time out under parallel writers. Use PostgreSQL "
                "(postgresql+psycopg2://USER@HOST:PORT/DB) or journal:/path/to/file.log"
            )
        self.workers = workers
        self.storage = storage
        self.threads = threads
        self._pool: ProcessPoolExecutor | None = None
        self._scratch: str | None = None

    @property
    def keeps_studies(self) -> bool:
        """True when the studies outlive the training (the user gave a storage)."""
        return self.storage is not None

    def check(self) -> None:
        """Open the storage once, so that a wrong URL fails before any expensive work."""
        if self.storage is not None:
            open_storage(self.storage)

    def __enter__(self) -> Tuner:
        self.check()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def _url(self) -> str | None:
        if self.storage is not None or self.workers == 1:
            return self.storage
        if self._scratch is None:
            self._scratch = tempfile.mkdtemp(prefix="clonescout-optuna-")
        return f"{JOURNAL_PREFIX}{os.path.join(self._scratch, 'studies.log')}"

    def _executor(self) -> ProcessPoolExecutor:
        """The worker processes, started and warmed (imports done) on first use.

        Warm workers are idle when a study's shares arrive, so each share usually goes to its
        own process instead of a fast first worker taking two while another still imports (a
        busy worker never takes a second share; only a worker slower to start than the
        warm-up can miss the first study).
        """
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=get_context("spawn"))
            list(self._pool.map(_warm, [WARM_S] * self.workers))
        return self._pool

    @property
    def threads_per_worker(self) -> int:
        return max(1, (self.threads or os.cpu_count() or 1) // self.workers)

    def run(
        self, name: str, objective: Objective, trials: int, seed: int
    ) -> tuple[optuna.Study, dict[int, np.ndarray]]:
        """The finished study of ``trials`` trials and each completed trial's predictions."""
        url = self._url()
        storage = None if url is None else open_storage(url)
        study = optuna.create_study(
            storage=storage,
            study_name=f"{name}-{uuid.uuid4().hex[:12]}",
            direction="minimize",
            sampler=make_sampler(seed),
            pruner=make_pruner(),
        )
        study.enqueue_trial(FIRST_TRIAL)
        if self.workers == 1:
            return study, replace(objective, threads=self.threads).optimize(study, trials)
        assert url is not None and storage is not None
        pool = self._executor()
        shares = [trials // self.workers + (i < trials % self.workers) for i in range(self.workers)]
        job = replace(objective, threads=self.threads_per_worker)
        futures = [
            pool.submit(_work, url, study.study_name, job, n, seed + i)
            for i, n in enumerate(shares)
            if n
        ]
        held_out: dict[int, np.ndarray] = {}
        for f in futures:
            held_out.update(f.result())
        return optuna.load_study(study_name=study.study_name, storage=storage), held_out


def _warm(seconds: float) -> int:
    """Import what a share needs, then hold the process briefly so the others warm too."""
    import time

    import training.objective  # noqa: F401  (the import is the point)

    time.sleep(seconds)
    return os.getpid()


def _work(
    url: str, study_name: str, objective: Objective, n_trials: int, seed: int
) -> dict[int, np.ndarray]:
    """One worker's share of a study: load it from the storage and run ``n_trials``."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(
        study_name=study_name,
        storage=open_storage(url),
        # constant liar: a running trial counts as a poor one, so that parallel workers do
        # not all sample next to the same promising point (Optuna's advice for workers)
        sampler=optuna.samplers.TPESampler(seed=seed, constant_liar=True),
        pruner=make_pruner(),
    )
    return objective.optimize(study, n_trials)


SERIAL = Tuner()
