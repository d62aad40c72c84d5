"""Model tier: a small trained bundle behaves as an ML engineer expects (the biology of the
model users get is checked on the default-set model, in test_biology.py)."""

from __future__ import annotations

import dataclasses
import json

import mlflow
import numpy as np
import pandas as pd

from features.assemble import long_frame
from models.applicability import OUTSIDE
from models.bounds import physical_bounds
from models.fingerprint import SEEN_ID_ONLY, SEEN_SAME
from models.flags import FLAG_OK, FLAG_UNKNOWN
from models.predictor import interval_columns
from training.gate import failed
from training.promote import promote


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
        "evaluation",
        "applicability",
        "data",
    } <= set(m)
    assert json.loads(json.dumps(m)) == m
    ev = m["evaluation"]
    assert ev["grouping"] == "campaign_id" and ev["outer_folds"] == 5 and ev["inner_folds"] == 3
    assert "nested cross-validation" in ev["method"] and len(ev["folds_hash"]) == 16
    for t, block in m["targets"].items():
        model = block["model"]
        assert {"spearman", "r2", "mae", "coverage_80", "coverage_90"} <= set(model)
        cov = model["coverage"]["0.9"]
        assert cov["estimable"] and cov["overall"] == model["coverage_90"]
        assert len(cov["by_predicted_quartile"]) == 4
        assert {"min", "median", "max", "n_campaigns"} <= set(cov["by_campaign"])
        assert len(model["per_fold"]["mae"]) == 5
        assert {"spearman", "r2", "mae"} <= set(block["baselines"]["pls"])
        assert {"spearman", "r2", "mae"} <= set(block["baselines"]["titer_rank"])
        assert 0 < block["noise_ceiling_r2"] < 1, t
    g = m["glyco_risk"]
    assert {"auroc", "brier"} <= set(g["model"]) and {"auroc", "brier"} <= set(
        g["baselines"]["pls"]
    )
    assert g["judged"] == ["g0f_pct", "g2f_pct", "man5_pct", "afucosylated_pct"]
    assert m["downstream_risk"]["judged"] == ["dsp_yield_pct", "hmw_pct", "hcp_ppm"]
    assert m["downstream_risk"]["not_judged"] == []
    f = m["flags"]  # the promise monitor holds realized flags to
    assert f["groups"] == ["glycans", "downstream"] and f["risk_flag"] == 0.5
    assert len(f["model"]["per_fold"]["precision"]) == 5 and 0 < f["n_flagged"] < 360
    # better than flagging at random: precision above the out-of-spec base rate, recall
    # above the share flagged
    n = f["n_runs"]
    assert 300 < n <= 360
    assert f["model"]["precision"] > f["n_out_of_spec"] / n
    assert f["model"]["recall"] > f["n_flagged"] / n
    d = m["data"]
    assert d["runs_in"] == d["runs_used"] + d["runs_rejected"] == 360


def test_same_input_same_output_and_pyfunc_matches_bundle(trained) -> None:
    frame = _frame(trained, 30)
    a = trained.model.predict(frame)
    b = trained.model.predict(frame.sample(frac=1.0, random_state=3))
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(a, trained.bundle.score(frame))
    ok = a[a["flag"] != FLAG_UNKNOWN]
    reasons = json.loads(ok["reasons"].iloc[0])
    assert set(reasons) == set(trained.bundle.targets)
    assert all(len(v) == 3 and "→" in v[0] for v in reasons.values())


def test_intervals_stay_physical_and_contain_the_prediction(trained) -> None:
    scored = trained.bundle.score(_frame(trained), reasons="none")
    for t in trained.bundle.targets:
        low, high = physical_bounds(t)
        cols = [t, *interval_columns(t)]
        values = scored[cols].dropna().to_numpy()
        assert (values >= low).all() and (values <= high).all(), t
        inside = scored[[f"{t}_lo90", t, f"{t}_hi90"]].dropna()
        assert (inside[f"{t}_lo90"] <= inside[t]).all() and (inside[t] <= inside[f"{t}_hi90"]).all()
        assert (inside[f"{t}_hi90"] - inside[f"{t}_lo90"]).std() > 0, "widths adapt"


def test_far_outside_input_reads_unknown_with_no_confident_number(trained) -> None:
    frame = _frame(trained, 20)
    alien = frame.copy()
    for col in ("vcd_e6_ml", "titer_g_l", "lactate_g_l", "ammonia_mm"):
        alien[col] = alien[col] * 8
    scored = trained.bundle.score(alien, reasons="none")
    assert (scored["applicability"] == OUTSIDE).all()
    assert (scored["flag"] == FLAG_UNKNOWN).all()
    assert scored["flag_reason"].str.contains("outside the model's experience").all()
    assert scored["flag_reason"].str.contains("99% limit").all()
    numbers = [*trained.bundle.targets, "glycans_risk", "downstream_risk"]
    numbers += [c for t in trained.bundle.targets for c in interval_columns(t)]
    assert scored[numbers].isna().all().all()
    extrapolated = json.loads(scored["extrapolation"].iloc[0])
    assert set(extrapolated) == set(trained.bundle.targets)
    normal = trained.bundle.score(frame, reasons="none")
    assert (normal["applicability"] != OUTSIDE).mean() > 0.9
    assert (normal.loc[normal["flag"] != FLAG_UNKNOWN, "extrapolation"] == "").all()


def test_a_run_missing_a_measurement_family_is_never_ok(trained) -> None:
    frame = _frame(trained, 40)
    assert "titer_g_l" in trained.bundle.predictor.required
    scored = trained.bundle.score(frame.drop(columns=["titer_g_l"]), reasons="none")
    assert (scored["flag"] == FLAG_UNKNOWN).all()
    assert scored["missing_families"].str.contains("titer_g_l").all()
    assert scored["flag_reason"].str.contains("no titer_g_l samples up to day 7").all()
    no_ammonia = frame.assign(ammonia_mm=np.nan)
    assert (trained.bundle.score(no_ammonia, reasons="none")["flag"] != FLAG_OK).all()


def test_a_condition_that_never_varied_in_training_makes_a_run_unknown(trained) -> None:
    """All training runs were Ambr15: the model cannot know what another scale does."""
    assert trained.bundle.predictor.constants["run__scale=ambr15"] == 1.0
    frame = _frame(trained, 10)
    moved = frame["run_id"].isin(frame["run_id"].unique()[:4])
    frame.loc[moved, "run__scale"] = "ambr250"
    scored = trained.bundle.score(frame, reasons="all").set_index("run_id")
    other = scored.loc[frame.loc[moved, "run_id"].unique()]
    assert (other["flag"] == FLAG_UNKNOWN).all() and other[
        trained.bundle.targets
    ].isna().all().all()
    assert (
        other["flag_reason"].str.contains("never varied in training: run__scale=ambr15 = 0").all()
    )
    assert (other["reasons"] == "").all()  # no contributions for a run the model cannot judge
    same = scored.drop(other.index)
    assert not same["flag_reason"].str.contains("never varied").any()


def test_every_spec_attribute_is_judged_by_default(trained) -> None:
    """HMW and HCP are downstream limits: the default model predicts and judges them."""
    scored = trained.bundle.score(_frame(trained, 5), reasons="none")
    assert (scored["not_judged"] == "").all()
    for t in ("hmw_pct", "hcp_ppm"):
        assert t in trained.bundle.targets and scored[t].notna().any()
        assert scored[f"{t}_lo90"].le(scored[t]).all() and scored[t].le(scored[f"{t}_hi90"]).all()


def test_spec_attributes_it_does_not_predict_are_listed_not_judged(trained) -> None:
    """A model trained without HMW and HCP (say, a lab without SEC) lists them unjudged."""
    p = trained.bundle.predictor
    narrow = dataclasses.replace(
        p, models={t: m for t, m in p.models.items() if t not in ("hmw_pct", "hcp_ppm")}
    )
    assert narrow.not_judged() == ["hmw_pct", "hcp_ppm"]


def test_runs_it_was_trained_on_are_recognised(trained) -> None:
    frame = _frame(trained, 10)
    scored = trained.bundle.score(frame, reasons="none")
    assert (scored["seen_in_training"] == SEEN_SAME).all()
    changed = frame.assign(titer_g_l=frame["titer_g_l"] * 1.01)
    scored = trained.bundle.score(changed, reasons="none")
    assert (scored["seen_in_training"] == SEEN_ID_ONLY).all()
    renamed = frame.assign(run_id="new-" + frame["run_id"])
    scored = trained.bundle.score(renamed, reasons="none")
    assert scored["seen_in_training"].str.startswith("same data as training run").all()


def test_mlflow_holds_trials_baselines_and_registered_version(trained) -> None:
    client = mlflow.MlflowClient(trained.tracking_uri)
    run = client.get_run(trained.report.run_id)
    exp = run.info.experiment_id
    children = client.search_runs([exp], f"tags.mlflow.parentRunId = '{run.info.run_id}'")
    roles = {r.data.tags.get("clonescout.role") for r in children}
    assert {"tuning", "baseline"} <= roles
    trials = client.search_runs([exp], "tags.`clonescout.role` = 'trial'")
    assert len(trials) == 6  # the final model's tuning: 3 per family, nested
    mv = client.get_model_version("clonescout-test", trained.report.registered_version)
    assert mv.tags["training_data_hash"] == trained.bundle.manifest["training_data_hash"]
    assert mv.tags["folds_hash"] == trained.report.metrics["evaluation"]["folds_hash"]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "evaluation")}
    assert "evaluation/metrics.json" in artifacts
    data_artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "data")}
    assert data_artifacts == {"data/rejects.csv", "data/campaigns.csv"}
    campaigns = sorted(trained.data.clones["campaign_id"].unique())
    assert mv.tags["campaigns"] == ", ".join(campaigns) and mv.tags["n_campaigns"] == "6"
    assert [c["campaign_id"] for c in trained.bundle.manifest["training_campaigns"]] == campaigns
    d = promote("clonescout-test")  # the gate decides; it explains itself either way
    assert d.promoted == (not failed(d.table)), d.render()
    assert "quality gate" in d.reasons[0] and d.render().startswith("check")


def test_manifest_pins_what_made_the_model(trained) -> None:
    man = trained.bundle.manifest
    assert len(man["training_data_hash"]) == 64
    assert man["code_commit"] and man["libraries"]["xgboost"].startswith("3.")
    assert man["feature_names"] == trained.bundle.predictor.feature_names
    assert "run__scale=ambr15" in man["dropped_features"]  # one scale only: constant
    assert set(man["feature_names"]) < set(trained.bundle.featurizer.get_feature_names_out())
    for cal in trained.bundle.predictor.intervals.values():  # 360 runs: 3 bins of 120
        assert cal.estimable(0.8) and cal.estimable(0.9) and len(cal.edges) == 2
    assert len(trained.bundle.training_runs) == 360


def test_an_at_risk_flag_names_the_attribute_and_limit_behind_it(trained) -> None:
    """`glycans out-of-spec risk 0.59` alone sends a campaign lead to the scores file."""
    scored = trained.bundle.score(_frame(trained, 400), reasons="none")
    risky = scored[scored["flag"] == "at risk"]
    assert len(risky), "no run at risk in the tiny set"
    pattern = r"(glycans|downstream) out-of-spec risk \d\.\d\d \(\w+ (above|below) [\d.]+"
    assert risky["flag_reason"].str.contains(pattern).all(), risky["flag_reason"].head()
    for reason, row in zip(risky["flag_reason"], risky.itertuples(), strict=True):
        attribute = reason.split("(", 1)[1].split(" ", 1)[0]
        assert getattr(row, f"risk__{attribute}") >= 0.0, reason  # a limit it judges
