"""The campaign digest: the top clones, then every flag and unknown with its reasons."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from clonescout_cli.digest import SHOWN, print_digest


def _clones(n_risk: int) -> pd.DataFrame:
    n = 3 + n_risk
    df = pd.DataFrame(
        {
            "rank": pd.array([*range(1, n + 1), None], dtype="Int64"),
            "clone_id": [f"K{i}" for i in range(n + 1)],
            "flag": ["ok"] * 3 + ["at risk"] * n_risk + ["unknown"],
            "expected_product_g_l": [*np.linspace(3, 1, n), np.nan],
            "expected_product_lo90": [*np.linspace(2, 0.5, n), np.nan],
            "expected_product_hi90": [*np.linspace(4, 1.5, n), np.nan],
            "dsp_yield_pct": [*np.linspace(80, 60, n), np.nan],
            "glycans_risk": [0.1] * 3 + [0.7] * n_risk + [np.nan],
            "reasons": ["fine"] * 3
            + ["glycans out-of-spec risk 0.70"] * n_risk
            + ["unknown run: no ammonia samples up to day 7 (the model relies on them)"],
        }
    )
    return df


def test_digest_lists_top_flagged_and_unknown_with_why(tmp_path: Path) -> None:
    path = tmp_path / "s.clones.csv"
    _clones(2).to_csv(path, index=False)
    out = io.StringIO()
    print_digest(path, top=2, out=out)
    text = out.getvalue()
    assert "top 2 of 5 ranked clones" in text
    assert "   1  K0" in text and "   2  K1" in text and "   3  K2" not in text
    assert "3.00 (2.00-4.00)" in text  # the product with its 90% interval
    assert "flagged at risk, with the reasons (2):" in text
    assert "K3: glycans out-of-spec risk 0.70" in text
    assert "unknown clones (not ranked: the model cannot vouch for them), and why (1):" in text
    assert "K5: unknown run: no ammonia samples" in text


def test_digest_counts_what_it_does_not_list(tmp_path: Path) -> None:
    path = tmp_path / "s.clones.csv"
    _clones(SHOWN + 4).to_csv(path, index=False)
    out = io.StringIO()
    print_digest(path, out=out)
    assert f"... and 4 more (column 'reasons' of {path})" in out.getvalue()


def test_digest_lists_unknown_runs_of_ranked_clones_with_why(tmp_path: Path) -> None:
    clones, runs = tmp_path / "s.clones.csv", tmp_path / "s.csv"
    _clones(0).to_csv(clones, index=False)
    pd.DataFrame(
        {
            "run_id": ["K0-R1", "K0-R2"],
            "clone_id": ["K0", "K0"],
            "flag": ["ok", "unknown"],
            "flag_reason": ["", "outside the model's experience: T² 90 above the 99% limit 60"],
        }
    ).to_csv(runs, index=False)
    out = io.StringIO()
    print_digest(clones, out=out, runs_table=runs)
    text = out.getvalue()
    assert "unknown runs: no numbers given, and why (1):" in text
    assert "K0-R2 (clone K0): outside the model's experience: T² 90" in text
