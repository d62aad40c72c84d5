"""The prediction log: every prediction clonescout makes, appended, never rewritten.

Each scored run becomes one row: when, from where (``cli``, ``api``, ``api_campaign``,
``spark``), which model (name, version, training-data hash), which run (run, clone,
campaign, the fingerprint of its inputs) and what was predicted (every target with its
intervals, every risk, the flag and the applicability verdict, as one JSON object whose
keys are the scores file's columns). Outcomes that come back later go to the ``outcomes``
table beside it (:mod:`serving.outcomes` joins them to these rows); nothing in either is
ever updated or deleted.

**Prediction ids.** A prediction's id is a hash of the model (name and version), the run id
and the fingerprint of the run's inputs (:mod:`models.fingerprint`). Scoring the same inputs
with the same model again gives the same id, so a scores file stays byte-identical when it
is written again; each scoring is still its own row, with its own time. The run id is part
of the id so that two runs with the same content (a replicate copied twice) stay apart.

**Where.** ``CLONESCOUT_PREDICTION_LOG`` is an SQLAlchemy URL, or ``off``. By default the log
lives beside the MLflow store: ``predictions.db`` next to a SQLite ``mlflow.db``, or a
``clonescout_log`` schema on the PostgreSQL database of a team's tracking server.
SQLite runs in WAL mode with a busy timeout, so API workers and a CLI ``score`` can append
at once; a committed row survives the process being killed (WAL, synchronous=NORMAL).

A write either commits all of a call's rows or none: the caller decides what a failure
means (the API counts it, and refuses to answer when the site says every answer must be
logged). Writing the log never touches a scores file or an answer.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine as SqlEngine

LOG_ENV = "CLONESCOUT_PREDICTION_LOG"
REQUIRED_ENV = "CLONESCOUT_PREDICTION_LOG_REQUIRED"  # on: no answer that is not logged
OFF = "off"
SCHEMA = "clonescout_log"  # on PostgreSQL: beside MLflow's and Optuna's tables
SQLITE_NAME = "predictions.db"
BUSY_TIMEOUT_S = 30.0
IN_LIST = 500  # values per IN (...) of a lookup query
SOURCES = ("cli", "api", "api_campaign", "spark", "ui")
# the ids a row takes per run (serving.predlog.rows' ``ids``)
ID_KEYS = ("prediction_id", "run_id", "clone_id", "campaign_id", "input_fingerprint")
# what a prediction row keeps of the output columns besides the numbers
TEXT_FIELDS = ("flag", "applicability", "seen_in_training")
# columns of the scores table that are not a prediction (ids, provenance, text, reasons)
NOT_PREDICTED = frozenset(
    {
        "run_id",
        "clone_id",
        "campaign_id",
        "model_version",
        "model_id",
        "training_data_hash",
        "prediction_id",
        "input_fingerprint",
        "titer_g_l",
        "titer_day",
    }
)


class LogError(RuntimeError):
    """The log could not be opened or written; nothing of the failed call was kept."""


def prediction_id(model_name: str, version: str, run_id: str, fingerprint: str) -> str:
    """32 hex digits naming one run's prediction by one model version.

    >>> prediction_id("clonescout", "3", "R1", "00ff00ff00ff00ff")
    'd121bf2a8c1873850abb9b8dfabe9801'
    """
    return short_hash(model_name, str(version), str(run_id), fingerprint)


def short_hash(*parts: str) -> str:
    """32 hex digits of SHA-256 over ``parts`` joined by a unit separator (ids and hashes)."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def default_url(tracking_uri: str, cwd: Path | None = None) -> str:
    """Where the log lives by default, given MLflow's tracking URI.

    >>> default_url("sqlite:////srv/mlflow/mlflow.db")
    'sqlite:////srv/mlflow/predictions.db'
    >>> default_url("postgresql://u@db/mlflow")
    'postgresql://u@db/mlflow'
    >>> default_url("http://tracking:5000", Path("/work"))
    'sqlite:////work/predictions.db'
    """
    if tracking_uri.startswith("sqlite:///"):
        db = Path(tracking_uri[len("sqlite:///") :])
        return f"sqlite:///{db.parent / SQLITE_NAME}"
    if tracking_uri.startswith(("postgresql", "mysql")):
        return tracking_uri  # its own schema there (PostgreSQL) or tables beside (MySQL)
    return f"sqlite:///{(cwd or Path.cwd()) / SQLITE_NAME}"


def configured_url(tracking_uri: str, env: Mapping[str, str] | None = None) -> str | None:
    """``CLONESCOUT_PREDICTION_LOG`` if set (None for ``off``), else :func:`default_url`."""
    env = os.environ if env is None else env
    value = env.get(LOG_ENV, "").strip()
    if value.lower() == OFF:
        return None
    return value or default_url(tracking_uri)


def required(env: Mapping[str, str] | None = None) -> bool:
    """Whether every prediction must be logged (``CLONESCOUT_PREDICTION_LOG_REQUIRED``)."""
    env = os.environ if env is None else env
    value = env.get(REQUIRED_ENV, "off").strip().lower()
    if value in ("1", "on", "true", "yes"):
        return True
    if value in ("0", "off", "false", "no", ""):
        return False
    raise ValueError(f"{REQUIRED_ENV}={value!r}: give 'on' or 'off'")


def _tables(schema: str | None) -> tuple[sa.MetaData, sa.Table, sa.Table]:
    md = sa.MetaData(schema=schema)
    predictions = sa.Table(
        "predictions",
        md,
        sa.Column("event_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("prediction_id", sa.String(32), nullable=False, index=True),
        sa.Column("logged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("model_name", sa.String(256), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("training_data_hash", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(256), nullable=False, index=True),
        sa.Column("clone_id", sa.String(256), nullable=False),
        sa.Column("campaign_id", sa.String(256), nullable=False, index=True),
        sa.Column("input_fingerprint", sa.String(16), nullable=False),
        sa.Column("flag", sa.String(16), nullable=False),
        sa.Column("applicability", sa.String(16), nullable=False),
        sa.Column("result", sa.Text, nullable=False),
    )
    outcomes = sa.Table(
        "outcomes",
        md,
        sa.Column("event_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("run_id", sa.String(256), nullable=False, index=True),
        sa.Column("prediction_id", sa.String(32), nullable=True, index=True),
        sa.Column("origin", sa.String(512), nullable=False),  # file and line it came from
        sa.Column("content_hash", sa.String(32), nullable=False, index=True),
        sa.Column("outcome", sa.Text, nullable=False),  # JSON: endpoint -> value
    )
    return md, predictions, outcomes


@dataclass(frozen=True)
class ModelIdentity:
    """The model a prediction row names."""

    name: str
    version: str
    training_data_hash: str


class PredictionLog:
    """An append-only table of predictions behind an SQLAlchemy URL (see the module doc)."""

    def __init__(self, url: str):
        self.url = url
        self.dialect = sa.engine.make_url(url).get_backend_name()
        schema = SCHEMA if self.dialect == "postgresql" else None
        self.metadata, self.table, self.outcomes = _tables(schema)
        try:
            self.engine = self._engine(url)
            self._create(schema)
        except (sa.exc.SQLAlchemyError, OSError) as exc:
            raise LogError(f"cannot open the prediction log {self.where}: {_cause(exc)}") from None

    @property
    def where(self) -> str:
        """The URL without its password, for messages."""
        return sa.engine.make_url(self.url).render_as_string(hide_password=True)

    def _engine(self, url: str) -> SqlEngine:
        if self.dialect != "sqlite":
            return sa.create_engine(url, pool_pre_ping=True)
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(conn: Any, _record: Any) -> None:  # every connection of the pool
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
            cur.close()

        return engine

    def _create(self, schema: str | None) -> None:
        """The schema, table and indexes, each only if missing (several writers may start)."""
        with self.engine.begin() as conn:
            if schema:
                conn.execute(sa.schema.CreateSchema(schema, if_not_exists=True))
            for table in (self.table, self.outcomes):
                conn.execute(sa.schema.CreateTable(table, if_not_exists=True))
                for index in table.indexes:
                    conn.execute(sa.schema.CreateIndex(index, if_not_exists=True))

    def write(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """Append ``rows`` (:func:`rows`) in one transaction; all or nothing. Returns the count."""
        return self.write_batches([rows])

    def write_batches(self, batches: Iterable[Sequence[Mapping[str, Any]]]) -> int:
        """Append every batch of rows in one transaction (all or nothing); returns the count.

        Batches are made as they are written, so a chunk of 20,000 runs never holds all its
        rows at once.
        """
        n = 0
        try:
            with self.engine.begin() as conn:
                for batch in batches:
                    if batch:
                        conn.execute(self.table.insert(), list(batch))
                        n += len(batch)
        except sa.exc.SQLAlchemyError as exc:
            raise LogError(
                f"prediction log {self.where}: rows not written (none kept): {_cause(exc)}"
            ) from None
        return n

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(sa.select(sa.func.count()).select_from(self.table)).scalar_one()
            )

    def read(self, where: Any = None) -> list[dict[str, Any]]:
        """Rows as dicts (``result`` parsed), oldest first; ``where``: a SQLAlchemy clause."""
        query = sa.select(self.table).order_by(self.table.c.event_id)
        if where is not None:
            query = query.where(where)
        with self.engine.connect() as conn:
            out = [dict(r._mapping) for r in conn.execute(query)]
        for r in out:
            r["result"] = json.loads(r["result"])
        return out

    def append_outcomes(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """Append outcome rows in one transaction (all or nothing); returns the count."""
        try:
            with self.engine.begin() as conn:
                if rows:
                    conn.execute(self.outcomes.insert(), list(rows))
        except sa.exc.SQLAlchemyError as exc:
            raise LogError(
                f"prediction log {self.where}: outcomes not written (none kept): {_cause(exc)}"
            ) from None
        return len(rows)

    def _distinct(self, columns: Sequence[Any], key: Any, values: Iterable[str]) -> list[tuple]:
        """Distinct ``columns`` of the rows whose ``key`` is one of ``values``."""
        wanted = sorted(set(values))
        out: list[tuple] = []
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), IN_LIST):  # bound the IN list
                part = wanted[start : start + IN_LIST]
                query = sa.select(*columns).where(key.in_(part)).distinct()
                out += [tuple(r) for r in conn.execute(query)]
        return out

    def known(self, column: str, values: Iterable[str], table: str = "predictions") -> set[str]:
        """Which of ``values`` appear in ``column`` of the predictions or outcomes table."""
        t = self.table if table == "predictions" else self.outcomes
        return {r[0] for r in self._distinct([t.c[column]], t.c[column], values)}

    def pairs(self, key: Any, other: Any, values: Iterable[str]) -> list[tuple[str, str]]:
        """Distinct (``key``, ``other``) of the predictions whose ``key`` is in ``values``."""
        return [(a, b) for a, b in self._distinct([key, other], key, values)]

    def models_of(self, key: Any, values: Iterable[str]) -> list[tuple[tuple[str, str], str]]:
        """((model name, version), ``key`` value) of the predictions matching ``values``."""
        t = self.table
        rows = self._distinct([t.c.model_name, t.c.model_version, key], key, values)
        return [((n, v), k) for n, v, k in rows]

    def frame(self, table: str = "predictions", where: Any = None) -> pd.DataFrame:
        """A table as a DataFrame (``result``/``outcome`` left as JSON text), oldest first."""
        t = self.table if table == "predictions" else self.outcomes
        query = sa.select(t).order_by(t.c.event_id)
        if where is not None:
            query = query.where(where)
        with self.engine.connect() as conn:
            return pd.read_sql(query, conn)

    def close(self) -> None:
        self.engine.dispose()


class LogRefused(LogError):
    """Predictions could not be logged, and the site requires every one logged."""


@dataclass
class LogSink:
    """Where a scorer appends its predictions, and what a failure means.

    One rule for ``score`` (local and Spark) and the API. ``log`` is None when the log is
    off, or when it could not be opened (``open_error`` says why: every prediction then
    counts as not logged). A failed write counts its runs in ``failed``, or raises
    :class:`LogRefused` when the log is ``required``.
    """

    log: PredictionLog | None = None
    required: bool = False
    open_error: str = ""
    url: str = ""
    logged: int = 0
    failed: int = 0
    last_error: str = ""
    on_log: Callable[[int, int], None] | None = None  # (logged, failed), e.g. for /metrics

    @property
    def active(self) -> bool:
        """False only when the log is switched off."""
        return self.log is not None or bool(self.open_error)

    @property
    def where(self) -> str:
        return self.log.where if self.log is not None else self.url

    def append(self, batches: Iterable[Sequence[Mapping[str, Any]]], n: int) -> None:
        """Write ``batches`` (``n`` runs) in one transaction; count or refuse a failure."""
        error = self.open_error
        if self.log is not None:
            try:
                written = self.log.write_batches(batches)
            except LogError as exc:
                error = str(exc)
            else:
                self.logged += written
                if self.on_log:
                    self.on_log(written, 0)
                return
        elif not error:
            return  # switched off (CLONESCOUT_PREDICTION_LOG=off)
        self.failed += n
        self.last_error = error
        if self.on_log:
            self.on_log(0, n)
        if self.required:
            raise LogRefused(
                f"{n} predictions could not be logged ({error}); only what is logged is "
                f"answered ({REQUIRED_ENV})"
            )


def open_sink(tracking_uri: str, env: Mapping[str, str] | None = None) -> LogSink:
    """The configured log as a :class:`LogSink`.

    A log that cannot be opened gives a sink that counts every prediction as not logged,
    or raises :class:`LogRefused` when the log is required.
    """
    must = required(env)
    url = configured_url(tracking_uri, env)
    if url is None:
        return LogSink(required=must)
    try:
        return LogSink(PredictionLog(url), must, url=url)
    except LogError as exc:
        if must:
            raise LogRefused(f"{exc}; nothing is scored without it ({REQUIRED_ENV})") from None
        return LogSink(None, must, str(exc), url=sa.engine.make_url(url).render_as_string())


def _cause(exc: BaseException) -> str:
    """The database's own words, without SQLAlchemy's statement and parameters (all rows)."""
    orig = getattr(exc, "orig", None)
    return f"{type(orig).__name__}: {orig}" if orig is not None else str(exc).splitlines()[0]


def _json_texts(values: Sequence[str]) -> list[str]:
    """Each text as a JSON string (escaped once per distinct value)."""
    quoted: dict[str, str] = {}
    out = []
    for v in values:
        text = str(v)
        if text not in quoted:
            quoted[text] = json.dumps(text, ensure_ascii=False)
        out.append(quoted[text])
    return out


def result_json(
    numbers: Mapping[str, np.ndarray], texts: Mapping[str, Sequence[str]], n: int
) -> list[str]:
    """Per run, one JSON object of ``numbers`` (non-finite as null) and ``texts``, keys sorted.

    What ``json.dumps(..., sort_keys=True)`` writes (a float as its ``repr``, the shortest
    form that reads back as the same float), assembled column by column: 20,000 runs of 49
    numbers take a fraction of the second ``json.dumps`` per run took.
    """
    columns = []
    for key in sorted([*numbers, *texts]):
        prefix = json.dumps(key, ensure_ascii=False) + ": "
        if key in numbers:
            v = np.asarray(numbers[key], dtype=float)
            finite = np.isfinite(v).tolist()
            columns.append(
                [
                    prefix + repr(x) if ok else prefix + "null"
                    for x, ok in zip(v.tolist(), finite, strict=True)
                ]
            )
        else:
            columns.append([prefix + t for t in _json_texts(texts[key])])
    if not columns:
        return ["{}"] * n
    return ["{" + ", ".join(cells) + "}" for cells in zip(*columns, strict=True)]


def rows(
    columns: Mapping[str, Any],
    ids: Mapping[str, Sequence[str]],
    model: ModelIdentity,
    source: str,
    when: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """One log row per scored run from the model's output columns.

    ``columns``: the predictor's columns (:meth:`models.predictor.Predictor.predict_columns`
    or the scores table), one value per run; every numeric one is kept in ``result`` under
    its column name (NaN as null), with :data:`TEXT_FIELDS`. ``ids``: ``run_id``,
    ``clone_id``, ``campaign_id``, ``input_fingerprint`` and ``prediction_id`` per run.
    """
    if source not in SOURCES:
        raise ValueError(f"log source must be one of {', '.join(SOURCES)}, not {source!r}")
    when = when or dt.datetime.now(dt.UTC)
    numeric = [
        k
        for k, v in columns.items()
        if k not in NOT_PREDICTED and np.asarray(v).dtype.kind in "fiu"
    ]
    n = len(ids["run_id"])
    text = {k: [str(x) for x in columns[k]] for k in TEXT_FIELDS if k in columns}
    result = result_json({k: columns[k] for k in numeric}, text, n)
    fixed = {
        "logged_at": when,
        "source": source,
        "model_name": model.name,
        "model_version": model.version,
        "training_data_hash": model.training_data_hash,
    }
    per_run = {k: [str(x) for x in ids[k]] for k in ID_KEYS}
    per_run["flag"] = text.get("flag", [""] * n)
    per_run["applicability"] = text.get("applicability", [""] * n)
    per_run["result"] = result
    names = list(per_run)
    rows_of = zip(*per_run.values(), strict=True)
    return [{**fixed, **dict(zip(names, values, strict=True))} for values in rows_of]


def prediction_ids(
    model: ModelIdentity, run_ids: Iterable[str], prints: Iterable[str]
) -> list[str]:
    """:func:`prediction_id` of each run."""
    return [
        prediction_id(model.name, model.version, r, p) for r, p in zip(run_ids, prints, strict=True)
    ]
