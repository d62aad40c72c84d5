"""Hold in-memory tables to the data contract and explain every violation at once.

Used by the folder loader (:mod:`features.loader`) and by the import mappings
(:mod:`features.mapping`), so a foreign file's errors point at *its* lines.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.pandas as pa

from features.schemas import CONTRACTS, build_schema

MAX_ROWS_SHOWN = 5
NUMERIC_SHARE_FOR_EXTRA = 0.8  # an extra clones/runs column this numeric must be all numeric


@dataclass(frozen=True)
class Source:
    """Where a table's rows came from, to point a person at the right line.

    ``lines`` maps frame row i to the line (or row) a person finds it at; without it, a CSV
    row i is line i + 2 (the header is line 1) and a Parquet row is row i + 1.
    """

    name: str
    lines: np.ndarray | None = None
    row_word: str = "line"

    @classmethod
    def for_file(cls, file_name: str) -> Source:
        return cls(file_name, None, "line" if file_name.endswith(".csv") else "row")

    def locate(self, index: np.ndarray) -> np.ndarray:
        if self.lines is not None:
            return self.lines[index]
        return index + (2 if self.row_word == "line" else 1)


@dataclass(frozen=True)
class Violation:
    """One rule broken in one column of one file."""

    file: str
    column: str | None
    rule: str
    rows: tuple[int, ...] = ()  # line (CSV) or row (Parquet) numbers, first few
    count: int = 0
    examples: tuple[str, ...] = ()
    row_word: str = "line"

    @classmethod
    def at_rows(
        cls, source: Source, column: str | None, rule: str, index: np.ndarray, examples=()
    ) -> Violation:
        where = source.locate(np.asarray(index, dtype=int))
        return cls(
            source.name,
            column,
            rule,
            tuple(int(w) for w in where[:MAX_ROWS_SHOWN]),
            len(index),
            tuple(repr(x) for x in list(examples)[:MAX_ROWS_SHOWN]),
            source.row_word,
        )

    def __str__(self) -> str:
        where = self.file + (f", column '{self.column}'" if self.column else "")
        text = f"{where}: {self.rule}"
        if self.count:
            shown = ", ".join(
                f"{r} ({e})" if e else str(r)
                for r, e in zip(self.rows, self.examples or ("",) * len(self.rows), strict=False)
            )
            more = f" and {self.count - len(self.rows)} more" if self.count > len(self.rows) else ""
            noun = self.row_word + ("s" if self.count > 1 else "")
            text += f" [{self.count} {noun}: {shown}{more}]"
        return text


class ContractError(ValueError):
    """Campaign data that breaks the data contract; ``violations`` lists each problem."""

    def __init__(self, where: object, violations: list[Violation]):
        self.folder = str(where)
        self.violations = violations
        plural = "s" if len(violations) > 1 else ""
        lines = [
            f"{self.folder} breaks the clonescout data contract "
            f"({len(violations)} problem{plural}):"
        ]
        lines += [f"  - {v}" for v in violations]
        lines.append("  See data/README.md for the tables, columns, units and bounds.")
        super().__init__("\n".join(lines))


def numeric_columns(df: pd.DataFrame, table: str) -> list[str]:
    """Columns of ``df`` that the contract wants numeric (known, required, extras)."""
    contract = CONTRACTS[table]
    out = []
    for col in df.columns:
        if col in contract.required_text:
            continue
        if (
            col in contract.required_numeric
            or col in contract.known_numeric
            or contract.extra_must_be_numeric
        ):
            out.append(col)
        else:
            values = df[col].dropna()
            parsed = pd.to_numeric(values, errors="coerce")
            if len(values) and parsed.notna().mean() >= NUMERIC_SHARE_FOR_EXTRA:
                out.append(col)
    return out


_RULES = {
    "not_nullable": "must not be empty",
    "str_length(1, None)": "must not be an empty string",
}


def _schema_violations(
    source: Source, err: pa.errors.SchemaErrors, key: tuple[str, ...]
) -> list[Violation]:
    fc = err.failure_cases
    fc = fc[~fc["check"].astype(str).str.startswith("dtype(")]  # follows a coerce failure
    out: list[Violation] = []
    for (column, check), grp in fc.groupby(["column", "check"], dropna=False, sort=False):
        check = str(check)
        if check == "column_in_dataframe":
            out += [
                Violation(source.name, str(m), "required column is missing")
                for m in grp["failure_case"]
            ]
            continue
        if check == "multiple_fields_uniqueness":
            continue  # reported once per key below
        grp = grp[grp["index"].notna()]
        if grp.empty:
            continue
        idx = np.sort(grp["index"].astype(int).unique())
        examples = grp.drop_duplicates("index").set_index("index").loc[idx, "failure_case"]
        if check.startswith("coerce_dtype"):
            rule = "must be a number; found text"
        else:
            rule = _RULES.get(check, f"must be {check}")
        col = None if pd.isna(column) else str(column)
        out.append(Violation.at_rows(source, col, rule, idx, examples))
    dup = fc[fc["check"] == "multiple_fields_uniqueness"]
    if not dup.empty:
        idx = np.sort(dup["index"].astype(int).unique())
        rule = f"duplicate key: ({', '.join(key)}) must be unique"
        out.append(Violation.at_rows(source, ", ".join(key), rule, idx))
    return out


def _cross_table(raw: dict[str, pd.DataFrame], sources: dict[str, Source]) -> list[Violation]:
    """Orphans (ids that the parent table lacks) and unsorted sample days."""
    out = []
    links = (
        ("runs", "clone_id", "clones", "clone_id"),
        ("samples", "run_id", "runs", "run_id"),
        ("outcomes", "run_id", "runs", "run_id"),
    )
    for child, col, parent, pcol in links:
        if child not in raw or parent not in raw:
            continue
        c, p = raw[child], raw[parent]
        if col not in c.columns or pcol not in p.columns:
            continue
        orphan = (~c[col].isin(set(p[pcol].dropna())) & c[col].notna()).to_numpy()
        if orphan.any():
            idx = np.flatnonzero(orphan)
            rule = f"refers to a {col} that {sources[parent].name} does not have"
            out.append(Violation.at_rows(sources[child], col, rule, idx, c[col].iloc[idx]))
    s = raw.get("samples")
    if s is not None and {"run_id", "day"} <= set(s.columns):
        day = pd.to_numeric(s["day"], errors="coerce")
        prev = day.groupby(s["run_id"], sort=False).shift(1)
        unsorted = (day < prev).to_numpy()
        if unsorted.any():
            idx = np.flatnonzero(unsorted)
            rule = "days must increase within each run (sort samples by run_id, then day)"
            out.append(Violation.at_rows(sources["samples"], "day", rule, idx, day.iloc[idx]))
    return out


def validate_tables(
    raw: dict[str, pd.DataFrame],
    sources: dict[str, Source],
    where: object,
    violations: list[Violation] | None = None,
) -> dict[str, pd.DataFrame]:
    """Coerce and check each table and the links between them.

    Returns the typed tables, or raises one :class:`ContractError` listing the problems
    found here plus any ``violations`` the caller already collected.
    """
    found = list(violations or [])
    valid: dict[str, pd.DataFrame] = {}
    for name, df in raw.items():
        schema = build_schema(name, numeric_columns(df, name))
        try:
            valid[name] = schema.validate(df, lazy=True)
        except pa.errors.SchemaErrors as err:
            found += _schema_violations(sources[name], err, CONTRACTS[name].key)
    found += _cross_table(raw, sources)
    if found:
        raise ContractError(where, found)
    return valid
