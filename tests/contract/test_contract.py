"""A broken row sets its run aside with a reason; only structural problems refuse a folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.contract.loader import (
    MAX_ROWS_SHOWN,
    REJECT_COLUMNS,
    CampaignData,
    ContractError,
    load_campaign,
)

N_RUNS = 16  # the small set: 2 campaigns x 4 clones x 2 runs of about 15 daily samples


def _edit(folder: Path, table: str, change) -> None:
    path = folder / f"{table}.csv"
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    change(df).to_csv(path, index=False)


def _violation(err: ContractError, file: str, column: str):
    hits = [v for v in err.violations if v.file == file and v.column == column]
    assert hits, f"no violation for {file}/{column} in:\n{err}"
    return hits[0]


def _reasons(data: CampaignData) -> dict[str, str]:
    assert tuple(data.rejects.columns) == REJECT_COLUMNS
    assert set(data.rejects["stage"]) <= {"load"}
    return dict(zip(data.rejects["run_id"], data.rejects["reason"], strict=True))


def _accounted(data: CampaignData, n_in: int = N_RUNS) -> None:
    """Kept + rejected = runs in, and no table holds a rejected run."""
    assert data.n_runs_in == n_in == len(data.runs) + len(data.rejects)
    out = set(data.rejects["run_id"])
    for table in (data.runs, data.samples, data.outcomes):
        if table is not None:
            assert not out & set(table["run_id"])
    assert set(data.clones["clone_id"]) == set(data.runs["clone_id"])


def test_valid_folder_loads_with_typed_columns(small_set_dir: Path) -> None:
    data = load_campaign(small_set_dir, require_outcomes=True)
    assert len(data.runs) == N_RUNS and data.n_runs_in == N_RUNS
    assert data.outcomes is not None and len(data.outcomes) == N_RUNS
    assert data.samples["day"].dtype == np.float64
    assert data.samples["vcd_e6_ml"].dtype == np.float64
    assert pd.api.types.is_string_dtype(data.runs["run_id"])
    assert data.truth is not None
    assert data.rejects.empty and tuple(data.rejects.columns) == REJECT_COLUMNS
    assert data.notes == ()


def test_missing_column_names_file_and_column(small_set_dir: Path) -> None:
    _edit(small_set_dir, "runs", lambda df: df.drop(columns=["scale"]))
    with pytest.raises(ContractError) as exc:
        load_campaign(small_set_dir)
    v = _violation(exc.value, "runs.csv", "scale")
    assert "required column is missing" in v.rule
    assert "runs.csv, column 'scale'" in str(exc.value)


def test_duplicate_clone_sets_aside_every_run_of_the_clone(small_set_dir: Path) -> None:
    _edit(small_set_dir, "clones", lambda df: pd.concat([df, df.iloc[[2, 3]]]))
    data = load_campaign(small_set_dir)
    reasons = _reasons(data)
    assert sorted(reasons) == ["C01-K003-R1", "C01-K003-R2", "C01-K004-R1", "C01-K004-R2"]
    assert reasons["C01-K003-R1"] == (
        "clones.csv line 4, column 'clone_id': duplicate key: (clone_id) must be unique; "
        "found 'C01-K003' more than once | clones.csv line 10, column 'clone_id': duplicate "
        "key: (clone_id) must be unique; found 'C01-K003' more than once"
    )  # line 1 is the header: rows 2 and 8 (the copy) are lines 4 and 10
    assert len(data.clones) == 6
    _accounted(data)


def test_orphan_run_is_named(small_set_dir: Path) -> None:
    def orphan(df: pd.DataFrame) -> pd.DataFrame:
        df.loc[5, "clone_id"] = "C09-K999"
        return df

    _edit(small_set_dir, "runs", orphan)
    data = load_campaign(small_set_dir)
    assert _reasons(data) == {
        "C01-K003-R2": "runs.csv line 7, column 'clone_id': refers to clone_id 'C09-K999' "
        "that clones.csv does not have"
    }
    _accounted(data)


def test_text_in_numeric_column(small_set_dir: Path) -> None:
    def text(df: pd.DataFrame) -> pd.DataFrame:
        df.loc[[3, 40], "ammonia_mm"] = ["<LOQ", "5,2"]
        return df

    _edit(small_set_dir, "samples", text)
    data = load_campaign(small_set_dir)
    assert _reasons(data) == {
        "C01-K002-R1": "samples.csv line 42, column 'ammonia_mm': must be a number; "
        "found text '5,2'"
    }
    s = data.samples.set_index(["run_id", "day"])
    assert np.isnan(s.loc[("C01-K001-R1", 3.0), "ammonia_mm"])  # '<LOQ': missing, noted
    assert [str(n) for n in data.notes] == [
        "samples.csv, column 'ammonia_mm': 1 x '<LOQ' read as missing "
        "(censored below an unknown limit) [line 5]"
    ]
    _accounted(data)


def test_negative_concentration_states_the_bound(small_set_dir: Path) -> None:
    def negative(df: pd.DataFrame) -> pd.DataFrame:
        df.loc[10, "glucose_g_l"] = "-0.4"
        return df

    _edit(small_set_dir, "samples", negative)
    data = load_campaign(small_set_dir)
    assert _reasons(data) == {
        "C01-K001-R1": "samples.csv line 12, column 'glucose_g_l': must be >= 0 "
        "(a concentration cannot be negative); found -0.4"
    }
    raw = pd.read_csv(small_set_dir / "samples.csv")
    assert len(data.samples) == (raw["run_id"] != "C01-K001-R1").sum()  # the rest goes on
    _accounted(data)


def test_unsorted_days_within_a_run(small_set_dir: Path) -> None:
    def swap(df: pd.DataFrame) -> pd.DataFrame:
        df.loc[[4, 5]] = df.loc[[5, 4]].to_numpy()
        return df

    _edit(small_set_dir, "samples", swap)
    data = load_campaign(small_set_dir)
    reason = _reasons(data)["C01-K001-R1"]
    assert reason.startswith("samples.csv line 7, column 'day': days must increase within each")
    assert reason.endswith("; found 4")
    _accounted(data)


def test_duplicate_days_within_a_run(small_set_dir: Path) -> None:
    def dup(df: pd.DataFrame) -> pd.DataFrame:
        df.loc[6, "day"] = df.loc[5, "day"]
        return df

    _edit(small_set_dir, "samples", dup)
    data = load_campaign(small_set_dir)
    rule = "column 'run_id, day': duplicate key: (run_id, day) must be unique; found day 5"
    assert _reasons(data) == {
        "C01-K001-R1": f"samples.csv line 7, {rule} more than once | "
        f"samples.csv line 8, {rule} more than once"
    }
    _accounted(data)


def test_many_bad_rows_show_first_few_and_the_count(small_set_dir: Path) -> None:
    def impossible(df: pd.DataFrame) -> pd.DataFrame:
        df.loc[0:49, "viability_pct"] = "140"  # 50 of 240 rows: 4 runs, not the whole column
        return df

    _edit(small_set_dir, "samples", impossible)
    data = load_campaign(small_set_dir)
    reasons = _reasons(data)
    assert sorted(reasons) == ["C01-K001-R1", "C01-K001-R2", "C01-K002-R1", "C01-K002-R2"]
    first = reasons["C01-K001-R1"]
    assert first.count(" | ") == 2 and first.endswith("; found 140 (+12 more)")
    assert first.startswith(
        "samples.csv line 2, column 'viability_pct': must be <= 102 (a percentage lies in "
        "0-100; up to 2 above 100 is read as instrument overshoot); found 140 | "
    )
    assert reasons["C01-K002-R2"].endswith("(+2 more)")  # rows 45-49: 5 problems
    _accounted(data)


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
    assert data.outcomes is None and data.n_runs_in == N_RUNS
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
    data = load_campaign(out)
    assert _reasons(data) == {
        "C01-K001-R1": "samples.parquet row 4, column 'titer_g_l': must be >= 0 "
        "(g/L (not mg/L)); found -1"
    }
    assert data.samples["titer_g_l"].dtype == np.float64
    _accounted(data)


def test_text_label_columns_allowed_in_runs_but_not_numeric_slips(small_set_dir: Path) -> None:
    def label(df: pd.DataFrame) -> pd.DataFrame:
        df["medium"] = "CD-CHO"
        df["kla_per_h"] = "10"
        df.loc[2, "kla_per_h"] = "ten"
        return df

    _edit(small_set_dir, "runs", label)
    data = load_campaign(small_set_dir)
    assert _reasons(data) == {
        "C01-K002-R1": "runs.csv line 4, column 'kla_per_h': must be a number; found text 'ten'"
    }
    assert pd.api.types.is_string_dtype(data.runs["medium"])
    assert data.runs["kla_per_h"].dtype == np.float64
    _accounted(data)


def test_wrong_unit_for_most_rows_refuses_the_column(small_set_dir: Path) -> None:
    def mg_per_l(df: pd.DataFrame) -> pd.DataFrame:
        df["titer_g_l"] = (pd.to_numeric(df["titer_g_l"]) * 1000).astype(str)  # mg/L
        return df

    _edit(small_set_dir, "samples", mg_per_l)
    with pytest.raises(ContractError) as exc:
        load_campaign(small_set_dir)
    v = _violation(exc.value, "samples.csv", "titer_g_l")
    assert v.rule.startswith("looks like the wrong unit or layout for the whole column")
    assert "expected a number in 0-100 (g/L (not mg/L))" in v.rule
    assert v.count > 120 and len(v.rows) == MAX_ROWS_SHOWN


def test_no_run_left_lists_the_reasons_by_count(small_set_dir: Path) -> None:
    _edit(small_set_dir, "runs", lambda df: df.assign(scale=""))
    with pytest.raises(ContractError) as exc:
        load_campaign(small_set_dir)
    text = str(exc.value)
    assert "no run left: all 16 runs that came in were rejected" in text
    assert "16 runs: runs.csv, column 'scale': must not be empty (e.g. C01-K001-R1," in text


def test_not_a_folder(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="is not a folder"):
        load_campaign(tmp_path / "nope")
