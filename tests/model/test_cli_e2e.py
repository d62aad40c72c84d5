"""End to end through the command line, with MLflow in a temporary folder."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from clonescout_cli.main import main


def test_train_json_promote_score(tmp_path: Path, small_set_dir: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)  # mlflow.db and mlruns/ land here
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    rc = main(
        [
            "train",
            "--data",
            str(small_set_dir),
            "--trials",
            "2",
            "--folds",
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
    out = capsys.readouterr().out
    metrics = json.loads(out)  # stdout is exactly one JSON object
    assert set(metrics["targets"]) == {"dsp_yield_pct", "g0f_pct"}
    assert metrics["n_runs"] == 16 and metrics["mlflow_run_id"]
    assert "glyco_risk" in metrics  # g0f is a spec glycan attribute
    assert (tmp_path / "mlflow.db").exists()

    assert main(["promote"]) == 0
    assert "promoted version 1" in capsys.readouterr().out
    scores = tmp_path / "scores.csv"
    assert main(["score", "--data", str(small_set_dir), "--out", str(scores)]) == 0
    printed = capsys.readouterr().out
    assert "16 runs in: 16 scored, 0 rejected" in printed and "models:/clonescout/1" in printed
    df = pd.read_csv(scores)
    assert len(df) == 16 and (df["model_version"] == 1).all()
    assert {"dsp_yield_pct_lo90", "glycans_risk", "applicability", "flag", "reasons"} <= set(df)


def test_score_without_a_champion_is_explained(
    tmp_path: Path, small_set_dir: Path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    rc = main(["score", "--data", str(small_set_dir), "--out", str(tmp_path / "s.csv")])
    assert rc == 2
    assert "error:" in capsys.readouterr().err
