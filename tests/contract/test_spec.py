from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.contract.spec import SpecError, load_spec
from tests.helpers.paths import REPO


def test_default_spec_loads() -> None:
    spec = load_spec(REPO / "data" / "spec.yaml")
    assert spec.glycan_attributes == ["g0f_pct", "g2f_pct", "man5_pct", "afucosylated_pct"]
    assert spec.risk_flag == 0.5  # the flag threshold is the spec's, documented there


def test_risk_flag_defaults_when_absent(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text("glycans: {g0f_pct: {min: 30}}")
    assert load_spec(path).risk_flag == 0.5  # older specs (and bundles) keep the old rule


def test_out_of_spec_treats_missing_as_unknown() -> None:
    spec = load_spec(REPO / "data" / "spec.yaml")
    df = pd.DataFrame(
        {
            "g0f_pct": [40, 60, np.nan],
            "g2f_pct": [8, 8, np.nan],
            "man5_pct": [2, 2, np.nan],
            "afucosylated_pct": [5, 5, np.nan],
        }
    )
    out = spec.out_of_spec(df)
    assert out.iloc[0] == 0 and out.iloc[1] == 1 and np.isnan(out.iloc[2])


@pytest.mark.parametrize(
    "body,message",
    [
        ("glycans: {g0f_pct: {min: 60, max: 30}}", "must be below max"),
        ("glycans: {g0f_pct: {minimum: 3}}", "needs 'min' and/or 'max'"),
        ("glycans: {g0f_pct: {min: low}}", "must be numbers"),
        ("glycans: {g0f_pct: {min: 1, units: '%'}}", "unknown keys"),
        ("downstream: {dsp_yield_pct: {min: 60}}", "at least one attribute"),
        ("glycan: {}", "unknown top-level keys"),
        ("risk_flag: 1.5\nglycans: {g0f_pct: {min: 30}}", "strictly between 0 and 1"),
        ("risk_flag: high\nglycans: {g0f_pct: {min: 30}}", "must be a probability"),
    ],
)
def test_bad_spec_is_explained(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(body)
    with pytest.raises(SpecError, match=message):
        load_spec(path)
