from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from clonescout_cli.main import main
from tests.helpers.paths import REPO


def test_simulate_writes_valid_set_and_summary(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    out = tmp_path / "s"
    rc = main(
        [
            "simulate",
            "--out",
            str(out),
            "--campaigns",
            "2",
            "--clones-per-campaign",
            "5",
            "--seed",
            "4",
            "--format",
            "csv",
        ]
    )
    assert rc == 0
    # per campaign: 4 clones x 2 runs + 1 deep clone (25% of 5) x 4 runs
    assert len(pd.read_csv(out / "runs.csv")) == 24
    printed = capsys.readouterr()
    assert "peak_vcd" in printed.out and "out of spec on glycans" in printed.out
    assert "simulated 24 runs" in printed.err


def test_validate_counts_runs_and_exits_by_usability(
    small_set_dir: Path, tmp_path: Path, capsys
) -> None:
    assert main(["validate", "--data", str(small_set_dir)]) == 0
    assert "16 runs in: 16 valid, 0 rejected" in capsys.readouterr().out

    samples = small_set_dir / "samples.csv"
    df = pd.read_csv(samples, dtype=str, keep_default_na=False)
    df.loc[10, "glucose_g_l"] = "-0.4"
    df.loc[3, "ammonia_mm"] = "<LOQ"
    df.to_csv(samples, index=False)
    rejects = tmp_path / "out" / "rejects.csv"
    args = ["validate", "--data", str(small_set_dir), "--rejects", str(rejects)]
    assert main(args) == 0  # usable: 15 runs left
    out = capsys.readouterr().out
    assert "16 runs in: 15 valid, 1 rejected" in out
    assert "1 x '<LOQ' read as missing (censored below an unknown limit) [line 5]" in out
    assert (
        "  1 run: samples.csv, column 'glucose_g_l': must be >= 0 "
        "(a concentration cannot be negative) (e.g. C01-K001-R1)"
    ) in out
    written = pd.read_csv(rejects)
    assert list(written.columns) == ["run_id", "stage", "reason"]
    assert written["reason"].tolist() == [
        "samples.csv line 12, column 'glucose_g_l': must be >= 0 "
        "(a concentration cannot be negative); found -0.4"
    ]
    assert not list(rejects.parent.glob("*.tmp"))
    assert main([*args, "--strict"]) == 1

    (small_set_dir / "clones.csv").unlink()
    assert main(["validate", "--data", str(small_set_dir)]) == 2
    assert "the 'clones' table is required" in capsys.readouterr().err


def test_bad_arguments_are_explained(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["simulate", "--out", str(tmp_path), "--campaigns", "zero"])
    assert exc.value.code == 2
    assert "expected a whole number, got 'zero'" in capsys.readouterr().err
    rc = main(["simulate", "--out", str(tmp_path), "--runs-per-clone", "9"])
    assert rc == 2
    assert "runs_per_clone (9) cannot exceed" in capsys.readouterr().err


def test_missing_spec_is_explained(tmp_path: Path, capsys) -> None:
    rc = main(["simulate", "--out", str(tmp_path / "x"), "--spec", str(tmp_path / "no.yaml")])
    assert rc == 2
    assert "spec file not found" in capsys.readouterr().err
