"""Promotion compares like with like, explains itself, and guards the champion alias.

A user's own endpoint with a threshold (here: an "aggregation index" that jumps for
heavy-chain-excess clones) is where the tuned trees must beat PLS clearly; leaving the
LC:HC ratio out of the features makes a clearly worse model.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import mlflow
import numpy as np
import pytest

from features.contract.loader import ContractError, load_campaign
from models.registry import CHAMPION
from simulator.campaign import SimulationConfig, simulate_set, write_set
from simulator.labexport import relabel_tables
from tests.helpers.mlflow_store import use_tmp_mlflow
from tests.helpers.paths import REPO
from training.gate import failed
from training.pipeline import train
from training.preconditions import TrainingRefused
from training.promote import promote
from training.retrain import champion_of, plan_retrain, retrain
from training.settings import TrainSettings

TARGET = "aggregation_index"
NAME = "promo"


def _with_index(data, seed: int = 0):
    """Add the endpoint: +8 for clones with a low LC:HC ratio, plus assay noise."""
    rng = np.random.default_rng(seed)
    runs = data.runs.merge(data.clones[["clone_id", "lc_hc_ratio"]], on="clone_id")
    low = runs["lc_hc_ratio"] < runs["lc_hc_ratio"].median()
    index = 10 + 8.0 * low + rng.normal(0, 0.7, len(runs))
    outcomes = data.outcomes.merge(
        runs[["run_id"]].assign(**{TARGET: index.to_numpy()}), on="run_id"
    )
    return replace(data, outcomes=outcomes)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("promotion")
    # these tests need three small models that pass the quality gate; with 200 runs the
    # 80% coverage estimate has an SE of ~0.03 against the gate's ±0.05, so a draw can fail
    # it (seed 41 did on issue 11's twin: 0.865): the seed is chosen to pass, not the gate
    cfg = SimulationConfig(n_campaigns=4, clones_per_campaign=25, seed=42, deep_clone_share=0.0)
    write_set(simulate_set(cfg), root / "set", cfg, "parquet")
    data = _with_index(load_campaign(root / "set", require_outcomes=True))
    use_tmp_mlflow(root, "promotion")
    base = TrainSettings(
        spec_path=REPO / "data" / "spec.yaml",
        targets=(TARGET,),
        trials=4,
        n_folds=4,
        inner_folds=2,
        curve_horizons=(),
        model_name=NAME,
    )
    good = train(data, base)  # version 1
    blind = train(data, replace(base, exclude=("clone__lc_hc_ratio",)))  # version 2
    early = train(data, replace(base, horizon_day=5.0))  # version 3: another horizon
    return {"data": data, "good": good, "blind": blind, "early": early, "base": base}


def _alias() -> str:
    return str(mlflow.MlflowClient().get_model_version_by_alias(NAME, CHAMPION).version)


@pytest.mark.slow
def test_first_model_passes_the_gate_and_becomes_champion(store) -> None:
    d = promote(NAME, "1")
    assert d.promoted, d.render()
    assert "passes the quality gate" in d.reasons[0] and _alias() == "1"
    checks = {r.check: r.verdict for r in d.table}
    assert checks[f"{TARGET} mae vs pls"] == "pass (better)"
    assert checks[f"{TARGET} mae vs titer_rank"] == "pass (better)"
    assert checks["beats pls"] == "pass"
    assert checks[f"{TARGET} 90% coverage"] == "pass"


@pytest.mark.slow
def test_a_worse_candidate_is_refused_with_reasons(store) -> None:
    d = promote(NAME, "2")
    assert not d.promoted and _alias() == "1"
    text = " ".join(d.reasons)
    assert "quality gate" in text or "worse than the champion" in text, text
    assert d.render().startswith("check")


@pytest.mark.slow
def test_an_incomparable_candidate_is_refused_unless_re_evaluated(store) -> None:
    d = promote(NAME, "3")
    assert not failed(d.table), d.render()  # it reaches the comparison
    assert not d.promoted and _alias() == "1"
    assert "not comparable" in d.reasons[0] and "different horizon day" in d.reasons[0]
    assert "--data" in d.reasons[1]
    again = promote(NAME, "3", data=store["data"])
    assert "re-evaluated on the candidate's outer folds" in again.reasons[0]
    assert any(r.check.startswith(TARGET) for r in again.table if r.verdict != "pass")


@pytest.mark.slow
def test_a_clearly_better_candidate_is_promoted(store) -> None:
    client = mlflow.MlflowClient()
    client.set_registered_model_alias(NAME, CHAMPION, "2")  # a weak model was champion
    d = promote(NAME, "1")
    assert d.promoted, d.render()
    assert _alias() == "1"
    verdicts = {r.check: r.verdict for r in d.table}
    assert verdicts[f"{TARGET} mae"] == "better"
    assert "better beyond the fold-to-fold spread" in d.reasons[-1]


@pytest.mark.slow
def test_data_that_is_not_the_candidates_is_refused(store, tmp_path: Path) -> None:
    data = store["data"]
    other = replace(data, outcomes=data.outcomes.assign(**{TARGET: data.outcomes[TARGET] + 1}))
    with pytest.raises(ValueError, match="not the candidate's training data"):
        promote(NAME, "3", data=other)


def _new_campaign(root: Path):
    """One campaign screened after the history: other clones, its own ids (N01-...)."""
    cfg = SimulationConfig(n_campaigns=1, clones_per_campaign=25, seed=43, deep_clone_share=0.0)
    write_set(relabel_tables(simulate_set(cfg), "N"), root / "new", cfg, "parquet")
    return _with_index(load_campaign(root / "new", require_outcomes=True), seed=1)


@pytest.mark.slow
def test_retrain_refuses_before_any_training_with_every_reason(store, tmp_path: Path) -> None:
    champ = champion_of(NAME)
    data, base = store["data"], replace(store["base"], model_name=NAME)
    new = _new_campaign(tmp_path)
    changed = replace(data, outcomes=data.outcomes.assign(**{TARGET: data.outcomes[TARGET] + 1}))
    with pytest.raises(TrainingRefused) as refused:
        plan_retrain(champ, changed, [replace(new, outcomes=None)], base)
    text = str(refused.value)
    assert f"not the data champion version {champ.version} learned from" in text
    assert f"{new.folder} has no outcomes table" in text
    with pytest.raises(TrainingRefused, match="no new campaign"):
        plan_retrain(champ, data, [], base)
    with pytest.raises(ContractError) as twice:  # a history campaign given again as new
        plan_retrain(champ, data, [new, data], base)
    assert "4 campaigns also in" in str(twice.value) and "C01" in str(twice.value)
    with pytest.raises(TrainingRefused, match="has no @champion"):
        champion_of("no-such-model")


@pytest.mark.slow
def test_retrain_learns_the_new_campaign_with_the_champions_recipe(store, tmp_path: Path) -> None:
    client = mlflow.MlflowClient()
    before = _alias()
    plan = plan_retrain(champion_of(NAME), store["data"], [_new_campaign(tmp_path)], store["base"])
    s = plan.settings
    assert (s.targets, s.trials, s.n_folds, s.inner_folds) == ((TARGET,), 4, 4, 2)
    assert plan.added == ["N01"] and plan.history == ["C01", "C02", "C03", "C04"]
    result = retrain(plan)
    version = result.report.registered_version
    assert version is not None, result.report.not_registered_because
    tags = client.get_model_version(NAME, version).tags
    assert tags["campaigns"] == "C01, C02, C03, C04, N01" and tags["n_campaigns"] == "5"
    assert tags["added_campaigns"] == "N01" and tags["retrained_from"] == f"{NAME}/{before}"
    learned = mlflow.artifacts.load_text(f"runs:/{result.report.run_id}/data/campaigns.csv")
    assert learned.splitlines()[0] == "campaign_id,runs,clones" and "N01,50,25" in learned
    d = result.decision
    assert d is not None and d.table, "a registered candidate goes through the gate"
    assert "as deployed" in d.reasons[0] and "N01" in d.reasons[0]
    (row,) = [r for r in d.table if "on the added campaigns" in r.check]
    assert re.fullmatch(
        rf"{TARGET} mae on the added campaigns \((49|50) runs, 25 clones\)", row.check
    )
    assert row.verdict in ("better", "worse", "tie")
    assert d.promoted == (row.verdict == "better")
    assert _alias() == (version if d.promoted else before)
    assert "per-clone difference" in d.render()
