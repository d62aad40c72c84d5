"""Process selection: the process model, what-if, its CLI and API, and the closed loop."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.contract.loader import load_campaign
from features.contract.spec import load_spec
from models.bounds import clip
from models.campaign_process import MAX_SPEC_DROP, campaign_process
from models.nextexp import EI, Surface, propose
from models.process import ProcessModel
from models.whatif import EPP, P_SPEC, WhatIfError, pareto_front, space_filling, whatif
from simulator.campaign import SimulationConfig, simulate_set, write_set
from simulator.closedloop import experiments, resimulate, true_outcomes
from tests.helpers.paths import REPO
from training.process import BOOTSTRAP_MEMBERS, MEMBERS, fit_process_model
from training.surface import LENGTHS
from twineval.process import closed_loop, experiment_loop, loop_summary, summary

SPEC = load_spec(REPO / "data" / "spec.yaml")
CONFIG = SimulationConfig(n_campaigns=5, clones_per_campaign=24, seed=5)


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    root = tmp_path_factory.mktemp("process")
    write_set(simulate_set(CONFIG), root, CONFIG, "parquet")
    return load_campaign(root, require_outcomes=True)


@pytest.fixture(scope="module")
def pm(history) -> ProcessModel:
    return fit_process_model(history, SPEC)


def _clone(history, i: int = 0):
    clone = history.clones.iloc[i]
    return clone, history.runs[history.runs["clone_id"] == clone["clone_id"]]


def test_the_process_model_learns_the_box_platform_and_held_out_figures(pm, history) -> None:
    assert pm.reference["seed_density_e6_ml"] == 0.6 and pm.reference["temp_after_shift_c"] == 34
    assert pm.box["ph_setpoint"][0] >= 6.85 and pm.box["ph_setpoint"][1] <= 7.15
    assert pm.optional == ["temp_shift_day"]  # a run without a shift leaves it empty
    assert pm.constants == {"scale": "ambr15"}  # never varied: not a factor
    figures = pm.metrics["targets"]
    for t in ("final_titer_g_l", "dsp_yield_pct", "g0f_pct"):
        assert 0 <= pm.anchor_weight(t, 1) <= pm.anchor_weight(t, 3) <= 1
        # an anchor on one measured run of the clone must help a held-out prediction
        assert figures[t]["one_run_anchor"]["mae"] < figures[t]["no_anchor"]["mae"], t
    assert "campaign-grouped" in pm.metrics["how"]


def test_the_process_model_survives_save_and_load(pm, history, tmp_path) -> None:
    clone, runs = _clone(history)
    again = ProcessModel.load(pm.save(tmp_path / "process"))
    assert len(again.members) == len(pm.members) == MEMBERS - 1
    assert len(again.bootstrap) == len(pm.bootstrap) == BOOTSTRAP_MEMBERS
    assert again.gain_calibration == pm.gain_calibration
    a = whatif(pm, SPEC, clone, runs, history.outcomes, n_candidates=64, design_space=None)
    b = whatif(again, SPEC, clone, runs, history.outcomes, n_candidates=64, design_space=None)
    pd.testing.assert_frame_equal(a.scored, b.scored)


def test_each_prediction_is_the_mean_of_members_that_differ_only_in_their_seed(pm, history):
    clone, runs = _clone(history)
    A = pm.matrix(clone, runs)
    every = [pm.models, *pm.members]
    for t in pm.targets:
        each = np.array([m[t].predict(A) for m in every], dtype=float)
        np.testing.assert_allclose(pm.point(A)[t], clip(each.mean(axis=0), t))
        assert np.ptp(each, axis=0).max() > 0, t  # the seeds do differ


def test_a_process_model_saved_before_members_loads_as_one_model(pm, history, tmp_path) -> None:
    folder = pm.save(tmp_path / "process")
    state = json.loads((folder / "process.json").read_text())
    del state["members"]  # what a bundle of issue 12 wrote
    (folder / "process.json").write_text(json.dumps(state))
    old = ProcessModel.load(folder)
    clone, runs = _clone(history)
    A = pm.matrix(clone, runs)
    assert old.members == []
    for t in pm.targets:
        np.testing.assert_allclose(old.point(A)[t], clip(pm.models[t].predict(A), t), rtol=1e-6)


def test_a_process_model_saved_before_gain_corrections_says_its_gain_is_uncorrected(
    pm, history, tmp_path
) -> None:
    folder = pm.save(tmp_path / "process")
    state = json.loads((folder / "process.json").read_text())
    del state["bootstrap"], state["gain_calibration"]  # what a bundle of issue 23 wrote
    (folder / "process.json").write_text(json.dumps(state))
    old = ProcessModel.load(folder)
    assert old.bootstrap == [] and old.gain_calibration == {}
    clone, runs = _clone(history)
    rec = whatif(old, SPEC, clone, runs, history.outcomes, n_candidates=64).recommended
    assert rec is not None and np.isnan(rec["gain_optimism_g_l"]) and rec["gain_slope"] == 1.0
    assert rec["gain_g_l"] == pytest.approx(rec["gain_raw_g_l"])
    assert "no bootstrap optimism" in rec["gain_how"]


def test_a_recommendation_shows_its_gain_corrected_for_choosing_the_best(pm, history) -> None:
    """The displayed gain: the raw gain less the bootstrap optimism, times the held-out slope."""
    cal = pm.gain_calibration
    assert 0.3 < cal["slope"] < 1.5 and cal["pairs"] > 50
    for i in range(0, 24, 8):
        clone, runs = _clone(history, i)
        res = whatif(pm, SPEC, clone, runs, history.outcomes, n_candidates=128)
        rec = res.recommended
        platform = res.scored[res.scored["source"] == "platform"].iloc[0]
        assert rec["gain_raw_g_l"] == pytest.approx(rec[EPP] - platform[EPP])
        expected = cal["slope"] * (rec["gain_raw_g_l"] - rec["gain_optimism_g_l"])
        assert rec["gain_g_l"] == pytest.approx(expected)
        assert rec["gain_g_l_lo"] == pytest.approx(rec["gain_g_l"] + cal["residual_lo"])
        assert rec["gain_g_l_hi"] == pytest.approx(rec["gain_g_l"] + cal["residual_hi"])
        assert any(r.startswith("gain over the platform") for r in res.reasons)


def test_candidates_outside_the_box_are_excluded_with_their_reason(pm, history) -> None:
    clone, runs = _clone(history)
    grid = pd.DataFrame(
        {
            "seed_density_e6_ml": [2.0, 0.9, 0.5],  # 2.0 is far outside the training range
            "ph_setpoint": [7.0, 7.5, 7.0],  # so is 7.5
        }
    )
    res = whatif(pm, SPEC, clone, runs, history.outcomes, grid=grid)
    excluded = res.excluded.set_index("seed_density_e6_ml")["reason"]
    assert "seed_density_e6_ml = 2 outside the training range" in excluded[2.0]
    assert "ph_setpoint = 7.5 outside the training range" in excluded[0.9]
    assert len(res.scored) == 1 + len(runs) + 1  # platform, the clone's runs, the good row
    rec = res.recommended
    assert rec is not None and not pm.outside_box(pd.DataFrame([rec]))[0]


def test_a_clone_unlike_the_history_gets_no_recommendation(pm, history) -> None:
    clone, runs = _clone(history)
    odd = clone.copy()
    odd["ss_titer_g_l"], odd["lc_hc_ratio"], odd["doubling_time_h"] = 40.0, 9.0, 90.0
    res = whatif(pm, SPEC, odd, runs.iloc[:0], None, n_candidates=32)
    assert res.recommended is None and res.scored.empty
    assert res.excluded["reason"].str.contains("outside the model's experience").all()


def test_a_molecule_the_history_never_made_is_never_scored(pm, history) -> None:
    clone, runs = _clone(history)
    odd = clone.copy()
    odd["molecule"] = "mAb-Z"
    res = whatif(pm, SPEC, odd, runs, None, n_candidates=16)
    assert res.recommended is None
    assert res.excluded["reason"].str.contains("molecule = 'mAb-Z'").all()
    # the answer still serialises (the API once returned a 500 here; found by schemathesis)
    body = res.to_dict()
    assert body["pareto"] == [] and body["candidates"] == [] and body["recommended"] is None
    json.dumps(body, allow_nan=False)  # no NaN reaches a JSON answer


def test_the_recommendation_never_lowers_the_spec_probability(pm, history) -> None:
    for i in range(0, 24, 6):
        clone, runs = _clone(history, i)
        res = whatif(pm, SPEC, clone, runs, history.outcomes, n_candidates=128)
        platform = res.scored[res.scored["source"] == "platform"].iloc[0]
        assert res.recommended[P_SPEC] >= platform[P_SPEC] - 1e-12
        feasible = res.scored[res.scored[P_SPEC] >= platform[P_SPEC] - 1e-12]
        assert res.recommended[EPP] == pytest.approx(feasible[EPP].max())
        assert res.reasons[0].startswith("expected purified product")
        m = res.design_space
        assert m is not None and len(m) == 15 * 15
        assert m.loc[m["inside"], P_SPEC].between(0, 1).all()


def test_a_floor_on_the_spec_probability_is_respected_where_reachable(pm, history) -> None:
    clone, runs = _clone(history, 3)
    res = whatif(pm, SPEC, clone, runs, history.outcomes, n_candidates=128, min_spec_prob=0.95)
    assert res.required_spec_prob == pytest.approx(min(0.95, res.scored[P_SPEC].max()))
    assert res.recommended[P_SPEC] >= res.required_spec_prob - 1e-12


def test_optimise_finds_at_least_what_the_grid_found(pm, history) -> None:
    clone, runs = _clone(history, 1)
    plain = whatif(pm, SPEC, clone, runs, history.outcomes, n_candidates=64, design_space=None)
    better = whatif(
        pm, SPEC, clone, runs, history.outcomes, n_candidates=64, optimise=True, design_space=None
    )
    assert better.recommended[EPP] >= plain.recommended[EPP] - 1e-12
    assert (better.scored["source"] == "optimiser").any()
    assert not any(pm.outside_box(better.scored[pm.factors]))


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        (pd.DataFrame({"stirrer_rpm": [300]}), "not process factors"),
        (pd.DataFrame({"feed_pct": ["four"]}), "row 1: 'four' is not a number"),
    ],
)
def test_a_bad_grid_is_refused_naming_column_and_row(pm, history, grid, message) -> None:
    clone, runs = _clone(history)
    with pytest.raises(WhatIfError, match=message):
        whatif(pm, SPEC, clone, runs, None, grid=grid)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 10), st.floats(0, 1)), min_size=1, max_size=30))
def test_the_pareto_front_is_exactly_the_undominated_points(points) -> None:
    epp = np.array([p[0] for p in points])
    p = np.array([p[1] for p in points])
    front = pareto_front(epp, p)
    for i in range(len(points)):
        dominated = any(
            epp[j] >= epp[i] and p[j] >= p[i] and (epp[j] > epp[i] or p[j] > p[i])
            for j in range(len(points))
        )
        if dominated:
            assert not front[i]
    assert front.any()


def test_the_twin_judges_many_conditions_as_resimulate_does_one() -> None:
    cfg = SimulationConfig(n_campaigns=1, clones_per_campaign=3, seed=2)
    cond = {"seed_density_e6_ml": 0.9, "temp_after_shift_c": 33.0, "temp_shift_day": 5.0}
    own = resimulate(cfg, "C01-K002-R1")
    many = true_outcomes(cfg, ["C01-K002-R1"] * 2, pd.DataFrame([cond, own.conditions]))
    assert many.iloc[0].drop("run_id").to_dict() == pytest.approx(
        resimulate(cfg, "C01-K002-R1", cond).truth
    )
    assert many.iloc[1].drop("run_id").to_dict() == pytest.approx(own.truth)
    with pytest.raises(ValueError, match="outside the DOE box"):
        true_outcomes(cfg, ["C01-K002-R1"], pd.DataFrame([{"ph_setpoint": 7.6}]))


@pytest.fixture(scope="module")
def default_history(default_tables, tmp_path_factory):
    root = tmp_path_factory.mktemp("default_history")
    write_set(default_tables, root, SimulationConfig(), "parquet")
    return load_campaign(root, require_outcomes=True)


def test_closed_loop_recommendations_beat_the_platform_without_more_out_of_spec(
    default_history,
) -> None:
    """On held-out campaigns the twin re-runs each clone: the final recommendation must win.

    The issue's figures (all 12 campaigns held out in turn) are measured by ``make bench``;
    this regression bar holds out the last three campaigns of the default set (72% better
    off there, predicted gain +52% over the true one) and asks for a clear majority of
    clones better off than at the platform, no rise in the true out-of-spec rate, a
    corrected gain between the truth and the raw prediction, and clones told they need their
    own condition that mostly do.
    """
    df = closed_loop(
        SimulationConfig(), SPEC, campaigns=["C10", "C11", "C12"], data=default_history
    )
    s = summary(df)
    assert s["clones"] == 144
    assert s["share_better_than_platform"] >= 0.6, s
    assert s["mean_gain_over_platform_g_l"] > 0, s
    assert s["oos_rate_final"] <= s["oos_rate_platform"], s
    # the correction moves the predicted gain toward the truth, and not past it (C11 here:
    # a campaign its history misjudged, the optimism no correction from the history sees)
    true = s["mean_gain_over_platform_g_l"]
    assert true <= s["predicted_gain_g_l"] < s["predicted_gain_raw_g_l"], s
    assert s["predicted_over_true_pct"] <= 60, s
    assert s["gain_interval_coverage"] >= 0.8, s  # an 80% interval that errs wide
    if s["told_own_for_gain"] >= 5:
        assert s["own_for_gain_truly_better"] >= 0.7, s


# -- next experiments ---------------------------------------------------------------------
def test_the_clone_surface_is_estimated_from_the_history(pm) -> None:
    s = pm.surface
    assert s["pairs"] > 50 and s["offset_var"] > 0 and s["surface_var"] >= 0
    assert LENGTHS[0] <= s["length_scale"] <= LENGTHS[-1]
    # a clone's own level varies more between clones than its surface within the box
    assert s["offset_var"] > s["surface_var"]


def test_the_surface_posterior_follows_a_measurement_and_widens_away_from_it() -> None:
    gp = Surface(offset_var=0.5, surface_var=0.2, length_scale=0.3)
    here, far = np.array([[0.2, 0.2]]), np.array([[0.9, 0.9]])
    mu, sd = gp.posterior(here, np.array([1.0]), np.array([0.01]), np.vstack([here, far]))
    assert mu[0] == pytest.approx(1.0 / (1 + 0.01 / 0.7), rel=1e-6)  # shrunk by the noise
    assert 0 < mu[1] < mu[0] and sd[0] < sd[1] < np.sqrt(0.7)
    mu0, sd0 = gp.posterior(np.zeros((0, 2)), np.zeros(0), np.zeros(0), far)
    assert mu0[0] == 0 and sd0[0] == pytest.approx(np.sqrt(0.7))


def test_next_experiments_are_distinct_inside_the_box_and_the_domain(pm, history) -> None:
    clone, runs = _clone(history, 3)
    grid = space_filling(pm, 200, seed=4)
    grid.loc[0, "seed_density_e6_ml"] = 3.0  # off the box: must never be proposed
    plan = propose(pm, SPEC, clone, runs, history.outcomes, k=4, grid=grid)
    got = plan.proposed
    assert len(got) == 4 and plan.n_measured == len(runs) and plan.excluded >= 1
    assert not any(pm.outside_box(got)) and pm.in_domain(pm.matrix(clone, got))[0].all()
    assert len(got[pm.factors].round(9).drop_duplicates()) == 4
    assert got["reason"].str.contains("P\\(spec\\)").all()
    assert (got[EI] >= 0).all() and got[P_SPEC].between(0, 1).all()
    with pytest.raises(WhatIfError, match=r"k .* must be 1-50"):
        propose(pm, SPEC, clone, runs, history.outcomes, k=0)


def test_a_new_run_is_fresh_noise_on_the_same_truth() -> None:
    cfg = SimulationConfig(n_campaigns=1, clones_per_campaign=3, seed=2)
    cond = pd.DataFrame([{"seed_density_e6_ml": 0.9}])
    t1, m1 = experiments(cfg, ["C01-K001-R1"], cond, replicate=1)
    t2, m2 = experiments(cfg, ["C01-K001-R1"], cond, replicate=2)
    _, m1again = experiments(cfg, ["C01-K001-R1"], cond, replicate=1)
    assert t1.equals(t2) and m1.equals(m1again)
    assert m1["final_titer_g_l"].iloc[0] != m2["final_titer_g_l"].iloc[0]
    assert t1.drop(columns="run_id").iloc[0].to_dict() == pytest.approx(
        true_outcomes(cfg, ["C01-K001-R1"], cond).drop(columns="run_id").iloc[0].to_dict()
    )


def test_proposed_experiments_find_better_conditions_than_random_or_space_filling(
    default_history,
) -> None:
    """New clones of a held-out campaign, 4-run start, 3 rounds of 2: the twin judges.

    ``make bench`` runs the larger version (more clones and seeds, another campaign) and
    reports the curves; this bar asks that the proposals end higher than both classical
    designs on average and in each seed.
    """
    df = experiment_loop(
        SimulationConfig(), SPEC, "C12", n_clones=6, rounds=3, seeds=(0, 1), data=default_history
    )
    s = loop_summary(df)
    assert set(df["n_runs"]) == {4, 6, 8, 10} and s["clones"] == 6
    for other in ("random", "space-filling"):
        assert s[f"proposed_minus_{other}_g_l"] > 0, s
        assert s[f"seeds_proposed_better_than_{other}"] == 2, s
    assert s["final_oos_rate"]["proposed"] <= s["final_oos_rate"]["random"], s


# -- through the trained bundle: CLI and API ---------------------------------------------
def test_the_trained_bundle_carries_the_process_model(trained) -> None:
    pm = trained.bundle.process
    assert pm is not None and set(pm.targets) >= {"final_titer_g_l", "dsp_yield_pct"}
    assert trained.report.metrics["process_model"]["targets"]["dsp_yield_pct"]["no_anchor"]["n"]


def test_whatif_cli_prints_the_recommendation_and_writes_json(
    trained, monkeypatch, tmp_path, capsys
):
    from clonescout_cli.main import main

    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained.tracking_uri)
    clone = str(trained.data.clones["clone_id"].iloc[0])
    out = tmp_path / "whatif.json"
    argv = ["whatif", "--data", str(trained.data.folder), "--clone", clone, "--out", str(out)]
    rc = main([*argv, "--model", trained.report.model_uri, "--candidates", "100"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert f"clone {clone}" in printed and "recommended:" in printed and "Pareto set" in printed
    body = json.loads(out.read_text())
    assert body["recommended"] and body["design_space"] and body["anchored_on_runs"]
    assert "next_experiments" not in body
    rc = main([*argv, "--model", trained.report.model_uri, "--candidates", "60", "--next", "2"])
    assert rc == 0 and "next 2 experiment(s) for clone" in capsys.readouterr().out
    assert len(json.loads(out.read_text())["next_experiments"]["proposed"]) == 2
    rc = main([*argv[:4], "nope", "--model", trained.report.model_uri])
    assert rc == 2 and "clone 'nope' is not in" in capsys.readouterr().err


def test_whatif_endpoint_answers_as_the_function_and_refuses_bad_requests(monkeypatch, trained):
    from tests.helpers.service import app_client, wait_ready

    data, pm = trained.data, trained.bundle.process
    clone = data.clones.iloc[2]
    runs = data.runs[data.runs["clone_id"] == clone["clone_id"]]
    measured = runs[["run_id"]].merge(data.outcomes, on="run_id")
    body = {
        "clone": {k: (None if pd.isna(v) else v) for k, v in clone.items()},
        "runs": [
            {
                "run_id": r["run_id"],
                "conditions": {f: (None if pd.isna(r[f]) else float(r[f])) for f in pm.factors},
                "outcomes": {t: float(m[t]) for t in pm.targets},
            }
            for (_, r), (_, m) in zip(runs.iterrows(), measured.iterrows(), strict=True)
        ],
        "candidates": [{"seed_density_e6_ml": 0.9}, {"seed_density_e6_ml": 3.0}],
    }
    with app_client(monkeypatch, trained) as c:
        wait_ready(c)
        resp = c.post("/whatif", json={"request": {**body, "next_experiments": 2}})
        assert resp.status_code == 200, resp.text
        got = resp.json()
        assert got["model"]["version"] and got["recommended"] is not None
        assert len(got["next_experiments"]["proposed"]) == 2
        assert all(p["seed_density_e6_ml"] == 0.9 for p in got["next_experiments"]["proposed"])
        assert [e["seed_density_e6_ml"] for e in got["excluded"]] == [3.0]
        assert "outside the training range" in got["excluded"][0]["reason"]
        direct = whatif(
            pm,
            trained.bundle.predictor.spec,
            clone,
            runs,
            data.outcomes,
            grid=pd.DataFrame(body["candidates"]),
        )
        assert got["recommended"][EPP] == pytest.approx(direct.recommended[EPP])
        bad = c.post("/whatif", json={"request": {**body, "candidates": [{"rpm": 3.0}]}})
        assert bad.status_code == 422 and "not process factors" in bad.text
        assert "/whatif" in c.get("/docs.json").json()["paths"]


# -- a whole campaign: one condition for most clones, and the report --------------------
def test_each_clone_takes_the_campaign_condition_unless_the_evidence_says_otherwise(
    pm, history
) -> None:
    clones = history.clones[history.clones["campaign_id"] == "C05"]
    top = clones["clone_id"].head(2).tolist()
    r = campaign_process(pm, SPEC, clones, history.runs, history.outcomes, top, n_candidates=80)
    pc = r.per_clone
    assert len(pc) == len(clones) and set(r.maps) == set(top)
    assert r.campaign_condition is not None and not any(
        pm.outside_box(pd.DataFrame([r.campaign_condition]))
    )
    s = r.campaign_summary
    # the campaign condition maximises the mean expected in-spec product, the platform too
    assert s["mean_expected_in_spec_product_g_l"] >= s["platform_mean_expected_in_spec_product_g_l"]
    own = pc["final_recommendation"] == "own condition"
    assert set(pc["final_recommendation"]) <= {"own condition", "campaign condition"}
    assert s["clones_own_condition"] == own.sum()
    assert s["share_campaign_condition"] == pytest.approx(1 - own.mean())
    # own for product: beyond the least gain at the lower bound; own for spec: the campaign
    # condition would lower the clone's P(spec) by more than MAX_SPEC_DROP; never otherwise
    for_gain = pc["needs_own_for"].str.contains("gain")
    assert (pc.loc[for_gain, "own_gain_over_campaign_lower_g_l"] > s["min_own_gain_g_l"]).all()
    spec_lower = pc["campaign_condition_p_spec"] < pc["platform_p_spec"] - MAX_SPEC_DROP
    for_domain = pc["needs_own_for"] == "domain"  # the platform outside the clone's domain
    assert (own == (for_gain | spec_lower | for_domain)).all()
    assert (pc.loc[own, "needs_own_because"] != "").all()
    assert (pc.loc[~own, "campaign_condition_fits_because"] != "").all()
    for f in pm.factors:  # the campaign condition's clones run at exactly it
        assert np.allclose(pc.loc[~own, f"final__{f}"], r.campaign_condition[f], equal_nan=True)
    # every gain shown comes with its interval, corrected for choosing the best
    assert (pc["final_gain_g_l_lo"] <= pc["final_gain_g_l"]).all()
    assert (pc["final_gain_g_l"] <= pc["final_gain_g_l_hi"]).all()
    assert s["campaign_gain_optimism_g_l"] >= -0.05 and "bootstrap" in s["campaign_gain_how"]
    with pytest.raises(ValueError, match="min_own_gain"):
        campaign_process(pm, SPEC, clones, history.runs, None, top, min_own_gain=-1)


def test_process_cli_writes_the_campaign_section_of_the_report(trained, monkeypatch, tmp_path):
    from clonescout_cli.main import main
    from serving.report import render_report

    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained.tracking_uri)
    model = ["--model", trained.report.model_uri]
    folder = str(trained.data.folder)
    scores = tmp_path / "scores.csv"
    assert main(["score", "--data", folder, "--out", str(scores), *model]) == 0
    assert "run <code>clonescout process" in render_report(scores)  # says how to get it
    argv = ["process", "--data", folder, "--scores", str(scores), "--candidates", "40"]
    assert main([*argv, "--top", "2", *model]) == 0
    body = json.loads((tmp_path / "scores.process.json").read_text())
    assert len(body["per_clone"]) == trained.data.clones["clone_id"].nunique()
    assert len(body["design_space"]) == 2 and body["campaign_condition"]
    page = render_report(scores)
    assert "8. Process conditions" in page and page.count("Design space for") == 2
    assert "One condition for the campaign" in page
    (tmp_path / "scores.process.json").write_text("{}")
    with pytest.raises(ValueError, match="missing keys"):
        render_report(scores)
    assert "How the gain was estimated" in page and "need their own condition" in page
    assert main([*argv, *model, "--min-own-gain", "-1"]) == 2


def test_a_clone_whose_platform_is_outside_its_domain_keeps_its_own_recommendation(
    pm, history, monkeypatch
) -> None:
    """It cannot be compared with the platform, so it neither joins nor cancels the choice."""
    import models.campaign_process as cp

    clones = history.clones[history.clones["campaign_id"] == "C05"].head(6)
    odd = str(clones["clone_id"].iloc[0])
    real = cp.whatif

    def without_platform(pm_, spec, clone, *args, **kwargs):
        res = real(pm_, spec, clone, *args, **kwargs)
        if str(clone["clone_id"]) == odd:  # as if the platform lay outside its domain
            res.scored = res.scored[res.scored["source"] != "platform"].reset_index(drop=True)
        return res

    monkeypatch.setattr(cp, "whatif", without_platform)
    r = campaign_process(pm, SPEC, clones, history.runs, history.outcomes, [], n_candidates=60)
    assert r.campaign_condition is not None
    pc = r.per_clone.set_index("clone_id")
    assert pc.at[odd, "final_recommendation"] == "own condition"
    assert pc.at[odd, "needs_own_for"] == "domain"
    assert "platform lies outside" in pc.at[odd, "needs_own_because"]
    assert r.campaign_summary["clones_own_for_domain"] == 1
    others = pc.drop(index=odd)
    assert others["final_gain_g_l"].notna().all()
