from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from simulator.campaign import SimulationConfig, simulate_set, write_set

REPO = Path(__file__).resolve().parents[1]


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
