"""Each way a campaign folder can break the data contract gives one actionable error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.loader import MAX_ROWS_SHOWN, ContractError, load_campaign


def _edit(folder: Path, table: str, change) -> None:
    path = folder / f"{table}.csv"
    df = pd.read_csv(path, dtype=str)
    change(df).to_csv(path, index=False)


def _violation(err: ContractError, file: str, column: str):
    hits = [v for v in err.violations if v.file == file and v.column == column]
    assert hits, f"no violation for {file}/{column} in:\n{err}"
    return hits[0]


def test_valid_folder_loads_with_typed_columns(small_set_dir: Path) -> None:
    data = load_campaign(small_set_dir, require_outcomes=True)
    assert len(data.runs) == 16
    assert data.outcomes is not None and len(data.outcomes) == 16
    assert data.samples["day"].dtype == np.float64
    assert data.samples["vcd_e6_ml"].dtype == np.float64
    assert data.truth is not None


def test_missing_column_names_file_and_column(small_set_dir: Path) -> None:
    _edit(small_set_dir, "runs", lambda df: df.drop(columns=["scale"]))
    with pytest.raises(ContractError) as exc:
        load_campaign(small_set_dir)
    v = _violation(exc.value, "runs.csv", "scale")
    assert "required column is missing" in v.rule
    assert "runs.csv, column 'scale'" in str(exc.value)


def test_duplicate_key_lists_lines_and_count(small_set_dir: Path) -> None:
    _edit(small_set_dir, "clones", lambda df: pd.concat([df, df.iloc[[2, 3]]]))
    with pytest.raises(ContractError) as exc:
        load_campaign(small_set_dir)
    v = _violation(exc.value, "clones.csv", "clone_id")
    assert "duplicate key" in v.rule
    assert v.count == 4  # both copies of two clones
    assert v.rows[:2] == (4, 5)  # line 1 is the header: rows 2 and 3 are lines 4 and 5


def test_orphan_run_is_named(small_set_dir: Path) -> None:
    def orphan(df: pd.DataFrame) -> pd.DataFrame:
        df.loc[5, "clone_id"] = "C09-K999"
        return df

    _edit(small_set_dir, "runs", orphan)
    with pytest.raises(ContractError) as exc:
        load_campaign(small_set_dir)
    v = _violation(exc.value, "runs.csv", "clone_id")
    assert "clones.csv does not have" in v.rule
    assert v.rows == (7,) and v.examples == ("'C09-K999'",)


def test_text_in_numeric_column(small_set_dir: Path) -> None:
    def text(df: pd.DataFrame) -> pd.DataFrame:
        df.loc[[3, 40], "ammonia_mm"] = ["<LOQ", "5,2"]  # "n/a" and "" stay missing values
        return df

    _edit(small_set_dir, "samples", text)
    with pytest.raises(ContractError) as exc:
        load_campaign(small_set_dir)
    v = _violation(exc.value, "samples.csv", "ammonia_mm")
    assert v.rule == "must be a number; found text"
    assert v.rows == (5, 42) and v.examples == ("'<LOQ'", "'5,2'")


def test_negative_concentration_states_the_bound(small_set_dir: Path) -> None:
    def negative(df: pd.DataFrame) -> pd.DataFrame:
        df.loc[10, "glucose_g_l"] = "-0.4"
        return df

    _edit(small_set_dir, "samples", negative)
    with pytest.raises(ContractError) as exc:
        load_campaign(small_set_dir)
    v = _violation(exc.value, "samples.csv", "glucose_g_l")
    assert ">= 0" in v.rule and "cannot be negative" in v.rule
    assert v.rows == (12,) and v.examples == ("-0.4",)


def test_unsorted_days_within_a_run(small_set_dir: Path) -> None:
    def swap(df: pd.DataFrame) -> pd.DataFrame:
        df.loc[[4, 5]] = df.loc[[5, 4]].to_numpy()
        return df

    _edit(small_set_dir, "samples", swap)
    with pytest.raises(ContractError) as exc:
        load_campaign(small_set_dir)
    v = _violation(exc.value, "samples.csv", "day")
    assert "days must increase within each run" in v.rule
    assert v.rows == (7,)


def test_duplicate_days_within_a_run(small_set_dir: Path) -> None:
    def dup(df: pd.DataFrame) -> pd.DataFrame:
        df.loc[6, "day"] = df.loc[5, "day"]
        return df

    _edit(small_set_dir, "samples", dup)
    with pytest.raises(ContractError) as exc:
        load_campaign(small_set_dir)
    v = _violation(exc.value, "samples.csv", "run_id, day")
    assert "duplicate key" in v.rule and v.rows == (7, 8) and v.count == 2


def test_many_bad_rows_show_first_few_and_the_count(small_set_dir: Path) -> None:
    def negative(df: pd.DataFrame) -> pd.DataFrame:
        df.loc[0:49, "viability_pct"] = "140"
        return df

    _edit(small_set_dir, "samples", negative)
    with pytest.raises(ContractError) as exc:
        load_campaign(small_set_dir)
    v = _violation(exc.value, "samples.csv", "viability_pct")
    assert v.count == 50 and len(v.rows) == MAX_ROWS_SHOWN
    assert "and 45 more" in str(exc.value)


def test_all_problems_reported_at_once(small_set_dir: Path) -> None:
    _edit(small_set_dir, "runs", lambda df: df.drop(columns=["scale"]))
    _edit(small_set_dir, "clones", lambda df: df.drop(columns=["molecule"]))
    with pytest.raises(ContractError) as exc:
        load_campaign(small_set_dir)
    assert {(v.file, v.column) for v in exc.value.violations} >= {
        ("runs.csv", "scale"),
        ("clones.csv", "molecule"),
    }
    assert "2 problems" in str(exc.value)


def test_missing_table_and_missing_outcomes(small_set_dir: Path) -> None:
    (small_set_dir / "outcomes.csv").unlink()
    data = load_campaign(small_set_dir)  # outcomes are optional at scoring time
    assert data.outcomes is None
    with pytest.raises(ContractError, match="the 'outcomes' table is required"):
        load_campaign(small_set_dir, require_outcomes=True)
    (small_set_dir / "runs.csv").unlink()
    with pytest.raises(ContractError, match="the 'runs' table is required"):
        load_campaign(small_set_dir)


def test_parquet_rows_are_numbered_from_one(tmp_path: Path, small_set_dir: Path) -> None:
    out = tmp_path / "pq"
    out.mkdir()
    for name in ("clones", "runs", "samples", "outcomes"):
        df = pd.read_csv(small_set_dir / f"{name}.csv")
        if name == "samples":
            df.loc[3, "titer_g_l"] = -1.0
        df.to_parquet(out / f"{name}.parquet")
    with pytest.raises(ContractError) as exc:
        load_campaign(out)
    v = _violation(exc.value, "samples.parquet", "titer_g_l")
    assert v.rows == (4,) and v.row_word == "row"


def test_text_label_columns_allowed_in_runs_but_not_numeric_slips(small_set_dir: Path) -> None:
    def label(df: pd.DataFrame) -> pd.DataFrame:
        df["medium"] = "CD-CHO"
        df["kla_per_h"] = "10"
        df.loc[2, "kla_per_h"] = "ten"
        return df

    _edit(small_set_dir, "runs", label)
    with pytest.raises(ContractError) as exc:
        load_campaign(small_set_dir)
    assert [(v.column, v.rule) for v in exc.value.violations] == [
        ("kla_per_h", "must be a number; found text")
    ]


def test_not_a_folder(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="is not a folder"):
        load_campaign(tmp_path / "nope")
