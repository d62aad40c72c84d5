"""Fixtures shared by every tier: the default set, a small set, and the two trained bundles.

The bundles are trained once per test run (:func:`tests.helpers.shared.built_once`), also
when xdist runs the suite in several worker processes, and read back by every worker.
"""

from __future__ import annotations

import pickle
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
from tests.helpers.shared import built_once
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


def _train_into(root: Path, cfg: SimulationConfig, experiment: str, settings: TrainSettings):
    """Simulate ``cfg`` into ``root/set``, train on it into ``root``'s MLflow store."""
    write_set(simulate_set(cfg), root / "set", cfg, "parquet")
    use_tmp_mlflow(root, experiment)
    report = train(load_campaign(root / "set", require_outcomes=True), settings)
    (root / "report.pkl").write_bytes(pickle.dumps(report))


def _read_back(root: Path, experiment: str) -> tuple[CampaignData, TrainReport, object, str]:
    """The set, the training report and the logged model, as a later worker sees them."""
    data = load_campaign(root / "set", require_outcomes=True)
    uri = use_tmp_mlflow(root, experiment)
    report = pickle.loads((root / "report.pkl").read_bytes())
    return data, report, mlflow.pyfunc.load_model(report.model_uri), uri


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> Trained:
    """A small but real training run: 6 campaigns, 3 trials per family, no curve."""
    cfg = SimulationConfig(n_campaigns=6, clones_per_campaign=30, seed=21, deep_clone_share=0.0)
    settings = TrainSettings(
        spec_path=REPO / "data" / "spec.yaml",
        trials=3,
        curve_horizons=(),
        model_name="clonescout-test",
    )
    root = built_once(
        tmp_path_factory, "model_tier", lambda r: _train_into(r, cfg, "model-tier", settings)
    )
    data, report, model, uri = _read_back(root, "model-tier")
    return Trained(data, report, model.unwrap_python_model().bundle, model, uri)  # type: ignore[attr-defined]


@dataclass
class TrainedDefault:
    data: CampaignData
    report: TrainReport
    model: object  # the pyfunc loaded back from MLflow
    bundle: Bundle


@pytest.fixture(scope="session")
def trained_default(tmp_path_factory) -> TrainedDefault:
    """The model users get: the default set at day 7 with the demo budget (~5 min)."""
    settings = TrainSettings(
        spec_path=REPO / "data" / "spec.yaml", trials=15, curve_horizons=(), model_name="default"
    )
    root = built_once(
        tmp_path_factory,
        "default_model",
        lambda r: _train_into(r, SimulationConfig(), "default", settings),
    )
    data, report, model, _ = _read_back(root, "default")
    return TrainedDefault(data, report, model, model.unwrap_python_model().bundle)  # type: ignore[attr-defined]


# What each test needs most decides where it runs and when (`--dist loadgroup`):
# - the default bundle's tests run first, together on one worker, so that it is trained
#   once and its long training overlaps the rest of the suite on the other worker;
# - every other module's tests stay together on one worker, in their order: a module's
#   fixtures (a service client, a registry with its champion, files a README block leaves
#   for the next) are built once and its tests may build on each other;
# - the small bundle's modules come next, so that it is ready early for the many tiers
#   that share it.
# tryfirst: xdist turns the marks into groups in its own hook, which would otherwise run first.
FIRST = ("trained_default", "trained")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def module(item: pytest.Item) -> str:
        return item.nodeid.split("::")[0]

    rank: dict[str, int] = {}  # a module's rank: what its most demanding test needs
    for item in items:
        names = getattr(item, "fixturenames", ())
        need = next((i for i, f in enumerate(FIRST) if f in names), len(FIRST))
        rank[module(item)] = min(need, rank.get(module(item), need))
    for item in items:
        group = "default_bundle" if rank[module(item)] == 0 else module(item)
        item.add_marker(pytest.mark.xdist_group(group))
    items.sort(key=lambda item: rank[module(item)])  # stable: each module's order is kept
