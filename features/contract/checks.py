"""Hold campaign tables to the data contract row by row: keep good runs, set broken ones aside.

Used by the folder loader (:mod:`features.contract.loader`) and by the import mappings
(:mod:`features.contract.mapping`), so a foreign file's problems point at *its* lines. What happens
to each kind of problem:

- structural (a required column missing, a column in the wrong unit or layout throughout,
  no run left): the dataset is refused with one :class:`ContractError` listing them all;
- a row that breaks a rule (text in a numeric column, a value out of bounds, a duplicate
  key, an unknown clone or run, days out of order): its run is set aside with the reason;
  a clones row falls on every run of that clone;
- a row that cannot be placed (no id, no usable day) is dropped, and so is a clone that no
  run refers to; flags, censored values and instrument overshoot are read as documented in
  :mod:`features.contract.censored` and :class:`features.contract.schemas.Bound`. Each is
  counted in a note.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.contract.censored import (
    ABOVE,
    BELOW,
    CENSORED,
    EMPTY,
    FLAGGED,
    NUMBER,
    TEXT,
    TREATMENT,
    parse_cells,
)
from features.contract.rejects import (
    MAX_LINES_NOTED,
    DataNote,
    problem_frame,
    quoted_forms,
)
from features.contract.schemas import ANY_NUMBER, CONTRACTS, TABLE_NAMES, Bound
from features.contract.violations import Source, Violation, numeric_columns

KEY_ID = {"clones": "clone_id", "runs": "run_id", "samples": "run_id", "outcomes": "run_id"}
MIN_BAD_FOR_LAYOUT = 5  # a wrong unit or layout needs at least this many bad cells


@dataclass
class Table:
    """One table being checked; ``frame`` keeps each row's position as read as its index."""

    name: str
    frame: pd.DataFrame
    source: Source
    numeric: list[str]


@dataclass
class Findings:
    """What checking found: structural violations, located row problems, notes."""

    violations: list[Violation] = field(default_factory=list)
    problems: list[pd.DataFrame] = field(default_factory=list)
    notes: list[DataNote] = field(default_factory=list)

    def note(self, t: Table, column: str, kind: str, rows: pd.Index, treatment: str) -> None:
        if len(rows):
            self.notes.append(note_at(t.source, column, kind, rows, treatment))

    def flag(
        self,
        t: Table,
        mask: pd.Series,
        column: str,
        rule: str | pd.Series,
        found: pd.Series | None = None,
        first: bool = False,
    ) -> None:
        """Record a problem on each row of ``mask``; ``rule``/``found`` align on those rows.

        ``first`` puts it ahead of the row problems of every table in the run's reason
        (an unknown clone or run says more than the values of its rows).
        """
        mask = mask.fillna(False).astype(bool)
        if not mask.any():
            return
        rows = t.frame.index[mask.to_numpy()]
        keys = t.frame.loc[rows, KEY_ID[t.name]]
        rank = TABLE_NAMES.index(t.name) - (len(TABLE_NAMES) if first else 0)
        self.problems.append(problem_frame(t.source.where(rows), column, rule, found, keys, rank))


def note_at(source: Source, column: str, kind: str, rows: pd.Index, treatment: str) -> DataNote:
    """A note on frame rows ``rows`` (positions as read), naming the first few lines."""
    lines = source.locate(np.asarray(rows[:MAX_LINES_NOTED], dtype=int))
    where = (source.name, column, kind, len(rows), treatment)
    return DataNote(*where, tuple(int(n) for n in lines), source.row_word)


def token_notes(
    source: Source, column: str, raw: pd.Series, kind: pd.Series, rows: pd.Index
) -> list[DataNote]:
    """One note per kind of flag or censored value found in a column (cells ``rows``)."""
    notes = []
    for k in (FLAGGED, CENSORED, BELOW, ABOVE):
        mask = (kind == k).to_numpy()
        if mask.any():
            notes.append(note_at(source, column, quoted_forms(raw[mask]), rows[mask], TREATMENT[k]))
    return notes


def shown(values: pd.Series, quote: bool = False) -> pd.Series:
    """Cells as a person reads them in a reason: text as written, numbers with %g."""
    if pd.api.types.is_string_dtype(values) and not pd.api.types.is_object_dtype(values):
        out = values.str.strip()
    else:
        out = values.map(lambda v: f"{v:g}" if isinstance(v, int | float | np.number) else str(v))
    out = out.astype("str")
    return out.map(repr).astype("str") if quote else out


def isin_text(values: pd.Series, allowed: pd.Series) -> pd.Series:
    """``values.isin(allowed)`` for id columns in one Arrow call (missing ids: False).

    pandas' own ``isin`` on Arrow strings boxes every allowed id in Python, which costs
    a third of a second per call at 10,000 runs.
    """
    ids = pa.array(values.astype("str"), type=pa.string())
    known = pa.array(pd.unique(allowed.dropna().astype("str")), type=pa.string())
    hit = pc.is_in(ids, value_set=known).to_numpy(zero_copy_only=False)
    return pd.Series(np.asarray(hit, dtype=bool), index=values.index)


def _as_text(values: pd.Series) -> pd.Series:
    """An id or label column as text; empty and blank cells become missing."""
    text = values if isinstance(values.dtype, pd.StringDtype) else values.astype("str")
    return text.where(text.str.strip().ne("") & text.notna())


def _with(frame: pd.DataFrame, columns: dict[str, pd.Series]) -> pd.DataFrame:
    """``frame`` with ``columns`` replaced (any column name, unlike ``assign(**...)``)."""
    out = frame.copy(deep=False)
    for name, values in columns.items():
        out[name] = values
    return out


def _whole_column(
    t: Table, col: str, bad: pd.Series, judged: pd.Series, bound: Bound, raw: pd.Series
) -> Violation | None:
    """Most cells of a column bad: a wrong unit or layout, not a few broken runs."""
    n_bad, n = int(bad.sum()), int(judged.sum())
    if n_bad < MIN_BAD_FOR_LAYOUT or 2 * n_bad <= n:
        return None
    rule = (
        "looks like the wrong unit or layout for the whole column: "
        f"{n_bad} of {n} values are text or outside the bounds; expected {bound.describe()}"
    )
    rows = t.frame.index[bad.to_numpy()].to_numpy()
    return Violation.at_rows(t.source, col, rule, rows, list(raw[bad.to_numpy()].iloc[:5]))


def _bounds(t: Table, col: str, value: pd.Series, bound: Bound, found: Findings) -> pd.Series:
    """Flag values out of bounds; clip documented instrument overshoot with a note."""
    raw = t.frame[col]
    if bound.low is not None:
        low = value < bound.low
        found.flag(t, low, col, bound.low_rule(), shown(raw[low]))
    if bound.high is not None and bound.ceiling is not None:
        high = value > bound.ceiling
        found.flag(t, high, col, bound.high_rule(), shown(raw[high]))
        if bound.overshoot:
            over = (value > bound.high) & ~high
            kind = f"value in ({bound.high:g}, {bound.ceiling:g}]"
            why = f"clipped to {bound.high:g} (instrument overshoot, e.g. of a cell counter)"
            found.note(t, col, kind, t.frame.index[over.to_numpy()], why)
            value = value.mask(over, bound.high)
    return value


def _outside(value: pd.Series, bound: Bound) -> pd.Series:
    out = pd.Series(False, index=value.index)
    if bound.low is not None:
        out |= value < bound.low
    if bound.ceiling is not None:
        out |= value > bound.ceiling
    return out


def _read_numbers(t: Table, col: str, found: Findings) -> pd.Series:
    """Numbers of one column: tokens read and noted, text and bounds flagged per row."""
    raw = t.frame[col]
    parsed = parse_cells(raw)
    contract = CONTRACTS[t.name]
    bound = contract.known_numeric.get(col) or contract.required_numeric.get(col) or ANY_NUMBER
    found.notes += token_notes(t.source, col, raw, parsed.kind, t.frame.index)
    text = parsed.kind == TEXT
    judged = parsed.kind.isin((NUMBER, BELOW, ABOVE, TEXT))
    layout = _whole_column(t, col, text | _outside(parsed.value, bound), judged, bound, raw)
    if layout is not None:
        found.violations.append(layout)
        return parsed.value
    found.flag(t, text, col, "must be a number", "text " + shown(raw[text], quote=True))
    return _bounds(t, col, parsed.value, bound, found)


def _read_day(t: Table, found: Findings) -> Table:
    """Culture day of each sample; a row without a usable day is dropped with a note."""
    raw = t.frame["day"]
    parsed = parse_cells(raw)
    bound = CONTRACTS["samples"].required_numeric["day"]
    usable = parsed.kind == NUMBER
    judged = parsed.kind != EMPTY
    bad = (judged & ~usable) | _outside(parsed.value, bound)
    layout = _whole_column(t, "day", bad, judged, bound, raw)
    if layout is not None:
        found.violations.append(layout)
    why = "dropped (a sample cannot be placed in time)"
    found.note(t, "day", "row with an empty or non-numeric day", t.frame.index[~usable], why)
    t.frame = t.frame[usable.to_numpy()].assign(day=parsed.value[usable])
    if layout is None:
        t.frame["day"] = _bounds(t, "day", t.frame["day"], bound, found)
    return t


def _rows(t: Table, found: Findings) -> None:
    """Required labels filled in, keys unique."""
    contract = CONTRACTS[t.name]
    for col in contract.required_text:
        if col != KEY_ID[t.name]:
            found.flag(t, t.frame[col].isna(), col, "must not be empty")
    key = list(contract.key)
    dup = t.frame.duplicated(key, keep=False)
    rule = f"duplicate key: ({', '.join(key)}) must be unique"
    value = shown(t.frame.loc[dup, key[-1]], quote=key[-1] != "day")
    value = ("day " if key[-1] == "day" else "") + value + " more than once"
    found.flag(t, dup, ", ".join(key), rule, value)


def prepare(name: str, raw: pd.DataFrame, source: Source, found: Findings) -> Table | None:
    """Read one table's cells; None when a required column is missing (structural)."""
    contract = CONTRACTS[name]
    required = (*contract.required_text, *contract.required_numeric)
    missing = [c for c in required if c not in raw.columns]
    found.violations += [Violation(source.name, c, "required column is missing") for c in missing]
    if missing:
        return None
    numeric = numeric_columns(raw, name)
    labels = {c: _as_text(raw[c]) for c in raw.columns if c not in numeric}
    t = Table(name, _with(raw, labels), source, numeric)
    key = KEY_ID[name]
    empty = t.frame[key].isna()
    why = f"dropped (it cannot be placed without a {key})"
    found.note(t, key, f"row with an empty {key}", t.frame.index[empty.to_numpy()], why)
    t.frame = t.frame[~empty.to_numpy()]
    if name == "samples":
        t = _read_day(t, found)
    numbers = {c: _read_numbers(t, c, found) for c in numeric if c != "day"}
    t.frame = _with(t.frame, numbers)
    _rows(t, found)
    return t
