from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from clonescout_cli.main import main
from tests.conftest import REPO


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
    assert len(pd.read_csv(out / "runs.csv")) == 20
    printed = capsys.readouterr()
    assert "peak_vcd" in printed.out and "out of spec on glycans" in printed.out
    assert "simulated 20 runs" in printed.err


def test_validate_reports_contract_errors(small_set_dir: Path, capsys) -> None:
    assert main(["validate", "--data", str(small_set_dir)]) == 0
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
