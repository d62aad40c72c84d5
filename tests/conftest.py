from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from features.contract.loader import CampaignData, load_campaign
from models.bundle import Bundle
from simulator.campaign import SimulationConfig, simulate_set, write_set
from tests.helpers.mlflow_store import use_tmp_mlflow
from tests.helpers.paths import REPO
from training.pipeline import TrainReport, train
from training.settings import TrainSettings


@pytest.fixture(scope="session")
def default_tables() -> dict[str, pd.DataFrame]:
    """The default campaign set (12 campaigns, 1,440 runs), simulated once per session."""
    return simulate_set(SimulationConfig())


@pytest.fixture(scope="session")
def small_config() -> SimulationConfig:
    """2 campaigns x 4 clones x 2 runs: the contract tests count on two runs per clone."""
    return SimulationConfig(n_campaigns=2, clones_per_campaign=4, seed=3, deep_clone_share=0.0)


@pytest.fixture()
def small_set_dir(tmp_path: Path, small_config: SimulationConfig) -> Path:
    """A small valid campaign folder written as CSV, for tests that break it."""
    out = tmp_path / "set"
    write_set(simulate_set(small_config), out, small_config, "csv")
    return out


@dataclass
class Trained:
    data: CampaignData
    report: TrainReport
    bundle: Bundle
    model: object  # the pyfunc loaded back from MLflow
    tracking_uri: str


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> Trained:
    """A small but real training run: 6 campaigns, 3 trials per family, no curve."""
    root = tmp_path_factory.mktemp("model_tier")
    cfg = SimulationConfig(n_campaigns=6, clones_per_campaign=30, seed=21, deep_clone_share=0.0)
    write_set(simulate_set(cfg), root / "set", cfg, "parquet")
    data = load_campaign(root / "set", require_outcomes=True)
    uri = use_tmp_mlflow(root, "model-tier")
    settings = TrainSettings(
        spec_path=REPO / "data" / "spec.yaml",
        trials=3,
        curve_horizons=(),
        model_name="clonescout-test",
    )
    report = train(data, settings)
    model = mlflow.pyfunc.load_model(report.model_uri)
    return Trained(data, report, model.unwrap_python_model().bundle, model, uri)


@dataclass
class TrainedDefault:
    data: CampaignData
    report: TrainReport
    model: object  # the pyfunc loaded back from MLflow
    bundle: Bundle


@pytest.fixture(scope="session")
def trained_default(tmp_path_factory) -> TrainedDefault:
    """The model users get: the default set at day 7 with the demo budget (~5 min)."""
    root = tmp_path_factory.mktemp("default_model")
    cfg = SimulationConfig()
    write_set(simulate_set(cfg), root / "set", cfg, "parquet")
    use_tmp_mlflow(root, "default")
    settings = TrainSettings(
        spec_path=REPO / "data" / "spec.yaml", trials=15, curve_horizons=(), model_name="default"
    )
    data = load_campaign(root / "set", require_outcomes=True)
    report = train(data, settings)
    model = mlflow.pyfunc.load_model(report.model_uri)
    return TrainedDefault(data, report, model, model.unwrap_python_model().bundle)
