"""Load a campaign folder (CSV or Parquet) and hold it to the data contract.

Every problem found is collected, then raised as one :class:`ContractError` that names the
file, the column, the rule broken and the offending rows (the first few, and how many).
Rows are numbered as a person finds them: the line in a CSV file (the header is line 1),
the 1-based row in a Parquet file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa

from features.schemas import CONTRACTS, TABLE_NAMES, build_schema

MAX_ROWS_SHOWN = 5
NUMERIC_SHARE_FOR_EXTRA = 0.8  # an extra clones/runs column this numeric must be all numeric


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
    """A campaign folder that breaks the data contract; ``violations`` lists each problem."""

    def __init__(self, folder: Path | str, violations: list[Violation]):
        self.folder = str(folder)
        self.violations = violations
        lines = [
            f"{self.folder} breaks the clonescout data contract "
            f"({len(violations)} problem{'s' if len(violations) > 1 else ''}):"
        ]
        lines += [f"  - {v}" for v in violations]
        lines.append("  See data/README.md for the tables, columns, units and bounds.")
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class CampaignData:
    """The validated tables of one campaign folder (``outcomes``/``truth`` may be None)."""

    folder: Path
    clones: pd.DataFrame
    runs: pd.DataFrame
    samples: pd.DataFrame
    outcomes: pd.DataFrame | None
    truth: pd.DataFrame | None = None
    files: dict[str, Path] = field(default_factory=dict)

    def tables(self) -> dict[str, pd.DataFrame]:
        out = {"clones": self.clones, "runs": self.runs, "samples": self.samples}
        if self.outcomes is not None:
            out["outcomes"] = self.outcomes
        if self.truth is not None:
            out["truth"] = self.truth
        return out


def _locate(folder: Path, name: str) -> tuple[Path | None, Violation | None]:
    found = [p for p in (folder / f"{name}.csv", folder / f"{name}.parquet") if p.exists()]
    if len(found) > 1:
        return None, Violation(
            f"{name}.csv / {name}.parquet", None, "both formats are present; keep exactly one"
        )
    return (found[0], None) if found else (None, None)


def _read(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype=str, keep_default_na=True)
    return pd.read_parquet(path)


def _locator(path: Path, index: np.ndarray) -> tuple[np.ndarray, str]:
    """File position of frame rows: CSV line (header = 1) or 1-based Parquet row."""
    if path.suffix == ".csv":
        return index + 2, "line"
    return index + 1, "row"


def _numeric_columns(df: pd.DataFrame, table: str) -> list[str]:
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


def _failure_violations(
    path: Path, err: pa.errors.SchemaErrors, key: tuple[str, ...]
) -> list[Violation]:
    fc = err.failure_cases
    out: list[Violation] = []
    fc = fc[~fc["check"].astype(str).str.startswith("dtype(")]  # follows a coerce failure
    for (column, check), grp in fc.groupby(["column", "check"], dropna=False, sort=False):
        check = str(check)
        if check == "column_in_dataframe":
            for missing in grp["failure_case"]:
                out.append(Violation(path.name, str(missing), "required column is missing"))
            continue
        if check == "multiple_fields_uniqueness":
            continue  # reported once per key below
        grp = grp[grp["index"].notna()]
        if grp.empty:
            continue
        idx = np.sort(grp["index"].astype(int).unique())
        where, word = _locator(path, idx)
        examples = grp.drop_duplicates("index").set_index("index").loc[idx, "failure_case"]
        if check.startswith("coerce_dtype"):
            rule = "must be a number; found text"
        else:
            rule = _RULES.get(check, f"must be {check}")
        out.append(
            Violation(
                path.name,
                None if pd.isna(column) else str(column),
                rule,
                tuple(int(w) for w in where[:MAX_ROWS_SHOWN]),
                len(idx),
                tuple(repr(x) for x in examples.iloc[:MAX_ROWS_SHOWN]),
                word,
            )
        )
    dup = fc[fc["check"] == "multiple_fields_uniqueness"]
    if not dup.empty:
        idx = np.sort(dup["index"].astype(int).unique())
        where, word = _locator(path, idx)
        out.append(
            Violation(
                path.name,
                ", ".join(key),
                f"duplicate key: ({', '.join(key)}) must be unique",
                tuple(int(w) for w in where[:MAX_ROWS_SHOWN]),
                len(idx),
                (),
                word,
            )
        )
    return out


def _row_violation(
    path: Path, column: str, rule: str, mask: np.ndarray, values: pd.Series
) -> Violation:
    idx = np.flatnonzero(mask)
    where, word = _locator(path, idx)
    return Violation(
        path.name,
        column,
        rule,
        tuple(int(w) for w in where[:MAX_ROWS_SHOWN]),
        len(idx),
        tuple(repr(v) for v in values.iloc[idx[:MAX_ROWS_SHOWN]]),
        word,
    )


def _cross_table(raw: dict[str, pd.DataFrame], paths: dict[str, Path]) -> list[Violation]:
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
        orphan = ~c[col].isin(set(p[pcol].dropna())) & c[col].notna()
        if orphan.any():
            out.append(
                _row_violation(
                    paths[child],
                    col,
                    f"refers to a {col} that {paths[parent].name} does not have",
                    orphan.to_numpy(),
                    c[col],
                )
            )
    s = raw.get("samples")
    if s is not None and {"run_id", "day"} <= set(s.columns):
        day = pd.to_numeric(s["day"], errors="coerce")
        prev = day.groupby(s["run_id"], sort=False).shift(1)
        unsorted = (day < prev).to_numpy()
        if unsorted.any():
            out.append(
                _row_violation(
                    paths["samples"],
                    "day",
                    "days must increase within each run (sort samples by run_id, then day)",
                    unsorted,
                    day,
                )
            )
    return out


def load_campaign(folder: str | Path, require_outcomes: bool = False) -> CampaignData:
    """Read and validate a campaign folder; raise :class:`ContractError` on any problem."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ContractError(
            folder, [Violation(str(folder), None, "is not a folder of campaign tables")]
        )
    violations: list[Violation] = []
    paths: dict[str, Path] = {}
    raw: dict[str, pd.DataFrame] = {}
    for name in TABLE_NAMES:
        path, problem = _locate(folder, name)
        if problem:
            violations.append(problem)
            continue
        if path is None:
            if name != "outcomes" or require_outcomes:
                violations.append(
                    Violation(
                        f"{name}.csv",
                        None,
                        f"missing: the '{name}' table is required ({name}.csv or {name}.parquet)",
                    )
                )
            continue
        try:
            raw[name] = _read(path).reset_index(drop=True)
        except Exception as exc:  # unreadable file: report it with the others
            violations.append(Violation(path.name, None, f"cannot be read ({exc})"))
            continue
        paths[name] = path

    valid: dict[str, pd.DataFrame] = {}
    for name, df in raw.items():
        schema = build_schema(name, _numeric_columns(df, name))
        try:
            valid[name] = schema.validate(df, lazy=True)
        except pa.errors.SchemaErrors as err:
            violations += _failure_violations(paths[name], err, CONTRACTS[name].key)
    violations += _cross_table(raw, paths)
    if violations:
        raise ContractError(folder, violations)

    truth = None
    truth_path, _ = _locate(folder, "truth")
    if truth_path is not None:
        truth = _read(truth_path)
        truth["run_id"] = truth["run_id"].astype(str)
        paths["truth"] = truth_path
    return CampaignData(
        folder,
        valid["clones"],
        valid["runs"],
        valid["samples"],
        valid.get("outcomes"),
        truth,
        paths,
    )
