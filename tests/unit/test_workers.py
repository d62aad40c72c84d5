"""Where Optuna's trials run: in this process, or in workers sharing a study."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from features.contract.loader import load_campaign
from features.contract.spec import DEFAULT_SPEC_PATH
from simulator.campaign import SimulationConfig, simulate_set, write_set
from training import recipe
from training.pipeline import train
from training.settings import TrainSettings
from training.tuning import tune_family
from training.workers import StorageError, Tuner, redact


def _problem() -> tuple[np.ndarray, pd.DataFrame, list]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4)).astype(np.float32)
    Y = pd.DataFrame({"a": X[:, 0] + rng.normal(scale=0.3, size=120), "b": X[:, 1] ** 2})
    idx = np.arange(120)
    return X, Y, [(idx[idx % 3 != k], idx[idx % 3 == k]) for k in range(3)]


def test_serial_tuning_is_reproducible() -> None:
    X, Y, folds = _problem()
    first = tune_family("f", X, Y, folds, 3, 7, log_mlflow=False)
    again = tune_family("f", X, Y, folds, 3, 7, log_mlflow=False)
    assert first.params == again.params and first.best_value == again.best_value
    assert first.n_trials == 3 and first.workers == 1 and first.study_name is None


@pytest.mark.slow
def test_two_workers_share_one_study_through_a_journal_file() -> None:
    X, Y, folds = _problem()
    with Tuner(workers=2) as tuner:
        res = tune_family("f", X, Y, folds, 5, 7, log_mlflow=False, tuner=tuner)
        assert tuner._scratch is not None and Path(tuner._scratch, "studies.log").exists()
        scratch = tuner._scratch
    assert not Path(scratch).exists()  # the throw-away journal goes with the tuner
    assert res.n_trials == 5 and res.workers == 2
    assert res.oof.shape == Y.shape and res.oof.notna().all().all()
    # the best trial's held-out predictions came back from whichever worker ran it
    assert np.isfinite(res.best_value)


def test_sqlite_cannot_serve_parallel_workers() -> None:
    with pytest.raises(StorageError, match="SQLite") as exc:
        Tuner(workers=2, storage="sqlite:///optuna.db")
    assert "postgresql" in str(exc.value)  # says what would work
    Tuner(workers=1, storage="sqlite:///optuna.db")  # one worker may use it


def test_an_unreachable_storage_stops_training_before_any_tuning(
    tmp_path: Path, monkeypatch
) -> None:
    def fail(*args, **kwargs):
        raise AssertionError("tuning started although the storage is unreachable")

    monkeypatch.setattr(recipe, "tune_family", fail)
    cfg = SimulationConfig(n_campaigns=3, clones_per_campaign=6, seed=3, deep_clone_share=0.0)
    write_set(simulate_set(cfg), tmp_path / "set", cfg, "parquet")
    data = load_campaign(tmp_path / "set", require_outcomes=True)
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    url = "postgresql+psycopg2://ann:secret@127.0.0.1:1/none"
    settings = TrainSettings(
        spec_path=DEFAULT_SPEC_PATH, trials=2, workers=2, optuna_storage=url, curve_horizons=()
    )
    with pytest.raises(StorageError) as exc:
        train(data, settings)
    text = str(exc.value)
    assert "127.0.0.1:1/none" in text and "secret" not in text  # where, without the password


def test_a_journal_in_a_missing_folder_is_refused_with_advice(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="folder does not exist"):
        Tuner(workers=2, storage=f"journal:{tmp_path}/nowhere/studies.log").check()


@pytest.mark.parametrize(
    "url,shown",
    [
        ("postgresql+psycopg2://ann:secret@db:5432/cs", "postgresql+psycopg2://ann:***@db:5432/cs"),
        ("postgresql://db:5432/cs?options=-csearch_path%3Doptuna", "optuna"),
        ("postgresql://ann@db/cs?password=secret", "password=***"),
    ],
)
def test_urls_are_shown_without_their_password(url: str, shown: str) -> None:
    text = redact(url)
    assert shown in text and "secret" not in text


def test_threads_must_be_a_count(monkeypatch, capsys) -> None:
    from clonescout_cli.main import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--data", "x", "--threads", "-1"])
    assert "expected a number >= 0" in capsys.readouterr().err
    monkeypatch.setenv("CLONESCOUT_THREADS", "3")
    assert build_parser().parse_args(["train", "--data", "x"]).threads == 3
