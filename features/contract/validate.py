"""Hold a whole campaign set to the contract: per-table checks, links, rejects, typing.

:func:`validate_tables` is the one entry point for native folders (:mod:`features.contract.loader`)
and imported files (:mod:`features.contract.mapping`). It returns the kept runs, typed by the
pandera schemas of :mod:`features.contract.schemas`, the rejected runs with their reasons, and the
notes; it raises :class:`ContractError` only for structural problems.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd
import pandera.pandas as pa

from features.contract.checks import Findings, Table, isin_text, prepare, shown
from features.contract.rejects import DataNote, empty_rejects, reason_counts, reasons_per_run
from features.contract.schemas import build_schema
from features.contract.violations import ContractError, Source, Violation

_LINKS = (
    ("runs", "clone_id", "clones", "clone_id"),
    ("samples", "run_id", "runs", "run_id"),
    ("outcomes", "run_id", "runs", "run_id"),
)
UNSORTED_RULE = "days must increase within each run (sort samples by run_id, then day)"


@dataclass(frozen=True)
class CheckedTables:
    """Typed tables of the kept runs, the rejected runs (stage "load") and the notes."""

    tables: dict[str, pd.DataFrame]
    rejects: pd.DataFrame
    notes: tuple[DataNote, ...]


def _links(tables: dict[str, Table], found: Findings) -> None:
    """Unknown clones and runs (once per unknown run), and days out of order."""
    for child, col, parent, pcol in _LINKS:
        if child not in tables or parent not in tables:
            continue
        c, known = tables[child].frame, tables[parent].frame[pcol]
        orphan = c[col].notna() & ~isin_text(c[col], known)
        if child != "runs":
            orphan &= ~c.duplicated(col)  # the first row of each unknown run is enough
        name = tables[parent].source.name
        rule = f"refers to {col} '" + c.loc[orphan, col] + f"' that {name} does not have"
        found.flag(tables[child], orphan, col, rule, first=True)
    if "samples" in tables:
        s = tables["samples"]
        day = s.frame["day"]
        unsorted = day < day.groupby(s.frame["run_id"], sort=False).shift(1)
        found.flag(s, unsorted, "day", UNSORTED_RULE, shown(day[unsorted]))


def _keep(
    tables: dict[str, Table], rejects: pd.DataFrame, found: Findings
) -> dict[str, pd.DataFrame]:
    """Rows of the kept runs, and the clones that still have one."""
    kept = {
        name: t.frame[~isin_text(t.frame["run_id"], rejects["run_id"]).to_numpy()]
        for name, t in tables.items()
        if name != "clones"
    }
    clones = tables["clones"]
    runless = ~isin_text(clones.frame["clone_id"], tables["runs"].frame["clone_id"])
    why = f"dropped (no run in {tables['runs'].source.name} refers to it)"
    found.note(clones, "clone_id", "clone without any run", clones.frame.index[runless], why)
    has_run = isin_text(clones.frame["clone_id"], kept["runs"]["clone_id"])
    kept["clones"] = clones.frame[has_run.to_numpy()]
    return kept


def _no_run_left(source: Source, rejects: pd.DataFrame) -> Violation:
    listed = "".join(f"\n      {line}" for line in reason_counts(rejects))
    rule = (
        f"no run left: all {len(rejects)} runs that came in were rejected; "
        f"reasons by count:{listed}"
    )
    return Violation(source.name, None, rule)


def _typed(t: Table, frame: pd.DataFrame, where: object) -> pd.DataFrame:
    """Coerce to the contract's types; a failure here is a bug, still explained."""
    schema = build_schema(t.name, t.numeric)
    try:
        return schema.validate(frame.reset_index(drop=True), lazy=True)
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases[["column", "check"]].drop_duplicates()
        raise ContractError(
            where,
            [Violation(t.source.name, str(c), f"must be {k}") for c, k in cases.to_numpy()],
        ) from None


def validate_tables(
    raw: dict[str, pd.DataFrame],
    sources: dict[str, Source],
    where: object,
    violations: Iterable[Violation] = (),
    problems: Iterable[pd.DataFrame] = (),
    notes: Iterable[DataNote] = (),
    refuse_empty: bool = True,
) -> CheckedTables:
    """Check each table and the links between them; set broken runs aside.

    Parameters
    ----------
    raw
        Tables as read (CSV cells as text; frame row i is the i-th row of its file).
    sources
        Where each table's rows came from, to name file and line in every reason.
    where
        The folder or file named in a :class:`ContractError`.
    violations, problems, notes
        What the caller already found (e.g. an import mapping reading its source).
    refuse_empty
        Refuse the set when no run is left (a dataset); the HTTP API checks one run at a
        time and wants that run's reasons instead (then ``tables`` is empty).

    Raises
    ------
    ContractError
        For structural problems only, all listed at once.
    """
    found = Findings(list(violations), list(problems), list(notes))
    tables = {}
    for name, df in raw.items():
        table = prepare(name, df, sources[name], found)
        if table is not None:
            tables[name] = table
    _links(tables, found)
    if found.violations:
        raise ContractError(where, found.violations)
    runs_of_clone = tables["runs"].frame[["run_id", "clone_id"]].dropna()
    problems_found = pd.concat(found.problems, ignore_index=True) if found.problems else None
    rejects = (
        empty_rejects()
        if problems_found is None
        else reasons_per_run(problems_found, runs_of_clone)
    )
    kept = _keep(tables, rejects, found)
    if kept["runs"].empty and not refuse_empty:
        return CheckedTables({}, rejects, tuple(found.notes))
    if kept["runs"].empty:
        raise ContractError(where, [_no_run_left(tables["runs"].source, rejects)])
    typed = {name: _typed(tables[name], kept[name], where) for name in raw if name in kept}
    return CheckedTables(typed, rejects, tuple(found.notes))


PREDICTION_ID = "prediction_id"  # the one text column an outcomes file may add (its join key)


def validate_outcomes(raw: pd.DataFrame, source: Source, where: object) -> CheckedTables:
    """Hold an outcomes table on its own to the contract (outcomes of runs scored earlier).

    The same per-row rules as in a campaign set; the link to a run is checked later, against
    the prediction log, not against a runs table. An optional ``prediction_id`` column (text)
    is kept beside the numbers. Returns the kept rows (``tables["outcomes"]``, with the
    1-based row of each in its file as ``line``), the rejected runs and the notes.
    """
    ids = raw[PREDICTION_ID] if PREDICTION_ID in raw.columns else None
    numbers = raw.drop(columns=[PREDICTION_ID]) if ids is not None else raw
    found = Findings()
    table = prepare("outcomes", numbers, source, found)
    if table is None or found.violations:
        raise ContractError(where, found.violations)
    if ids is not None:
        empty = ids.isna() | ids.astype(str).str.strip().eq("")
        found.flag(table, empty.reindex(table.frame.index), PREDICTION_ID, "must not be empty")
    problems = pd.concat(found.problems, ignore_index=True) if found.problems else None
    no_clone = pd.DataFrame({"run_id": pd.Series(dtype=str), "clone_id": pd.Series(dtype=str)})
    rejects = empty_rejects() if problems is None else reasons_per_run(problems, no_clone)
    kept = table.frame[~isin_text(table.frame["run_id"], rejects["run_id"]).to_numpy()]
    lines = source.locate(kept.index.to_numpy())
    typed = _typed(table, kept, where)
    typed.insert(1, "line", lines)
    if ids is not None:
        typed.insert(1, PREDICTION_ID, ids.loc[kept.index].astype(str).str.strip().to_numpy())
    return CheckedTables({"outcomes": typed}, rejects, tuple(found.notes))
