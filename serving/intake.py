"""Runs as the HTTP API receives them (JSON) held to the data contract, as one long frame.

(:func:`runs_from_campaign` goes the other way: a loaded campaign as the JSON runs a client
sends.)

The hot path is built for small requests: a run whose cells are all plain numbers within
their physical bounds, with increasing days, is checked in Python (:func:`is_plain`) and
goes straight into the long frame; only a run that needs the contract's full reading
(censored text, an overshoot to clip, a value out of bounds, days out of order) goes
through :func:`features.contract.validate.validate_tables`, on its own (:func:`contract_tables`), so
its reasons are the very ones a file would get.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.assemble import NO_SAMPLES, long_frame
from features.contract.loader import CampaignData
from features.contract.schemas import CONTRACTS, FLOAT32_MAX
from features.contract.validate import validate_tables
from features.contract.violations import ContractError, Source
from features.early import CLONE_PREFIX, RUN_PREFIX

RUN_KEYS = ("run_id", "scale", "clone", "samples")
CLONE_KEYS = ("clone_id", "campaign_id", "molecule")


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _bounds(table: str) -> dict[str, tuple[float, float]]:
    contract = CONTRACTS[table]
    out = {}
    for col, b in {**contract.known_numeric, **contract.required_numeric}.items():
        out[col] = (-math.inf if b.low is None else b.low, math.inf if b.high is None else b.high)
    return out


_BOUNDS = {t: _bounds(t) for t in ("clones", "runs", "samples")}
_ANY = (-FLOAT32_MAX, FLOAT32_MAX)  # a column the contract does not bound (ANY_NUMBER)


def _plain(record: dict[str, Any], table: str, skip: Sequence[str]) -> bool:
    """Every cell a number within bounds, a label, or null (no censored text to read)."""
    bounds = _BOUNDS[table]
    for k, v in record.items():
        if v is None or k in skip:
            continue
        if isinstance(v, float | int) and not isinstance(v, bool):
            lo, hi = bounds.get(k, _ANY)
            if not lo <= v <= hi:
                return False
        elif k in bounds or table == "samples":
            return False  # text in a measurement: the contract reads it (or rejects it)
    return True


def is_plain(run: dict[str, Any]) -> bool:
    """True when the contract would keep ``run`` exactly as sent (the fast path)."""
    if not _plain(run, "runs", RUN_KEYS) or not _plain(run["clone"], "clones", CLONE_KEYS):
        return False
    last = -math.inf
    for s in run["samples"]:
        day = s.get("day")
        if "run_id" in s or not _is_number(day) or not day > last:
            return False
        if not _plain(s, "samples", ()):  # the day's own bounds too
            return False
        last = day
    return True


def _cell(v: object) -> str:
    """A JSON value as a CSV cell: the contract then reads it exactly as from a file."""
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    return str(v)


def _texts(records: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {c: [_cell(r.get(c)) for r in records] for c in columns}, dtype="str"
    ).reset_index(drop=True)


def _where_text(text: str, i: int) -> str:
    """'runs[3].samples row 2' -> 'runs[3].samples[2]'; 'runs[3] row 0' -> 'runs[3]'."""
    text = re.sub(rf"runs\[{i}\]\.samples row (\d+)", rf"runs[{i}].samples[\1]", text)
    return re.sub(rf"(runs\[{i}\](?:\.clone)?) row \d+", r"\1", text)


def contract_tables(
    run: dict[str, Any], i: int
) -> tuple[CampaignData | None, list[str], list[str]]:
    """Hold one run to the full contract, as a folder would be.

    Returns the typed one-run tables (or None when the run is rejected), the reasons it was
    rejected for, and the notes on cells read in a documented, non-obvious way.
    """
    clone = dict(run["clone"])
    clone_cols = list(dict.fromkeys(["clone_id", "campaign_id", "molecule", *clone]))
    run_rec = {k: v for k, v in run.items() if k not in ("clone", "samples")}
    run_rec["clone_id"] = clone.get("clone_id")
    run_cols = list(dict.fromkeys(["run_id", "clone_id", "scale", *run_rec]))
    samples = [{"run_id": run["run_id"], **s} for s in run["samples"]]
    sample_cols = list(dict.fromkeys(["run_id", "day", *(k for s in samples for k in s)]))
    raw = {
        "clones": _texts([clone], clone_cols),
        "runs": _texts([run_rec], run_cols),
        "samples": _texts(samples, sample_cols),
    }
    names = {"clones": f"runs[{i}].clone", "runs": f"runs[{i}]", "samples": f"runs[{i}].samples"}
    sources = {t: Source(names[t], np.arange(max(len(df), 1)), "row") for t, df in raw.items()}
    try:
        checked = validate_tables(raw, sources, f"runs[{i}]", refuse_empty=False)
    except ContractError as exc:
        return None, [_where_text(str(v), i) for v in exc.violations], []
    notes = [_where_text(str(n), i) for n in checked.notes]
    if len(checked.rejects):
        reasons = [_where_text(r, i) for r in checked.rejects["reason"]]
        return None, reasons, notes
    t = checked.tables
    if not t or t["runs"].empty:  # the row could not be placed (e.g. a blank id): dropped
        why = "; ".join(notes) if notes else "its run_id, clone_id or days could not be read"
        return None, [f"runs[{i}]: the contract could not place this run ({why})"], notes
    return CampaignData(Path("."), t["clones"], t["runs"], t["samples"], None), [], notes


def _plain_frame(runs: list[tuple[str, dict[str, Any]]]) -> pd.DataFrame:
    """The long frame (as :func:`features.assemble.long_frame`) of runs on the fast path.

    Built column by column: a run's conditions and clone are typed once per run and
    repeated over its samples; sample cells are numbers or null (:func:`is_plain`).
    """
    metas: list[dict[str, Any]] = []
    for key, run in runs:
        meta: dict[str, Any] = {"run_id": key}
        for name, v in run.items():
            if name not in ("run_id", "clone", "samples"):
                meta[RUN_PREFIX + name] = v
        for name, v in run["clone"].items():
            if name not in ("clone_id", "campaign_id"):
                meta[CLONE_PREFIX + name] = v
        metas.append(meta)
    counts = np.array([len(run["samples"]) for _, run in runs])
    data: dict[str, Any] = {}
    for c in dict.fromkeys(k for m in metas for k in m):
        values = [m.get(c) for m in metas]
        if c != "run_id" and all(v is None or _is_number(v) for v in values):
            data[c] = np.repeat(np.array(values, dtype=float), counts)
        else:
            text = np.array([None if v is None else str(v) for v in values], dtype=object)
            data[c] = pd.Series(np.repeat(text, counts), dtype="str")
    samples = [s for _, run in runs for s in run["samples"]]
    for c in dict.fromkeys(k for s in samples for k in s):
        data[c] = np.array([s.get(c) for s in samples], dtype=float)  # None -> NaN
    return pd.DataFrame(data)


def _empty_frame() -> pd.DataFrame:
    return pd.DataFrame({"run_id": pd.Series(dtype="str"), "day": pd.Series(dtype=float)})


@dataclass
class Prepared:
    """A batch of runs after the contract: the long frame of the kept ones, and the rest."""

    frame: pd.DataFrame  # run_id = internal key "r<position>"
    keys: dict[str, int]  # internal key -> position in the request
    rejected: dict[int, tuple[str, list[str]]]  # position -> (stage, reasons)
    notes: dict[int, list[str]]


def prepare(runs: list[dict[str, Any]]) -> Prepared:
    """Contract check of every run, then one long frame for all runs kept."""
    plain: list[tuple[str, dict[str, Any]]] = []
    frames: list[pd.DataFrame] = []
    keys: dict[str, int] = {}
    rejected: dict[int, tuple[str, list[str]]] = {}
    notes: dict[int, list[str]] = {}
    for i, run in enumerate(runs):
        key = f"r{i:07d}"
        if not run["samples"]:
            rejected[i] = ("features", [NO_SAMPLES])
            continue
        if is_plain(run):
            plain.append((key, run))
            keys[key] = i
            continue
        try:
            data, reasons, run_notes = contract_tables(run, i)
        except Exception as exc:  # one unreadable run must never fail the others
            rejected[i] = ("load", [f"runs[{i}]: could not be read ({type(exc).__name__}: {exc})"])
            continue
        if run_notes:
            notes[i] = run_notes
        if data is None:
            rejected[i] = ("load", reasons)
            continue
        f = long_frame(data)
        f["run_id"] = key
        frames.append(f)
        keys[key] = i
    if plain:
        frames.insert(0, _plain_frame(plain))
    frame = pd.concat(frames, ignore_index=True) if frames else _empty_frame()
    return Prepared(frame, keys, rejected, notes)


def runs_from_campaign(data: CampaignData) -> list[dict[str, Any]]:
    """The runs of a loaded campaign in the API's JSON shape (what a LIMS script sends).

    Missing cells become null; numbers stay exact (a float survives JSON unchanged).
    """
    clones = {c["clone_id"]: c for c in _records(data.clones)}
    samples: dict[str, list[dict[str, Any]]] = {}
    for s in _records(data.samples):
        samples.setdefault(s.pop("run_id"), []).append(s)
    out = []
    for r in _records(data.runs):
        clone = clones[r.pop("clone_id")]
        out.append({**r, "clone": clone, "samples": samples.get(r["run_id"], [])})
    return out


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of ``df`` as plain Python values (NaN and NA as None)."""

    def clean(v: Any) -> Any:
        if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
            return None
        if isinstance(v, np.generic):
            return v.item()
        return v

    return [{str(k): clean(v) for k, v in row.items()} for row in df.to_dict("records")]
