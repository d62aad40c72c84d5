"""Training refuses what it cannot do well, before any tuning, with the minimum stated."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import mlflow
import pytest

from features.contract.loader import load_campaign
from simulator.campaign import SimulationConfig, simulate_set, write_set
from tests.helpers.paths import REPO
from training import recipe
from training.dataset import prepare
from training.pipeline import train
from training.preconditions import MIN_RUNS_PER_TARGET, TrainingRefused
from training.settings import TrainSettings


def _set(tmp_path: Path, **kw) -> Path:
    kw.setdefault("deep_clone_share", 0.0)  # run counts below assume two runs per clone
    cfg = SimulationConfig(**kw)
    write_set(simulate_set(cfg), tmp_path / "set", cfg, "parquet")
    return tmp_path / "set"


@pytest.fixture()
def no_tuning(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("tuning started although the data was refused")

    monkeypatch.setattr(recipe, "tune_family", fail)


def test_tiny_data_is_refused_before_any_tuning(tmp_path: Path, no_tuning) -> None:
    folder = _set(tmp_path, n_campaigns=1, clones_per_campaign=3, runs_per_clone=2, seed=5)
    data = load_campaign(folder, require_outcomes=True)
    assert len(data.runs) == 6
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    settings = TrainSettings(spec_path=REPO / "data" / "spec.yaml", trials=2, curve_horizons=())
    with pytest.raises(TrainingRefused) as exc:
        train(data, settings)
    text = str(exc.value)
    assert "training refused before any tuning" in text
    assert f"dsp_yield_pct: 6 runs with a value; at least {MIN_RUNS_PER_TARGET}" in text
    assert f"minimums: {MIN_RUNS_PER_TARGET} runs" in text
    assert mlflow.search_runs(search_all_experiments=True).empty  # nothing was logged


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    folder = _set(tmp_path, n_campaigns=1, clones_per_campaign=1, runs_per_clone=2, seed=5)
    data = load_campaign(folder, require_outcomes=True)
    data = replace(data, outcomes=data.outcomes.assign(g2f_pct=7.0))
    with pytest.raises(TrainingRefused) as exc:
        prepare(data, ["dsp_yield_pct", "g2f_pct"], 7.0)
    problems = exc.value.problems
    assert any("dsp_yield_pct: 2 runs" in p for p in problems)
    assert any("g2f_pct: 2 runs" in p for p in problems)
    assert any("1 cross-validation group(s) (clone_id)" in p for p in problems)


def test_constant_and_unknown_targets(tmp_path: Path) -> None:
    folder = _set(tmp_path, n_campaigns=3, clones_per_campaign=8, seed=6)
    data = load_campaign(folder, require_outcomes=True)
    flat = replace(data, outcomes=data.outcomes.assign(g2f_pct=7.0))
    with pytest.raises(TrainingRefused, match=r"target g2f_pct: constant \(7 in every run\)"):
        prepare(flat, ["g2f_pct"], 7.0)
    with pytest.raises(TrainingRefused, match="unknown target"):
        prepare(data, ["titre"], 7.0)
    with pytest.raises(TrainingRefused, match="--exclude 'nothing_\\*' matches no feature"):
        prepare(data, ["g0f_pct"], 7.0, exclude=("nothing_*",))


def test_few_campaigns_group_by_clone_and_say_so(tmp_path: Path) -> None:
    folder = _set(tmp_path, n_campaigns=2, clones_per_campaign=12, seed=6)
    ts = prepare(load_campaign(folder, require_outcomes=True), ["dsp_yield_pct"], 7.0)
    assert ts.grouping.column == "clone_id" and ts.groups.nunique() == 24
    assert any("groups by clone" in w for w in ts.warnings)
    assert any("only 48 runs" in w for w in ts.warnings)
    assert len(ts.X) + len(ts.rejects) == ts.n_runs_in == 48


def test_targets_and_groups_are_aligned_and_runs_accounted(tmp_path: Path) -> None:
    folder = _set(tmp_path, n_campaigns=3, clones_per_campaign=8, seed=6)
    data = load_campaign(folder, require_outcomes=True)
    outcomes = data.outcomes.copy()
    outcomes.loc[:1, ["dsp_yield_pct", "g0f_pct"]] = float("nan")  # two runs with no target
    data = replace(data, outcomes=outcomes)
    ts = prepare(data, ["dsp_yield_pct", "g0f_pct"], 7.0, exclude=("clone__ss_*",))
    assert list(ts.X.index) == list(ts.y.index) == list(ts.ids["run_id"])
    assert ts.grouping.column == "campaign_id" and ts.groups.nunique() == 3
    assert not any(c.startswith("clone__ss_") for c in ts.X.columns)
    assert (ts.rejects["stage"] == "train").sum() == 2
    assert len(ts.X) == 46 and ts.n_runs_in == 48
