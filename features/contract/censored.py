"""Read lab cells as numbers: flags, censored values and plain text, told apart per cell.

Lab exports write more than numbers into numeric columns: flags for a value that is not
there (``NA``, ``n/a``, ``#N/A``), results below a quantitation limit whose limit is not
given (``<LOQ``, ``n.d.``, ``BLQ``), and results given against a stated limit (``<0.5``,
``>300``). :func:`parse_cells` turns a whole column into floats in one vectorised pass and
says, per cell, which of these it was, so that the loader can count what it read and
treat only real text (``'5,2'``, ``'ten'``) as a contract violation.

A value below a stated limit x is read as x/2, the common LOD/2 substitution (Hornung &
Reed 1990, "Estimation of average concentration in the presence of nondetectable values",
Appl. Occup. Environ. Hyg. 5:46-51): it keeps the run, biases the column little when few
values are censored, and is what analysts expect. A value above a stated limit is read as
the limit (a conservative floor, e.g. a titer above the top of the calibration curve).

>>> parsed = parse_cells(pd.Series(["1.5", "", "NA", "<LOQ", "<0.5", ">=300", "5,2"]))
>>> parsed.value.tolist()
[1.5, nan, nan, nan, 0.25, 300.0, nan]
>>> parsed.kind.tolist()  # doctest: +NORMALIZE_WHITESPACE
['number', 'empty', 'flagged missing', 'censored below an unknown limit',
 'censored below x, read as half the limit', 'censored above x, read as the limit', 'text']
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

NUMBER = "number"
EMPTY = "empty"
FLAGGED = "flagged missing"
CENSORED = "censored below an unknown limit"
BELOW = "censored below x, read as half the limit"
ABOVE = "censored above x, read as the limit"
TEXT = "text"
KINDS = (NUMBER, EMPTY, FLAGGED, CENSORED, BELOW, ABOVE, TEXT)

# what a person reads in a note: how each kind of cell was taken
TREATMENT = {
    FLAGGED: "read as missing (flagged missing)",
    CENSORED: "read as missing (censored below an unknown limit)",
    BELOW: "read as half the limit x/2 (censored below x, the LOD/2 substitution)",
    ABOVE: "read as the limit x (censored above x)",
}

# matched exactly after stripping spaces at both ends
FLAG_TOKENS = frozenset(
    ("NA", "N/A", "n/a", "NaN", "nan", "null", "NULL", "None", "-", "#N/A", "n.a.")
)
# matched case-insensitively with every space removed: '< LOQ' and 'Below LOQ' count too
CENSORED_TOKENS = frozenset(("n.d.", "nd", "blq", "bloq", "<loq", "<lod", "belowloq"))
_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_LIMIT = rf"^(?P<op><=|≤|<|>=|≥|>)\s*(?P<x>{_NUMBER})$"
_BELOW_OPS = ("<", "<=", "≤")


@dataclass(frozen=True)
class ParsedCells:
    """Numbers read from a column, and what each cell was.

    ``value`` is float64 (NaN where nothing numeric was read); ``kind`` holds one of
    :data:`KINDS` per cell as a categorical, aligned on the input's index.
    """

    value: pd.Series
    kind: pd.Series

    def count(self, kind: str) -> int:
        return int((self.kind == kind).sum())


KIND_DTYPE = pd.CategoricalDtype(list(KINDS))


def _kinds(codes: np.ndarray, index: pd.Index) -> pd.Series:
    int_codes: np.ndarray[tuple[int], np.dtype[np.int8]] = np.asarray(codes, dtype=np.int8)
    return pd.Series(pd.Categorical.from_codes(int_codes, dtype=KIND_DTYPE), index=index)


def _code(kind: str) -> int:
    return KINDS.index(kind)


def _tokens(text: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Kind codes and values of cells that are neither empty nor a plain number (few)."""
    squeezed = text.str.lower().str.replace(r"\s+", "", regex=True)
    limit = text.str.extract(_LIMIT)
    x = pd.to_numeric(limit["x"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    below = limit["op"].isin(_BELOW_OPS).to_numpy()
    above = limit["op"].notna().to_numpy() & ~below
    flagged = text.isin(FLAG_TOKENS).to_numpy()
    censored = squeezed.isin(CENSORED_TOKENS).to_numpy() & ~flagged
    codes = np.select(
        [flagged, censored, below, above],
        [_code(FLAGGED), _code(CENSORED), _code(BELOW), _code(ABOVE)],
        default=_code(TEXT),
    )
    value = np.where(below, x / 2.0, np.where(above, x, np.nan))
    return codes, value


def _floats(text: pd.Series, empty: np.ndarray) -> np.ndarray:
    """Plain numbers of stripped text cells, NaN where there is none.

    Arrow's string-to-double cast (correctly rounded, like ``pd.to_numeric``) reads a
    clean column in milliseconds; a column with any non-number falls back to pandas.
    """
    try:
        cast = pa.array(text.mask(empty), type=pa.string()).cast(pa.float64())
        return np.array(cast.to_numpy(zero_copy_only=False), dtype="float64")
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        num = pd.to_numeric(text.mask(empty), errors="coerce")
        return np.array(num.to_numpy(dtype="float64", na_value=np.nan), dtype="float64")


def parse_cells(values: pd.Series) -> ParsedCells:
    """Read a column of lab cells as numbers, saying per cell what was found.

    Parameters
    ----------
    values
        Cells as read (text from a CSV read with ``dtype=str``, or numbers from Parquet).
        Units are untouched: a censored limit is in the column's own unit.

    Returns
    -------
    ParsedCells
        ``value``: plain numbers as they are; ``<x``/``≤x``/``<=x`` as x/2 (LOD/2,
        Hornung & Reed 1990); ``>x``/``≥x``/``>=x`` as x; empty cells, flags
        (:data:`FLAG_TOKENS`) and limits without a number (:data:`CENSORED_TOKENS`) as NaN;
        other text as NaN with kind ``'text'`` for the caller to report.

    Only cells that do not parse as plain numbers go through the token rules, so a
    clean 150,000-row column costs one ``pd.to_numeric`` call.

    >>> p = parse_cells(pd.Series(["n.d.", " < 2 ", "≤1e-3", "> 5", "#N/A", "BLOQ", "inf"]))
    >>> p.value.tolist()
    [nan, 1.0, 0.0005, 5.0, nan, nan, nan]
    >>> p.kind.tolist()[-1], p.count("censored below an unknown limit")
    ('text', 2)
    >>> parse_cells(pd.Series([1.0, None])).kind.tolist()
    ['number', 'empty']
    """
    index = values.index
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        num = values.to_numpy(dtype="float64", na_value=np.nan)
        finite = np.isfinite(num)
        codes = np.where(finite, _code(NUMBER), np.where(np.isnan(num), _code(EMPTY), _code(TEXT)))
        return ParsedCells(
            pd.Series(np.where(finite, num, np.nan), index=index), _kinds(codes, index)
        )
    text = values.astype("str").str.strip()
    empty = (text.isna() | text.eq("")).to_numpy()
    value = _floats(text, empty)
    number = np.isfinite(value)
    codes = np.where(number, _code(NUMBER), np.where(empty, _code(EMPTY), _code(TEXT)))
    value[~number] = np.nan
    rest = np.flatnonzero(~number & ~empty)
    if len(rest):
        codes[rest], value[rest] = _tokens(text.iloc[rest])
    return ParsedCells(pd.Series(value, index=index, dtype="float64"), _kinds(codes, index))
