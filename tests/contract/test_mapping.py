"""Foreign data comes in through a declarative mapping, or is refused with a reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from features.contract.mapping import MappingError, import_mapped, load_mapping
from features.contract.violations import ContractError
from tests.helpers.paths import MAPPING, PEER, needs_peer


@needs_peer
@pytest.mark.parametrize("name,runs", [("owu.csv", 77), ("owu_test.csv", 22)])
def test_peer_emulator_imports_with_zero_rejects(name: str, runs: int) -> None:
    result = import_mapped(PEER / name, load_mapping(MAPPING))
    assert len(result.rejects) == 0
    assert result.rows_in == len(result.data.samples)
    assert len(result.data.runs) == runs and result.data.outcomes is not None
    s = result.data.samples
    assert s["titer_g_l"].max() < 2.0  # mg/L became g/L
    source_max_mm = pd.read_csv(PEER / name)["X:Glc"].max()
    assert s["glucose_g_l"].max() == pytest.approx(source_max_mm * 180.16 / 1000)  # mM -> g/L
    assert result.data.runs["temp_shift_day"].notna().all()


@needs_peer
def test_peer_folder_keeps_train_and_test_runs_apart() -> None:
    result = import_mapped(PEER, load_mapping(MAPPING))
    assert len(result.data.runs) == 99
    assert result.data.runs["run_id"].str.startswith(("owu-", "owu_test-")).all()


def _write_mapping(tmp_path: Path, change) -> Path:
    body = yaml.safe_load(MAPPING.read_text())
    change(body)
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


def _peer_copy(tmp_path: Path, change=None) -> Path:
    df = pd.read_csv(PEER / "owu.csv", dtype=str)
    if change is not None:
        df = change(df)
    path = tmp_path / "owu.csv"
    df.to_csv(path, index=False)
    return path


@needs_peer
def test_unknown_column_suggests_the_close_one(tmp_path: Path) -> None:
    m = _write_mapping(
        tmp_path, lambda b: b["samples"].update({"ammonia_mm": {"column": "X:NH3", "unit": "mM"}})
    )
    with pytest.raises(MappingError) as exc:
        import_mapped(PEER / "owu.csv", load_mapping(m))
    text = str(exc.value)
    assert "samples.ammonia_mm: column 'X:NH3' is not in the source" in text
    assert "did you mean 'X:NH4'" in text and "source columns:" in text


@needs_peer
def test_incompatible_unit_is_refused_with_units_that_work(tmp_path: Path) -> None:
    m = _write_mapping(
        tmp_path, lambda b: b["samples"].update({"vcd_e6_ml": {"column": "X:VCD", "unit": "mM"}})
    )
    with pytest.raises(MappingError, match=r"unit 'mM' cannot be converted to 1e6 cells/mL"):
        import_mapped(PEER / "owu.csv", load_mapping(m))


@needs_peer
def test_wrong_magnitude_unit_caught_by_contract_bounds(tmp_path: Path) -> None:
    """Titer declared g/L while the file holds mg/L: values of 1,500 'g/L' are refused."""
    m = _write_mapping(
        tmp_path, lambda b: b["samples"].update({"titer_g_l": {"column": "X:Titer", "unit": "g/L"}})
    )
    with pytest.raises(ContractError) as exc:
        import_mapped(PEER / "owu.csv", load_mapping(m))
    v = next(v for v in exc.value.violations if v.column == "titer_g_l")
    assert "g/L (not mg/L)" in v.rule and v.file == "owu.csv" and v.count > 100


@needs_peer
def test_text_in_numeric_source_column_sets_the_run_aside(tmp_path: Path) -> None:
    def text(df: pd.DataFrame) -> pd.DataFrame:
        df.loc[9, "X:NH4"] = "high"  # run 1, line 11 of the source
        return df

    data = import_mapped(_peer_copy(tmp_path, text), load_mapping(MAPPING)).data
    assert data.n_runs_in == 77 and len(data.runs) == 76
    assert data.rejects.to_dict("records") == [
        {
            "run_id": "owu-1",
            "stage": "load",
            "reason": "owu.csv line 11, column 'ammonia_mm': must be a number; found text 'high'",
        }
    ]
    assert "owu-1" not in set(data.samples["run_id"])


@needs_peer
def test_censored_value_is_halved_before_the_unit_conversion(tmp_path: Path) -> None:
    def censor(df: pd.DataFrame) -> pd.DataFrame:
        df.loc[15, "X:Titer"] = "<0.5"  # mg/L, run 2 day 0, line 17
        df.loc[16, "X:NH4"] = "n.d."
        return df

    data = import_mapped(_peer_copy(tmp_path, censor), load_mapping(MAPPING)).data
    assert len(data.rejects) == 0 and len(data.runs) == 77
    s = data.samples.set_index(["run_id", "day"])
    assert s.loc[("owu-2", 0.0), "titer_g_l"] == pytest.approx(0.25e-3)  # 0.5 / 2 mg/L in g/L
    assert np.isnan(s.loc[("owu-2", 1.0), "ammonia_mm"])
    notes = {n.column: str(n) for n in data.notes}
    assert notes["X:Titer"] == (
        "owu.csv, column 'X:Titer': 1 x '<0.5' read as half the limit x/2 "
        "(censored below x, the LOD/2 substitution) [line 17]"
    )
    assert notes["X:NH4"].startswith("owu.csv, column 'X:NH4': 1 x 'n.d.' read as missing")


@needs_peer
def test_rows_without_run_or_time_are_rejected_with_reasons(tmp_path: Path) -> None:
    def holes(df: pd.DataFrame) -> pd.DataFrame:
        df.loc[3, "run"] = None
        df.loc[20, "time"] = "day four"
        return df

    result = import_mapped(_peer_copy(tmp_path, holes), load_mapping(MAPPING))
    assert result.rows_in == 1155
    assert len(result.data.samples) + len(result.rejects) == result.rows_in
    reasons = dict(zip(result.rejects["line"], result.rejects["reason"], strict=True))
    assert reasons == {5: "no run id: run is empty", 22: "time in column 'time' is not a number"}


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda b: b["ids"].pop("scale"), "ids must define exactly"),
        (
            lambda b: b["runs"].update({"ph_setpoint": {"column": "W:pH", "reduce": "median"}}),
            "reduce 'median' is not allowed here",
        ),
        (lambda b: b.update({"sample": {}}), "unknown top-level keys"),
        (
            lambda b: b["samples"].update({"ph": {"column": "W:pH", "colour": "red"}}),
            "unknown keys",
        ),
    ],
)
def test_malformed_mapping_is_explained(tmp_path: Path, change, message: str) -> None:
    with pytest.raises(MappingError, match=message):
        load_mapping(_write_mapping(tmp_path, change))


@needs_peer
def test_varying_run_value_without_reduce_is_explained(tmp_path: Path) -> None:
    m = _write_mapping(
        tmp_path,
        lambda b: b["runs"].update({"temp_after_shift_c": {"column": "W:Temp", "unit": "C"}}),
    )
    with pytest.raises(MappingError, match="takes several values within one run_id"):
        import_mapped(PEER / "owu.csv", load_mapping(m))
