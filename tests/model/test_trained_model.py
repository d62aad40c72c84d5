"""Model tier: a trained bundle behaves as the biology says, and as an ML engineer expects."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pandas as pd

from features.assemble import long_frame
from models.applicability import OUTSIDE
from training.promote import ALIAS, promote


def _frame(trained, n_runs: int = 120) -> pd.DataFrame:
    frame = long_frame(trained.data)
    runs = frame["run_id"].drop_duplicates().iloc[:n_runs]
    return frame[frame["run_id"].isin(runs)].reset_index(drop=True)


def test_json_metrics_contract(trained) -> None:
    m = trained.report.metrics
    assert {
        "horizon_day",
        "n_runs",
        "n_campaigns",
        "mlflow_run_id",
        "targets",
        "glyco_risk",
    } <= set(m)
    assert json.loads(json.dumps(m)) == m
    for t, block in m["targets"].items():
        assert set(block["model"]) == {"spearman", "r2", "mae", "coverage_80", "coverage_90"}
        assert {"titer_rank", "pls"} <= set(block["baselines"])
        assert {"spearman", "r2", "mae"} <= set(block["baselines"]["pls"])
        assert 0 < block["noise_ceiling_r2"] < 1, t
    assert set(m["glyco_risk"]["model"]) == {"auroc", "brier"}
    assert set(m["glyco_risk"]["baselines"]["pls"]) == {"auroc", "brier"}


def test_more_early_ammonia_less_galactosylation(trained) -> None:
    frame = _frame(trained)
    base = trained.bundle.score(frame, explain=False).set_index("run_id")
    more = frame.copy()
    more["ammonia_mm"] = more["ammonia_mm"] * 1.6
    high = trained.bundle.score(more, explain=False).set_index("run_id")
    assert (high["g0f_pct"] - base["g0f_pct"]).mean() > 0.3  # G0F up
    assert (high["g2f_pct"] - base["g2f_pct"]).mean() < -0.1  # G2F down


def test_hmw_signals_lower_predicted_yield(trained) -> None:
    frame = _frame(trained)
    base = trained.bundle.score(frame, explain=False).set_index("run_id")
    worse = frame.copy()
    worse["clone__ss_hmw_pct"] = worse["clone__ss_hmw_pct"] + 4.0  # screen HMW up 4 points
    worse["clone__lc_hc_ratio"] = worse["clone__lc_hc_ratio"] * 0.7  # heavy-chain excess
    low = trained.bundle.score(worse, explain=False).set_index("run_id")
    assert (low["dsp_yield_pct"] - base["dsp_yield_pct"]).mean() < -2.0


def test_same_input_same_output_and_pyfunc_matches_bundle(trained) -> None:
    frame = _frame(trained, 30)
    a = trained.model.predict(frame)
    b = trained.model.predict(frame.sample(frac=1.0, random_state=3))
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(a, trained.bundle.score(frame))
    reasons = json.loads(a["reasons"].iloc[0])
    assert set(reasons) == set(trained.bundle.targets)
    assert all(len(v) == 3 and "→" in v[0] for v in reasons.values())


def test_far_outside_input_reads_unknown(trained) -> None:
    frame = _frame(trained, 20)
    alien = frame.copy()
    for col in ("vcd_e6_ml", "titer_g_l", "lactate_g_l", "ammonia_mm"):
        alien[col] = alien[col] * 8
    scored = trained.bundle.score(alien, explain=False)
    assert (scored["applicability"] == OUTSIDE).all()
    assert (scored["flag"] == "unknown").all()
    normal = trained.bundle.score(frame, explain=False)
    assert (normal["applicability"] != OUTSIDE).mean() > 0.9


def test_mlflow_holds_trials_baselines_and_registered_version(trained) -> None:
    client = mlflow.MlflowClient(trained.tracking_uri)
    run = client.get_run(trained.report.run_id)
    exp = run.info.experiment_id
    children = client.search_runs([exp], f"tags.mlflow.parentRunId = '{run.info.run_id}'")
    roles = {r.data.tags.get("clonescout.role") for r in children}
    assert {"tuning", "baseline"} <= roles
    trials = client.search_runs([exp], "tags.`clonescout.role` = 'trial'")
    assert len(trials) == 6  # 3 per family, nested under the tuning runs
    mv = client.get_model_version("clonescout-test", trained.report.registered_version)
    assert mv.tags["training_data_hash"] == trained.bundle.manifest["training_data_hash"]
    d = promote("clonescout-test")
    assert d.promoted
    assert client.get_model_version_by_alias("clonescout-test", ALIAS).version == mv.version
    again = promote("clonescout-test")
    assert not again.promoted and "already is champion" in again.reasons[0]


def test_manifest_pins_what_made_the_model(trained) -> None:
    man = trained.bundle.manifest
    assert len(man["training_data_hash"]) == 64
    assert man["code_commit"] and man["libraries"]["xgboost"].startswith("3.")
    assert man["feature_names"] == list(trained.bundle.featurizer.get_feature_names_out())
    assert np.isfinite(
        [w for t in man["targets"] for w in trained.bundle.halfwidths[t].values()]
    ).all()
