"""Outcomes come back: measured results joined to the predictions that were logged for them.

Weeks after a campaign is scored, its Ambr, 2 L or purification results arrive as an
outcomes table in the contract's shape (``run_id`` and numeric endpoints, optionally a
``prediction_id`` column). Each row is

- held to the contract's rules (:func:`features.contract.loader.load_outcomes`): a row that
  breaks one is set aside with file, line, column and rule;
- joined to the prediction log: by ``prediction_id`` when the file names one (it must exist
  and belong to the row's run), else by ``run_id`` (every logged prediction of that run,
  whichever model version made it). A row no logged prediction answers to is set aside
  with the reason: scoring it first, or correcting the id, is the user's call;
- appended to the log's ``outcomes`` table, with when, from where (file and line) and a
  hash of its content. A row already recorded with the same content is not appended again
  (adding a file twice changes nothing). A later row for the same run, with other values
  (a re-measurement), is appended beside the first; the monitor reads the latest received.

Nothing already in the log is updated or deleted.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.json as pa_json
import sqlalchemy as sa

from features.contract.rejects import REJECT_COLUMNS, make_rejects
from features.contract.validate import PREDICTION_ID, CheckedTables
from models.flags import OBSERVED_PREFIX as OBS
from serving.predlog import PredictionLog, result_json, short_hash

OUTCOME_SOURCES = ("cli", "api")
JOIN_STAGE = "join"


@dataclass
class OutcomeReport:
    """What adding an outcomes table did, row by row accounted for."""

    file: str
    rows_in: int
    appended: int = 0
    already_recorded: int = 0
    rejects: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REJECT_COLUMNS))
    endpoints: list[str] = field(default_factory=list)
    by_model: dict[str, int] = field(default_factory=dict)  # "name v3" -> outcome rows joined

    @property
    def set_aside(self) -> int:
        return len(self.rejects)

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "rows_in": self.rows_in,
            "appended": self.appended,
            "already_recorded": self.already_recorded,
            "set_aside": self.set_aside,
            "endpoints": self.endpoints,
            "joined_to": self.by_model,
            "rejects": self.rejects.to_dict(orient="records"),
        }


def content_hash(run_id: str, prediction: str, outcome: str) -> str:
    """32 hex digits of what a row says (its run, the prediction it names, its values)."""
    return short_hash(run_id, prediction, outcome)


def add_outcomes(
    log: PredictionLog,
    file: Path,
    checked: CheckedTables,
    source: str = "cli",
    when: dt.datetime | None = None,
) -> OutcomeReport:
    """Join ``checked`` outcomes (``load_outcomes``' result) to ``log`` and append them."""
    if source not in OUTCOME_SOURCES:
        raise ValueError(f"outcome source must be one of {', '.join(OUTCOME_SOURCES)}")
    frame = checked.tables["outcomes"]
    rejects = checked.rejects
    report = OutcomeReport(file.name, len(frame) + int(rejects["run_id"].nunique()))
    endpoints = [c for c in frame.columns if c not in ("run_id", "line", PREDICTION_ID)]
    report.endpoints = endpoints
    runs = frame["run_id"].astype(str).to_numpy()
    named = frame[PREDICTION_ID].astype(str).to_numpy() if PREDICTION_ID in frame else None
    ok, join_rejects = _join(log, runs, named)
    frame = frame[ok]
    values = result_json({c: frame[c].to_numpy(float) for c in endpoints}, {}, len(frame))
    preds = frame[PREDICTION_ID].astype(str).tolist() if named is not None else [""] * len(frame)
    run_ids = frame["run_id"].astype(str).tolist()
    hashes = [content_hash(r, p, v) for r, p, v in zip(run_ids, preds, values, strict=True)]
    seen = log.known("content_hash", hashes, table="outcomes")
    when = when or dt.datetime.now(dt.UTC)
    rows = [
        {
            "received_at": when,
            "source": source,
            "run_id": r,
            "prediction_id": p or None,
            "origin": f"{file.name}:{line}",
            "content_hash": h,
            "outcome": v,
        }
        for r, p, v, h, line in zip(
            run_ids, preds, values, hashes, frame["line"].tolist(), strict=True
        )
        if h not in seen
    ]
    report.already_recorded = len(hashes) - len(rows)
    report.appended = log.append_outcomes(rows)
    report.rejects = pd.concat([rejects, join_rejects], ignore_index=True)[list(REJECT_COLUMNS)]
    report.by_model = _joined_models(log, run_ids, preds)
    return report


def _join(
    log: PredictionLog, runs: np.ndarray, named: np.ndarray | None
) -> tuple[np.ndarray, pd.DataFrame]:
    """Which rows answer a logged prediction, and the reasons of those that do not."""
    if named is None:
        known = log.known("run_id", runs)
        ok = np.array([r in known for r in runs], dtype=bool)
        why = (
            "no logged prediction for this run: score it first (clonescout score or the API "
            "log every prediction), or check the run id"
        )
        return ok, make_rejects(runs[~ok], JOIN_STAGE, why)
    found = dict(log.pairs(log.table.c.prediction_id, log.table.c.run_id, named))
    ok = np.ones(len(runs), dtype=bool)
    reasons = []
    for i, (run, pid) in enumerate(zip(runs, named, strict=True)):
        if pid not in found:
            ok[i] = False
            reasons.append(f"prediction_id {pid!r} is not in the prediction log")
        elif found[pid] != run:
            ok[i] = False
            reasons.append(
                f"prediction_id {pid!r} was made for run {found[pid]!r}, not for this run"
            )
    return ok, make_rejects(runs[~ok], JOIN_STAGE, reasons)


def _joined_models(log: PredictionLog, runs: list[str], preds: list[str]) -> dict[str, int]:
    """Per model name and version, how many of the rows answer one of its predictions."""
    t = log.table
    counts: dict[str, set[str]] = {}
    by_pid = [p for p in preds if p]
    by_run = [r for r, p in zip(runs, preds, strict=True) if not p]
    for key, values in ((t.c.prediction_id, by_pid), (t.c.run_id, by_run)):
        for (name, version), value in log.models_of(key, values):
            counts.setdefault(f"{name} v{version}", set()).add(value)
    return {k: len(v) for k, v in sorted(counts.items())}


def outcome_values(text: str) -> dict[str, float]:
    """An outcome row's values (JSON), null as NaN."""
    return {k: (np.nan if v is None else float(v)) for k, v in json.loads(text).items()}


def _parsed(texts: pd.Series) -> pd.DataFrame:
    """JSON objects of a column as a frame (null as NaN), rows as ``texts``.

    Read as newline-delimited JSON by Arrow's C++ reader: 100,000 rows of 50 keys take a
    fraction of a second, where ``json.loads`` per row and a frame of dicts take seconds.
    """
    if texts.empty:
        return pd.DataFrame(index=texts.index)
    data = ("\n".join(texts.tolist()) + "\n").encode()
    table = pa_json.read_json(io.BytesIO(data))
    frame = table.to_pandas()
    frame.index = texts.index
    return frame


def joined_frame(
    log: PredictionLog,
    model_name: str | None = None,
    since: dt.datetime | None = None,
) -> pd.DataFrame:
    """One row per logged prediction (distinct id, first logged), with its run's outcomes.

    Columns: the ids and model of the prediction, ``flag``, ``applicability``,
    ``seen_in_training``, every predicted number, and ``obs__<endpoint>`` per endpoint
    measured: the latest value received for the prediction's id, else for its run (a
    re-measurement supersedes, per endpoint; the older rows stay in the log).
    """
    t = log.table
    where = []
    if model_name is not None:
        where.append(t.c.model_name == model_name)
    if since is not None:
        where.append(t.c.logged_at >= since)
    preds = log.frame("predictions", sa.and_(*where) if where else None)
    preds = preds.drop_duplicates("prediction_id", keep="first").reset_index(drop=True)
    if preds.empty:
        return preds
    result = _parsed(preds["result"])
    keep = [c for c in result.columns if c not in preds.columns or c == "seen_in_training"]
    base = preds.drop(columns=["result", "event_id"])
    out = pd.concat([base, result[keep]], axis=1)
    if "seen_in_training" not in out:
        out["seen_in_training"] = ""
    outcomes = log.frame("outcomes")
    if outcomes.empty:
        return out
    values = _parsed(outcomes["outcome"]).astype(float)
    named = outcomes["prediction_id"].notna().to_numpy()
    by_pid = values[named].groupby(outcomes.loc[named, "prediction_id"].to_numpy()).last()
    by_run = values[~named].groupby(outcomes.loc[~named, "run_id"].to_numpy()).last()
    obs = by_run.reindex(out["run_id"].to_numpy())
    obs.index = out.index
    if len(by_pid):
        pid = by_pid.reindex(out["prediction_id"].to_numpy())
        pid.index = out.index
        obs = pid.combine_first(obs)
    return pd.concat([out, obs.add_prefix(OBS)], axis=1)
