"""Data as labs have it: every run that comes in is kept or set aside with its reason."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.assemble import featurize
from features.contract.loader import (
    REJECT_COLUMNS,
    ContractError,
    DataNote,
    empty_rejects,
    load_campaign,
)
from features.contract.rejects import summarise_rejects
from simulator.campaign import SimulationConfig, simulate_set

TABLES = ("clones", "runs", "samples", "outcomes")


def _edit(folder: Path, table: str, change) -> None:
    path = folder / f"{table}.csv"
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    change(df).to_csv(path, index=False)


def _set(df: pd.DataFrame, row: int, column: str, value: str) -> pd.DataFrame:
    df.loc[row, column] = value
    return df


def _notes(data) -> dict[str, str]:
    return {f"{n.file}/{n.column}": str(n) for n in data.notes}


def test_empty_rejects_and_note_text() -> None:
    empty = empty_rejects()
    assert tuple(empty.columns) == REJECT_COLUMNS == ("run_id", "stage", "reason")
    assert empty.empty
    note = DataNote("samples.csv", "ammonia_mm", "'<LOQ'", 3, "read as missing", (5, 9, 12))
    assert (
        str(note) == "samples.csv, column 'ammonia_mm': 3 x '<LOQ' read as missing [lines 5, 9, 12]"
    )


def test_viability_overshoot_is_clipped_with_a_note(small_set_dir: Path) -> None:
    _edit(small_set_dir, "samples", lambda df: _set(df, 4, "viability_pct", "100.4"))
    data = load_campaign(small_set_dir)
    assert data.rejects.empty
    s = data.samples.set_index(["run_id", "day"])
    assert s.loc[("C01-K001-R1", 4.0), "viability_pct"] == 100.0
    assert _notes(data)["samples.csv/viability_pct"].startswith(
        "samples.csv, column 'viability_pct': 1 x value in (100, 102] clipped to 100 "
    )


def test_impossible_viability_sets_the_run_aside(small_set_dir: Path) -> None:
    _edit(small_set_dir, "samples", lambda df: _set(df, 4, "viability_pct", "140"))
    data = load_campaign(small_set_dir)
    assert data.rejects.to_dict("records") == [
        {
            "run_id": "C01-K001-R1",
            "stage": "load",
            "reason": "samples.csv line 6, column 'viability_pct': must be <= 102 (a percentage "
            "lies in 0-100; up to 2 above 100 is read as instrument overshoot); found 140",
        }
    ]
    assert data.notes == ()


def test_one_loq_cell_refuses_nothing_and_is_counted(small_set_dir: Path) -> None:
    _edit(small_set_dir, "samples", lambda df: _set(df, 7, "ammonia_mm", " <LOQ "))
    data = load_campaign(small_set_dir)
    assert data.rejects.empty and len(data.runs) == 16
    (note,) = data.notes
    assert (note.file, note.column, note.kind, note.count, note.lines) == (
        "samples.csv",
        "ammonia_mm",
        "'<LOQ'",
        1,
        (9,),
    )
    assert "censored below an unknown limit" in note.treatment


def test_stated_limits_are_substituted(small_set_dir: Path) -> None:
    def limits(df: pd.DataFrame) -> pd.DataFrame:
        df.loc[[0, 1], "titer_g_l"] = ["<0.02", "≤0.02"]
        df.loc[2, "vcd_e6_ml"] = ">250"
        df.loc[3, "glutamine_mm"] = "NA"
        return df

    _edit(small_set_dir, "samples", limits)
    data = load_campaign(small_set_dir)
    run = data.samples[data.samples["run_id"] == "C01-K001-R1"].set_index("day")
    assert run.loc[[0.0, 1.0], "titer_g_l"].tolist() == [0.01, 0.01]
    assert run.loc[2.0, "vcd_e6_ml"] == 250.0 and np.isnan(run.loc[3.0, "glutamine_mm"])
    notes = _notes(data)
    assert "2 x '<0.02', '≤0.02' read as half the limit" in notes["samples.csv/titer_g_l"]
    assert "1 x '>250' read as the limit x" in notes["samples.csv/vcd_e6_ml"]
    assert "1 x 'NA' read as missing (flagged missing)" in notes["samples.csv/glutamine_mm"]


def test_samples_and_outcomes_of_unknown_runs_count_as_rejected_runs(small_set_dir: Path) -> None:
    def ghost_sample(df: pd.DataFrame) -> pd.DataFrame:
        return pd.concat([df, df.iloc[[0]].assign(run_id="GHOST-R1")], ignore_index=True)

    def ghost_outcome(df: pd.DataFrame) -> pd.DataFrame:
        return pd.concat([df, df.iloc[[0]].assign(run_id="GHOST-R2")], ignore_index=True)

    _edit(small_set_dir, "samples", ghost_sample)
    _edit(small_set_dir, "outcomes", ghost_outcome)
    data = load_campaign(small_set_dir)
    n_samples = len(pd.read_csv(small_set_dir / "samples.csv"))
    assert data.n_runs_in == 18 and len(data.runs) == 16
    reasons = dict(zip(data.rejects["run_id"], data.rejects["reason"], strict=True))
    assert reasons == {
        "GHOST-R1": f"samples.csv line {n_samples + 1}, column 'run_id': refers to run_id "
        "'GHOST-R1' that runs.csv does not have",
        "GHOST-R2": "outcomes.csv line 18, column 'run_id': refers to run_id 'GHOST-R2' "
        "that runs.csv does not have",
    }
    assert len(data.samples) == n_samples - 1


def test_rows_that_cannot_be_placed_are_dropped_with_a_note(small_set_dir: Path) -> None:
    def holes(df: pd.DataFrame) -> pd.DataFrame:
        df.loc[[3, 4], "day"] = ["", "day 4"]
        df.loc[5, "run_id"] = " "
        return df

    _edit(small_set_dir, "samples", holes)
    _edit(small_set_dir, "clones", lambda df: pd.concat([df, df.iloc[[0]].assign(clone_id="K-0")]))
    data = load_campaign(small_set_dir)
    assert data.rejects.empty and data.n_runs_in == 16
    notes = _notes(data)
    assert notes["samples.csv/day"] == (
        "samples.csv, column 'day': 2 x row with an empty or non-numeric day dropped "
        "(a sample cannot be placed in time) [lines 5, 6]"
    )
    assert "1 x row with an empty run_id dropped" in notes["samples.csv/run_id"]
    assert "1 x clone without any run dropped" in notes["clones.csv/clone_id"]
    assert "K-0" not in set(data.clones["clone_id"])


def test_featurize_accounts_for_runs_rejected_at_load_and_at_features(
    small_set_dir: Path,
) -> None:
    _edit(small_set_dir, "samples", lambda df: _set(df, 20, "glucose_g_l", "-1"))
    data = load_campaign(small_set_dir)
    late = data.samples["run_id"] == "C01-K003-R1"
    data = replace(data, samples=data.samples[~late | (data.samples["day"] > 7)])
    result = featurize(data, 7.0)
    assert result.n_runs_in == data.n_runs_in == 16
    assert tuple(result.rejects.columns) == REJECT_COLUMNS
    stages = dict(zip(result.rejects["run_id"], result.rejects["stage"], strict=True))
    assert stages == {"C01-K001-R2": "load", "C01-K003-R1": "features"}
    assert len(result.features) == 14


def test_reasons_summarised_by_kind() -> None:
    rejects = pd.DataFrame(
        {
            "run_id": ["a", "b", "c"],
            "stage": ["load", "load", "features"],
            "reason": [
                "s.csv line 3, column 'ph': must be >= 5 (pH); found 2 | "
                "s.csv line 4, column 'ph': must be >= 5 (pH); found 1 (+3 more)",
                "s.csv line 9, column 'ph': must be >= 5 (pH); found 0",
                "no samples for this run",
            ],
        }
    )
    summary = summarise_rejects(rejects)
    assert summary.to_dict("records") == [
        {"kind": "s.csv, column 'ph': must be >= 5 (pH)", "n_runs": 2, "run_ids": "a, b"},
        {"kind": "no samples for this run", "n_runs": 1, "run_ids": "c"},
    ]


def test_parquet_text_cells_get_the_same_reading(tmp_path: Path, small_set_dir: Path) -> None:
    for name in TABLES:
        df = pd.read_csv(small_set_dir / f"{name}.csv", dtype=str, keep_default_na=False)
        if name == "samples":
            df.loc[3, "ammonia_mm"] = "<LOQ"
            df.loc[9, "ammonia_mm"] = "high"
        else:
            df = pd.read_csv(small_set_dir / f"{name}.csv")
        df.to_parquet(tmp_path / f"{name}.parquet")
    data = load_campaign(tmp_path)
    assert [str(n) for n in data.notes] == [
        "samples.parquet, column 'ammonia_mm': 1 x '<LOQ' read as missing "
        "(censored below an unknown limit) [row 4]"
    ]
    assert data.rejects["reason"].tolist() == [
        "samples.parquet row 10, column 'ammonia_mm': must be a number; found text 'high'"
    ]
    assert data.samples["ammonia_mm"].dtype == np.float64


# --- the accounting holds under any mix of lab quirks ------------------------------------

QUIRKS = (
    ("samples", "viability_pct", "100.4"),
    ("samples", "viability_pct", "140"),
    ("samples", "glucose_g_l", "-0.4"),
    ("samples", "ammonia_mm", "<LOQ"),
    ("samples", "titer_g_l", "<0.5"),
    ("samples", "vcd_e6_ml", ">5"),
    ("samples", "lactate_g_l", "NA"),
    ("samples", "glutamine_mm", "5,2"),
    ("samples", "day", ""),
    ("samples", "day", "<copy>"),
    ("samples", "run_id", ""),
    ("samples", "run_id", "GHOST-R1"),
    ("runs", "clone_id", "C09-K999"),
    ("runs", "scale", ""),
    ("runs", "run_id", "<copy>"),
    ("clones", "clone_id", "<copy>"),
    ("clones", "lc_hc_ratio", "-1"),
    ("outcomes", "run_id", "GHOST-R2"),
    ("outcomes", "g0f_pct", "140"),
    ("outcomes", "dsp_yield_pct", "n.d."),
)


@pytest.fixture(scope="module")
def small_tables() -> dict[str, pd.DataFrame]:
    tables = simulate_set(SimulationConfig(n_campaigns=2, clones_per_campaign=4, seed=3))
    out = {}
    for name in TABLES:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"{name}.csv"
            tables[name].to_csv(path, index=False, float_format="%.6g")
            out[name] = pd.read_csv(path, dtype=str, keep_default_na=False)
    return out


def _corrupt(tables: dict[str, pd.DataFrame], picks: list[tuple[int, float]]) -> dict:
    out = {name: df.copy() for name, df in tables.items()}
    for quirk, where in picks:
        table, column, value = QUIRKS[quirk]
        df = out[table]
        row = 1 + int(where * (len(df) - 2))
        df.loc[row, column] = df.loc[row - 1, column] if value == "<copy>" else value
    return out


def _runs_that_came_in(tables: dict[str, pd.DataFrame]) -> int:
    s = tables["samples"]
    placed = s[pd.to_numeric(s["day"], errors="coerce").notna()]
    ids = pd.concat([tables["runs"]["run_id"], placed["run_id"], tables["outcomes"]["run_id"]])
    return ids[ids.str.strip() != ""].nunique()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(QUIRKS) - 1), st.floats(0, 1)), max_size=8))
def test_runs_in_equal_kept_plus_rejected(
    small_tables: dict[str, pd.DataFrame], picks: list[tuple[int, float]]
) -> None:
    tables = _corrupt(small_tables, picks)
    with tempfile.TemporaryDirectory() as tmp:
        for name, df in tables.items():
            df.to_csv(Path(tmp) / f"{name}.csv", index=False)
        try:
            data = load_campaign(tmp)
        except ContractError as exc:
            assert "no run left" in str(exc)
            return
    assert data.n_runs_in == len(data.runs) + len(data.rejects) == _runs_that_came_in(tables)
    assert data.rejects["run_id"].is_unique and data.runs["run_id"].is_unique
    gone = set(data.rejects["run_id"])
    assert not gone & set(data.samples["run_id"]) and not gone & set(data.runs["run_id"])
    assert set(data.samples["run_id"]) <= set(data.runs["run_id"])
    assert set(data.clones["clone_id"]) == set(data.runs["clone_id"])
    assert data.rejects["reason"].str.contains(r"(?:line|row) \d+, column '").all()
    result = featurize(data, 7.0)
    assert result.n_runs_in == data.n_runs_in == len(result.features) + len(result.rejects)
