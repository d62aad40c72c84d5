"""Content fingerprints of runs, to recognise runs a model was trained on.

A run's fingerprint hashes what the model sees of it: its samples up to the horizon day
(day and every measurement the featurizer knows) and its run and clone attributes, with
numbers rounded to 6 decimals so that a CSV round trip does not change it. Row order and
extra columns do not matter. Scoring a run whose fingerprint (or run id) is in the
training set gives an in-sample figure, which must never be reported as quality.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from features.early import DAY_TOLERANCE, EarlyFeatures

SEEN_SAME = "same run as in training"
SEEN_ID_ONLY = "run id seen in training, with other data"
DECIMALS = 6


def _content_columns(featurizer: EarlyFeatures) -> list[str]:
    attrs = list(featurizer.numeric_attrs_) + list(featurizer.categories_)
    return ["day", *featurizer.measurements_, *attrs]


def fingerprints(frame: pd.DataFrame, featurizer: EarlyFeatures) -> pd.Series:
    """run_id -> 16-hex-digit fingerprint of the run's content up to the horizon."""
    early = frame["day"].to_numpy(float) <= featurizer.horizon_day + DAY_TOLERANCE
    rows = np.flatnonzero(early)
    # what the featurizer reads as numbers is hashed as numbers whatever the column's dtype:
    # a batch whose one run lacks a clone assay gives that column object dtype, and hashing
    # it as text made a training run look like "seen, with other data"
    numeric = {"day", *featurizer.measurements_, *featurizer.numeric_attrs_}
    columns = _content_columns(featurizer)
    content = [_content(frame, c, rows, c in numeric) for c in columns]
    # a number's hash depends on the number alone: every float column is hashed in one call
    floats = [i for i, x in enumerate(content) if isinstance(x, np.ndarray)]
    hashes: list[np.ndarray | None] = [None] * len(columns)
    if floats:
        block = pd.util.hash_array(np.concatenate([content[i] for i in floats]))
        for j, i in enumerate(floats):
            hashes[i] = block[j * len(rows) : (j + 1) * len(rows)]
    hashed = (
        h if h is not None else _element_hash(x) for h, x in zip(hashes, content, strict=True)
    )
    row_hashes = row_hash(hashed, len(columns), len(rows))
    run_ids = frame["run_id"].astype(str).to_numpy()[rows]
    uniq, codes = np.unique(run_ids, return_inverse=True)
    total = np.zeros(len(uniq), dtype=np.uint64)
    np.add.at(total, codes, row_hashes)  # order-free; wraps modulo 2**64
    return pd.Series([f"{int(h):016x}" for h in total], index=pd.Index(uniq, name="run_id"))


def _content(
    frame: pd.DataFrame, column: str, rows: np.ndarray, numeric: bool
) -> np.ndarray | pd.Series:
    """``column`` at ``rows`` as it is hashed (:func:`_hashed_column`).

    An absent column is all missing, as a reindex gives it; a float column is read as an
    array (no Series per column for a single run).
    """
    if column not in frame.columns:
        return _hashed_column(pd.Series(np.full(len(rows), np.nan)), numeric)
    col = frame[column]
    if numeric and col.dtype == np.float64:
        return np.round(col.to_numpy()[rows], DECIMALS)
    return _hashed_column(col if len(rows) == len(col) else col.take(rows), numeric)


def _element_hash(values: np.ndarray | pd.Series) -> np.ndarray:
    """Each element's hash, as ``hash_pandas_object`` takes it from a frame's column."""
    if isinstance(values, pd.Series):  # text: its extension array, as pandas hashes it
        return pd.util.hash_array(
            values.to_numpy() if isinstance(values.dtype, np.dtype) else values.array
        )
    return pd.util.hash_array(values)


def row_hash(columns: Iterable[np.ndarray], n_columns: int, n_rows: int) -> np.ndarray:
    """One uint64 per row from each column's element hashes, as pandas combines a frame's.

    The rule of ``pd.util.hash_pandas_object(frame, index=False)`` (CPython's tuple hash:
    xor, multiply, a multiplier that moves with the position), applied to the column hashes
    directly so that no frame is built for them; fingerprints stored in a bundle stay
    valid. A test holds it to pandas.
    """
    out = np.full(n_rows, 0x345678, dtype=np.uint64)
    mult = np.uint64(1000003)
    seen = 0
    for i, h in enumerate(columns):
        left = n_columns - i
        out ^= h
        out *= mult
        mult += np.uint64(82520 + left + left)
        seen += 1
    if seen != n_columns:
        raise ValueError(f"row_hash: {seen} columns given, {n_columns} announced")
    return out + np.uint64(97531)


def by_content(training: dict[str, str]) -> dict[str, str]:
    """Fingerprint -> the first training run with that content."""
    first: dict[str, str] = {}
    for run_id, fp in training.items():
        first.setdefault(fp, run_id)
    return first


def _hashed_column(column: pd.Series, numeric: bool) -> np.ndarray | pd.Series:
    """A column as it is hashed: numbers as float64 rounded to DECIMALS, the rest as text.

    A float column is rounded as it is (the common case, and the cheap one for a single
    run); anything else is read as numbers first, a cell that is not one becoming NaN.
    """
    if not numeric:
        return column.astype(str)
    if column.dtype == np.float64:
        return np.round(column.to_numpy(), DECIMALS)
    return np.round(pd.to_numeric(column, errors="coerce").astype(float).to_numpy(), DECIMALS)


def seen_in_training(
    scored: pd.Series, training: dict[str, str], content: dict[str, str] | None = None
) -> list[str]:
    """Per scored run: how it relates to the training runs ("" = not seen).

    ``content``: :func:`by_content` of ``training``, when the caller keeps it.
    """
    content = by_content(training) if content is None else content
    out = []
    for key, fp in scored.items():
        run_id = str(key)
        if training.get(run_id) == fp:
            out.append(SEEN_SAME)
        elif run_id in training:
            out.append(SEEN_ID_ONLY)
        elif fp in content:
            out.append(f"same data as training run {content[fp]}")
        else:
            out.append("")
    return out
