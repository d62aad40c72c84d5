from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mlflow
import pytest

from features.contract.loader import CampaignData, load_campaign
from models.bundle import Bundle
from simulator.campaign import SimulationConfig, simulate_set, write_set
from tests.conftest import REPO
from training.pipeline import TrainReport, train
from training.settings import TrainSettings


@dataclass
class Trained:
    data: CampaignData
    report: TrainReport
    bundle: Bundle
    model: object  # the pyfunc loaded back from MLflow
    tracking_uri: str


def use_tmp_mlflow(root: Path, experiment: str) -> str:
    """An MLflow store of its own under ``root`` (database and artifacts)."""
    uri = f"sqlite:///{root}/mlflow.db"
    mlflow.set_tracking_uri(uri)
    if mlflow.get_experiment_by_name(experiment) is None:
        mlflow.create_experiment(experiment, artifact_location=str(root / "artifacts"))
    mlflow.set_experiment(experiment)
    return uri


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
