"""Fixtures shared by every tier: the default set, a small set, and the two trained bundles.

The bundles are trained once per test run (:func:`tests.helpers.shared.built_once`), also
when xdist runs the suite in several worker processes, and read back by every worker.

Property tests (hypothesis) draw the same examples on every run (the ``seeded`` profile):
a CI run does not pass or fail by chance. ``CLONESCOUT_HYPOTHESIS=explore`` draws new ones
each run; ``make bench`` runs them that way.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from hypothesis import settings

from features.contract.loader import CampaignData, load_campaign
from models.bundle import Bundle
from simulator.campaign import SimulationConfig, simulate_set, write_set
from tests.helpers.mlflow_store import use_tmp_mlflow
from tests.helpers.paths import REPO
from tests.helpers.shared import built_once
from training.pipeline import TrainReport, train
from training.settings import TrainSettings

settings.register_profile("seeded", derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", derandomize=False, database=None, print_blob=True)
settings.load_profile(os.environ.get("CLONESCOUT_HYPOTHESIS", "seeded"))


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


# What each test needs most decides where it runs and when (`make test`: `-n 2 --dist
# loadscope`, not reordered by size):
# - every module's tests stay together on one worker, in their order: a module's fixtures
#   (a service client, a registry with its champion, files a README block leaves for the
#   next) are built once, and its tests may build on each other;
# - the default bundle's modules form one unit, scheduled first: the bundle is trained once,
#   on one worker, while the other works through the rest of the suite (split over two
#   workers, the second would wait idle for the first's training);
# - the small bundle's modules come next, so that it is ready early for the many tiers
#   that share it.
# (pytest 9 ignores xdist_group marks: xdist's loadgroup rewrites a node id pytest no longer
# reads, so the grouping is the scheduler's, below.)
DEFAULT_BUNDLE_MODULES = ("tests/model/test_acceptance.py", "tests/model/test_biology.py")
FIRST = ("trained_default", "trained")


def _module(nodeid: str) -> str:
    return nodeid.split("::")[0]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank: dict[str, int] = {}  # a module's rank: what its most demanding test needs
    for item in items:
        names = getattr(item, "fixturenames", ())
        need = next((i for i, f in enumerate(FIRST) if f in names), len(FIRST))
        rank[_module(item.nodeid)] = min(need, rank.get(_module(item.nodeid), need))
    strays = sorted(m for m, r in rank.items() if r == 0 and m not in DEFAULT_BUNDLE_MODULES)
    if strays:
        raise pytest.UsageError(
            f"{', '.join(strays)} use the default bundle: add them to DEFAULT_BUNDLE_MODULES "
            "in tests/conftest.py, so that its tests share the worker that trains it"
        )
    items.sort(key=lambda item: rank[_module(item.nodeid)])  # stable: module order kept


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """xdist's scheduling by module, with the default bundle's modules as one unit."""
    from xdist.scheduler import LoadScopeScheduling

    class ModulesTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = _module(nodeid)
            return "the default bundle" if module in DEFAULT_BUNDLE_MODULES else module

    return ModulesTogether(config, log)  # type: ignore[arg-type]
