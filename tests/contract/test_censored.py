"""Flags and censored lab values are read as documented; only real text is left as text."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from features.contract.censored import (
    ABOVE,
    BELOW,
    CENSORED,
    EMPTY,
    FLAG_TOKENS,
    FLAGGED,
    NUMBER,
    TEXT,
    parse_cells,
)


@pytest.mark.parametrize(
    "cell,value,kind",
    [
        ("1.5", 1.5, NUMBER),
        (" 2e-3 ", 0.002, NUMBER),
        ("", np.nan, EMPTY),
        ("   ", np.nan, EMPTY),
        ("#N/A", np.nan, FLAGGED),
        ("n.a.", np.nan, FLAGGED),
        ("-", np.nan, FLAGGED),
        ("n.d.", np.nan, CENSORED),
        ("ND", np.nan, CENSORED),
        ("< LOQ", np.nan, CENSORED),
        ("<lod", np.nan, CENSORED),
        ("Below LOQ", np.nan, CENSORED),
        ("BLQ", np.nan, CENSORED),
        ("<0.5", 0.25, BELOW),
        ("≤ 4", 2.0, BELOW),
        ("<=1e-2", 0.005, BELOW),
        (">300", 300.0, ABOVE),
        ("≥ 2.5", 2.5, ABOVE),
        (">=.5", 0.5, ABOVE),
        ("5,2", np.nan, TEXT),
        ("ten", np.nan, TEXT),
        ("<", np.nan, TEXT),
        ("<LOQ 0.5", np.nan, TEXT),
        ("inf", np.nan, TEXT),
    ],
)
def test_each_token(cell: str, value: float, kind: str) -> None:
    parsed = parse_cells(pd.Series([cell], dtype="str"))
    np.testing.assert_equal(parsed.value.iloc[0], value)
    assert parsed.kind.iloc[0] == kind


@pytest.mark.parametrize("token", sorted(FLAG_TOKENS))
def test_every_flag_token_reads_as_missing(token: str) -> None:
    parsed = parse_cells(pd.Series([token, "1"], dtype="str"))
    assert parsed.kind.tolist() == [FLAGGED, NUMBER]
    assert np.isnan(parsed.value.iloc[0])


def test_input_is_not_changed_and_index_is_kept() -> None:
    cells = pd.Series(["<0.5", "3", None], index=[10, 20, 30], dtype="str")
    before = cells.copy()
    parsed = parse_cells(cells)
    pd.testing.assert_series_equal(cells, before)
    assert list(parsed.value.index) == [10, 20, 30]
    assert parsed.value.dtype == np.float64
    assert parsed.kind.tolist() == [BELOW, NUMBER, EMPTY]


def test_numbers_and_mixed_objects() -> None:
    floats = parse_cells(pd.Series([1.0, np.nan, np.inf]))
    assert floats.kind.tolist() == [NUMBER, EMPTY, TEXT]
    mixed = parse_cells(pd.Series([0.25, "<2", None, "n/a"], dtype=object))
    np.testing.assert_equal(mixed.value.to_numpy(), [0.25, 1.0, np.nan, np.nan])
    assert mixed.kind.tolist() == [NUMBER, BELOW, EMPTY, FLAGGED]


def test_a_large_column_is_parsed_in_one_vectorised_pass() -> None:
    n = 150_000
    rng = np.random.default_rng(0)
    cells = pd.Series(np.round(rng.uniform(0, 10, n), 3).astype(str), dtype="str")
    cells.iloc[::1000] = "<LOQ"
    cells.iloc[1::1000] = "<0.4"
    t0 = time.perf_counter()
    parsed = parse_cells(cells)
    assert time.perf_counter() - t0 < 2.0
    assert parsed.count(CENSORED) == parsed.count(BELOW) == n // 1000
    assert parsed.value.iloc[1] == pytest.approx(0.2)
    assert parsed.count(NUMBER) == n - 2 * (n // 1000)
