"""The vocabulary of the data contract: where a row is, what rule it breaks, the error.

A :class:`Source` turns a frame row into the line (CSV) or row (Parquet) a person finds it
at; a :class:`Violation` is one rule broken in one column of one file; a
:class:`ContractError` refuses a whole dataset for *structural* problems only (a missing
table or column, an unreadable file, a column in the wrong unit or layout throughout, no run
left). Per-run problems set the run aside instead (:mod:`features.contract.checks`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.contract.censored import ABOVE, BELOW, NUMBER, TEXT, parse_cells
from features.contract.schemas import CONTRACTS

MAX_ROWS_SHOWN = 5
NUMERIC_SHARE_FOR_EXTRA = 0.8  # an extra clones/runs column this numeric is a numeric one


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

    def where(self, index: pd.Index | np.ndarray) -> tuple[str, str, np.ndarray]:
        """(file, row word, line numbers) of frame rows ``index`` (positions as read)."""
        return self.name, self.row_word, self.locate(np.asarray(index, dtype=int))


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
    """Columns of ``df`` that the contract wants numeric (known, required, extras).

    An extra column of ``clones`` or ``runs`` is numeric when at least 80% of the cells
    that hold something (censored values count as numbers, flags as nothing) are numbers;
    otherwise it is a text label such as a medium name.
    """
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
            continue
        kind = parse_cells(df[col]).kind
        numbers = int(kind.isin((NUMBER, BELOW, ABOVE)).sum())
        judged = numbers + int((kind == TEXT).sum())
        if numbers and numbers / judged >= NUMERIC_SHARE_FOR_EXTRA:
            out.append(col)
    return out
