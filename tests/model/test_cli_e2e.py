"""End to end through the command line, with MLflow in a temporary folder."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from clonescout_cli.main import main
from simulator.campaign import SimulationConfig, simulate_set, write_set


@pytest.fixture()
def cli_set(tmp_path: Path) -> Path:
    """Just above the minimums: 3 campaigns, 36 runs per target."""
    cfg = SimulationConfig(n_campaigns=3, clones_per_campaign=6, seed=3, deep_clone_share=0.0)
    out = tmp_path / "set"
    write_set(simulate_set(cfg), out, cfg, "csv")
    return out


def test_train_json_promote_score(tmp_path: Path, cli_set: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)  # mlflow.db and mlruns/ land here
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    rc = main(
        [
            "train",
            "--data",
            str(cli_set),
            "--trials",
            "2",
            "--folds",
            "3",
            "--inner-folds",
            "2",
            "--no-curve",
            "--json",
            "--target",
            "dsp_yield_pct",
            "--target",
            "g0f_pct",
        ]
    )
    assert rc == 0
    captured = capsys.readouterr()
    metrics = json.loads(captured.out)  # stdout is exactly one JSON object
    assert set(metrics["targets"]) == {"dsp_yield_pct", "g0f_pct"}
    assert metrics["n_runs"] == 36 and metrics["mlflow_run_id"]
    assert "glyco_risk" in metrics  # g0f is a spec glycan attribute
    assert metrics["glyco_risk"]["not_judged"] == ["g2f_pct", "man5_pct", "afucosylated_pct"]
    warnings = " ".join(metrics["evaluation"]["warnings"])
    assert "only 36 runs with a value" in warnings  # a warning, not a refusal
    assert (tmp_path / "mlflow.db").exists()

    assert main(["promote"]) == 0
    printed = capsys.readouterr().out
    assert "check" in printed and "verdict" in printed  # the decision table
    assert ("promoted version 1" in printed) != ("refused version 1" in printed)
    scores = tmp_path / "scores.csv"
    model = ["--model", "models:/clonescout/1"]
    assert main(["score", "--data", str(cli_set), "--out", str(scores), *model]) == 0
    printed = capsys.readouterr().out
    assert "36 runs in: 36 scored, 0 rejected" in printed and "models:/clonescout/1" in printed
    df = pd.read_csv(scores)
    assert len(df) == 36 and (df["model_version"] == 1).all()
    assert {"dsp_yield_pct_lo90", "glycans_risk", "applicability", "flag", "reasons"} <= set(df)
    assert {"flag_reason", "extrapolation", "not_judged", "seen_in_training"} <= set(df)


def test_score_without_a_champion_is_explained(
    tmp_path: Path, cli_set: Path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    rc = main(["score", "--data", str(cli_set), "--out", str(tmp_path / "s.csv")])
    assert rc == 2
    assert "error:" in capsys.readouterr().err


def test_training_refused_below_the_minimum_is_explained(
    tmp_path: Path, small_set_dir: Path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(["train", "--data", str(small_set_dir), "--trials", "1"]) == 2
    err = capsys.readouterr().err
    assert "training refused before any tuning" in err and "at least 30 are needed" in err
    assert not (tmp_path / "mlruns").exists()
