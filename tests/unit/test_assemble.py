"""Every run is accounted for: featurised, or rejected with a reason."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clonescout_cli.main import main
from features.assemble import featurize, long_frame
from features.contract.loader import load_campaign
from features.contract.mapping import import_mapped, load_mapping
from tests.helpers.paths import MAPPING, PEER, REPO, needs_peer


def test_sample_set_featurises_with_zero_rejects() -> None:
    data = load_campaign(REPO / "data" / "sample")
    result = featurize(data, 7.0)
    assert len(result.rejects) == 0
    assert len(result.features) == len(data.runs) == result.n_runs_in
    assert result.features.index.is_unique
    assert list(result.ids["run_id"]) == list(result.features.index)


@needs_peer
def test_peer_data_featurises_with_zero_rejects() -> None:
    data = import_mapped(PEER / "owu.csv", load_mapping(MAPPING)).data
    result = featurize(data, 5.0)
    assert len(result.rejects) == 0 and len(result.features) == 77
    assert result.features["qp_pg_cell_day"].notna().all()


def test_runs_without_usable_samples_are_rejected_with_reasons(small_set_dir: Path) -> None:
    data = load_campaign(small_set_dir)
    runs = data.runs["run_id"].tolist()
    s = data.samples
    s = s[s["run_id"] != runs[0]]  # a run with no samples at all
    late = s["run_id"] == runs[1]
    s = s[~late | (s["day"] > 7)]  # a run sampled only after the horizon
    data = replace(data, samples=s.reset_index(drop=True))
    result = featurize(data, 7.0)
    assert result.n_runs_in == len(runs)
    assert len(result.features) == len(runs) - 2
    reasons = dict(zip(result.rejects["run_id"], result.rejects["reason"], strict=True))
    assert reasons == {
        runs[0]: "no samples for this run",
        runs[1]: "no samples at or before horizon day 7",
    }


def test_long_frame_prefixes_run_and_clone_columns(small_set_dir: Path) -> None:
    frame = long_frame(load_campaign(small_set_dir))
    assert {"run__feed_pct", "run__scale", "clone__lc_hc_ratio", "clone__molecule"} <= set(frame)
    assert "clone__campaign_id" not in frame  # the CV group must never become a feature


def test_features_cli_writes_table_and_counts(tmp_path: Path, small_set_dir: Path, capsys) -> None:
    out = tmp_path / "f.parquet"
    assert (
        main(["features", "--data", str(small_set_dir), "--horizon-day", "5", "--out", str(out)])
        == 0
    )
    table = pd.read_parquet(out)
    assert len(table) == 16 and "outcome__dsp_yield_pct" in table
    assert not any(c.endswith("__d7") for c in table.columns)  # horizon 5 only
    assert "16 runs in: 16 featurised, 0 rejected (0 at load, 0 at features)" in (
        capsys.readouterr().out
    )
    assert np.isfinite(table["ivcd_e6_cell_day_ml"]).all()
    assert not (tmp_path / "f.rejects.csv").exists()


def test_features_cli_counts_rejects_of_both_stages(
    tmp_path: Path, small_set_dir: Path, capsys
) -> None:
    samples = small_set_dir / "samples.csv"
    df = pd.read_csv(samples, dtype=str, keep_default_na=False)
    df.loc[10, "glucose_g_l"] = "-0.4"  # run C01-K001-R1 breaks the contract
    late = df["run_id"] == "C01-K002-R1"
    df = df[~late | (pd.to_numeric(df["day"]) > 3)]  # C01-K002-R1 has no sample up to day 3
    df.to_csv(samples, index=False)
    out = tmp_path / "f.parquet"
    args = ["features", "--data", str(small_set_dir), "--horizon-day", "3", "--out", str(out)]
    assert main(args) == 0
    assert "16 runs in: 14 featurised, 2 rejected (1 at load, 1 at features)" in (
        capsys.readouterr().out
    )
    rejects = pd.read_csv(tmp_path / "f.rejects.csv")
    assert rejects[["run_id", "stage"]].to_dict("records") == [
        {"run_id": "C01-K001-R1", "stage": "load"},
        {"run_id": "C01-K002-R1", "stage": "features"},
    ]
    assert len(pd.read_parquet(out)) == 14


def test_features_cli_rejects_bad_horizon(tmp_path: Path, small_set_dir: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        main(
            [
                "features",
                "--data",
                str(small_set_dir),
                "--horizon-day",
                "-1",
                "--out",
                str(tmp_path / "f.parquet"),
            ]
        )
    assert "expected a number > 0" in capsys.readouterr().err
