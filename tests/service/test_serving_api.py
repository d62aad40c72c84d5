"""The HTTP API in process (BentoML app over ASGI): every endpoint, error case and auth case.

The service is configured the way `clonescout serve` configures it (environment), on the
small model of the session's `trained` fixture. Each bad request must get a 4xx whose body
names the field path, the value and what was expected; none may get a 5xx.
"""

from __future__ import annotations

import copy
import io
import json
import os
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("bentoml")

from serving.engine import runs_from_campaign
from serving.examples import EXAMPLE_RUN
from tests.helpers.paths import PEER, needs_peer
from tests.helpers.service import _APP, KEY, app_client, wait_ready


@pytest.fixture(scope="module")
def runs(trained) -> list[dict]:
    return runs_from_campaign(trained.data)


@pytest.fixture()
def client(monkeypatch, trained):
    with app_client(monkeypatch, trained) as c:
        wait_ready(c)
        yield c


def _problems(resp) -> list[dict]:
    body = resp.json()
    assert set(body) == {"error", "detail", "problems"}, body
    assert "Traceback" not in resp.text
    for p in body["problems"]:  # the text names each problem too
        assert p["path"] in body["detail"]
    return body["problems"]


# -- health and description --------------------------------------------------------------
def test_livez_answers_and_readyz_waits_for_the_model(monkeypatch, trained):
    with app_client(monkeypatch, trained) as c:
        assert c.get("/livez").status_code == 200
        wait_ready(c)
        assert c.get("/readyz").status_code == 200


def test_the_served_app_times_requests_out_with_our_deadline(client):
    """BentoML's timeout middleware is replaced (it kept every request alive 120 s)."""
    assert client.get("/livez").status_code == 200  # the middleware stack is built
    layer, seen = getattr(_APP[0], "middleware_stack", None), []
    while layer is not None and len(seen) < 50:
        seen.append(type(layer).__name__)
        layer = getattr(layer, "app", None)
    assert "Deadline" in seen and "TimeoutMiddleware" not in seen, seen


def test_a_model_that_cannot_load_is_never_ready_and_scoring_says_503(monkeypatch, trained):
    with app_client(monkeypatch, trained, model="models:/no-such-model/1") as c:
        time.sleep(2.0)
        assert c.get("/livez").status_code == 200
        assert c.get("/readyz").status_code == 503
        r = c.post("/score", json={"runs": [EXAMPLE_RUN]})
        assert r.status_code == 503
        assert "still loading" in r.json()["error"]


def test_openapi_lists_every_endpoint_with_examples_and_units(client):
    doc = client.get("/docs.json").json()
    for path in ("/score", "/score_campaign", "/explain", "/model", "/livez", "/readyz"):
        assert path in doc["paths"], path
    text = json.dumps(doc)
    assert "K042-R1" in text  # the example run of /score and /explain
    assert "peer_emulator" in text  # the example of /score_campaign
    assert "1e6 cells/mL" in text and "Physical range 0 to 100" in text


# -- score --------------------------------------------------------------------------------
def test_score_one_run_carries_every_part_and_the_model_version(client, trained):
    body = client.post("/score", json={"runs": [EXAMPLE_RUN]}).json()
    assert body["runs_in"] == 1 and body["scored"] == 1 and body["rejected"] == 0
    res = body["results"][0]
    assert res["status"] == "scored" and res["run_id"] == "K042-R1"
    assert res["model"]["version"] == "1"
    assert res["model"]["name"] == "clonescout-test"
    assert res["model"]["data_hash"] == trained.bundle.manifest["training_data_hash"]
    assert set(res["predictions"]) == set(trained.bundle.targets)
    for p in res["predictions"].values():
        if res["flag"] != "unknown":
            assert p["pi90"]["lo"] <= p["pi80"]["lo"] <= p["value"] <= p["pi80"]["hi"]
            assert p["pi80"]["hi"] <= p["pi90"]["hi"]
    assert {lim["attribute"] for lim in res["limits"]} >= {"g0f_pct", "dsp_yield_pct"}
    assert res["not_judged"] == []  # every spec limit is judged by the default targets
    assert res["flag"] in ("ok", "at risk", "unknown")


def test_score_many_runs_equals_the_bundle_on_the_same_runs(client, trained, runs):
    body = client.post("/score", json={"runs": runs[:40]}).json()
    assert [r["run_id"] for r in body["results"]] == [r["run_id"] for r in runs[:40]]
    from features.assemble import long_frame

    frame = long_frame(trained.data)
    frame = frame[frame["run_id"].isin({r["run_id"] for r in runs[:40]})]
    ref = trained.bundle.score(frame).set_index("run_id")
    for res in body["results"]:
        row = ref.loc[res["run_id"]]
        for t, p in res["predictions"].items():
            want = row[t]
            assert (p["value"] is None and np.isnan(want)) or abs(p["value"] - want) < 1e-9
        assert res["flag"] == row["flag"]
        assert res["seen_in_training"] == row["seen_in_training"]


def test_each_request_chooses_which_runs_carry_reasons(client, runs):
    """all (default) / flagged (at risk or near the edge) / none; nothing else changes."""
    answers = {
        mode: client.post("/score", json={"runs": runs[:60], "reasons": mode}).json()["results"]
        for mode in ("all", "flagged", "none")
    }
    assert answers["all"] == client.post("/score", json={"runs": runs[:60]}).json()["results"]
    flagged = 0
    for every, some, bare in zip(*answers.values(), strict=True):
        assert {**every, "reasons": {}} == {**some, "reasons": {}} == bare
        assert bare["reasons"] == {}
        if every["flag"] == "unknown":
            assert every["reasons"] == some["reasons"] == {}
        elif every["flag"] == "at risk" or every["applicability"] == "borderline":
            flagged += 1
            assert some["reasons"] == every["reasons"] != {}
        else:
            assert some["reasons"] == {} and every["reasons"] != {}
    assert 0 < flagged < 60
    r = client.post("/score", json={"runs": runs[:1], "reasons": "some"})
    assert r.status_code == 422 and "reasons" in r.text


def test_a_bad_run_in_a_batch_is_rejected_beside_the_good_ones(client, runs):
    over = copy.deepcopy(runs[0])
    over["samples"][2]["viability_pct"] = 140.0
    lab = copy.deepcopy(runs[1])
    lab["samples"][2]["viability_pct"] = 100.4  # instrument overshoot: clipped, noted
    lab["samples"][3]["titer_g_l"] = "<0.5"  # censored: read as 0.25, noted
    empty = copy.deepcopy(runs[2])
    empty["samples"] = []
    text = copy.deepcopy(runs[3])
    text["samples"][1]["glucose_g_l"] = "5,2"
    unsorted = copy.deepcopy(runs[4])
    unsorted["samples"][1]["day"], unsorted["samples"][2]["day"] = 2.0, 1.0
    late = copy.deepcopy(runs[6])
    late["samples"] = [dict(s, day=s["day"] + 8) for s in late["samples"]]
    sent = [over, lab, empty, runs[5], text, unsorted, late]
    r = client.post("/score", json={"runs": sent})
    assert r.status_code == 200
    body = r.json()
    status = [x["status"] for x in body["results"]]
    assert status == [
        "rejected",
        "scored",
        "rejected",
        "scored",
        "rejected",
        "rejected",
        "rejected",
    ]
    assert body["runs_in"] == 7 and body["scored"] == 2 and body["rejected"] == 5
    res = body["results"]
    assert "runs[0].samples[2], column 'viability_pct'" in res[0]["reasons"][0]
    assert "found 140" in res[0]["reasons"][0]
    assert any("overshoot" in n for n in res[1]["notes"])
    assert any("'<0.5'" in n for n in res[1]["notes"])
    assert res[2]["reasons"] == ["no samples for this run"] and res[2]["stage"] == "features"
    assert "glucose_g_l" in res[4]["reasons"][0] and "5,2" in res[4]["reasons"][0]
    assert "days must increase" in res[5]["reasons"][0]
    assert "no samples at or before horizon day 7" in res[6]["reasons"][0]


def test_a_runs_result_does_not_depend_on_the_runs_sent_with_it(client, runs):
    alone = client.post("/score", json={"runs": [runs[7]]}).json()["results"][0]
    mixed = client.post("/score", json={"runs": [runs[8], runs[7], runs[9]]}).json()
    _same(mixed["results"][1], alone)


def _same(a, b, tol: float = 1e-9) -> None:
    """Equal, floats to ``tol`` (T² comes from a matrix product: the last bit may differ)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _same(a[k], b[k], tol)
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y, tol)
    elif isinstance(a, float) and isinstance(b, float):
        assert abs(a - b) <= tol * max(1.0, abs(b)), (a, b)
    else:
        assert a == b


def test_the_fast_path_gives_what_the_full_contract_gives(trained, runs, monkeypatch):
    """Clean runs skip the pandera contract; forcing it on them must change nothing."""
    from serving import engine as eng
    from serving import intake

    e = eng.Engine(trained.bundle, eng.ServedModel("m", "1", "models:/m/1", None, "h", 7.0))
    fast = e.score(runs[:25])
    monkeypatch.setattr(intake, "is_plain", lambda run: False)
    full = e.score(runs[:25])
    for a, b in zip(fast, full, strict=True):
        b.pop("notes"), a.pop("notes")
        _same(a, b)


def test_a_day_out_of_range_is_read_by_the_contract(client):
    bad = copy.deepcopy(EXAMPLE_RUN)
    bad["samples"][-1]["day"] = 150.0
    res = client.post("/score", json={"runs": [bad]}).json()["results"][0]
    assert res["status"] == "rejected"
    assert "column 'day'" in res["reasons"][0] and "150" in res["reasons"][0]


@pytest.mark.parametrize(
    ("body", "path", "expected"),
    [
        ({"runs": [{**EXAMPLE_RUN, "run_id": 3}]}, "runs[0].run_id", "valid string"),
        (
            {"runs": [{k: v for k, v in EXAMPLE_RUN.items() if k != "scale"}]},
            "runs[0].scale",
            "required",
        ),
        ({"runs": [{**EXAMPLE_RUN, "samples": {"day": 1}}]}, "runs[0].samples", "valid array"),
        (
            {"runs": [{**EXAMPLE_RUN, "samples": [{"day": 0, "ph": True}]}]},
            "runs[0].samples[0].ph",
            "valid number or a valid string",
        ),
        (
            {"runs": [{**EXAMPLE_RUN, "samples": [{"vcd_e6_ml": 1.0}]}]},
            "runs[0].samples[0].day",
            "required",
        ),
        ({"runs": []}, "runs", "at least 1"),
        ({"runs": [EXAMPLE_RUN], "explain": True}, "explain", "no such field"),
        ({}, "runs", "required"),
        ({"runs": [EXAMPLE_RUN, EXAMPLE_RUN]}, "runs[1].run_id", "unique"),
        (
            {"runs": [{**EXAMPLE_RUN, "clone": {"clone_id": "K1", "campaign_id": ""}}]},
            "runs[0].clone.campaign_id",
            "at least 1",
        ),
    ],
)
def test_a_misshapen_request_gets_422_naming_path_value_and_expectation(
    client, body, path, expected
):
    r = client.post("/score", json=body)
    assert r.status_code == 422, r.text
    detail = _problems(r)
    hit = [d for d in detail if d["path"] == path]
    assert hit, detail
    assert expected in hit[0]["expected"]
    assert "value" in hit[0]


def test_a_run_the_contract_cannot_place_is_rejected_not_a_500(client):
    # found by schemathesis: a blank-looking id (a no-break space) made the contract drop
    # the row, and the service answered 500
    odd = {**copy.deepcopy(EXAMPLE_RUN), "run_id": "\u00a0", "galactose_mm": "x"}
    r = client.post("/score", json={"runs": [odd, EXAMPLE_RUN]})
    assert r.status_code == 200, r.text
    first, second = r.json()["results"]
    assert first["status"] == "rejected" and "runs[0]" in first["reasons"][0]
    assert second["status"] == "scored"


def test_not_json_and_wrong_media_type_get_400_and_415(client):
    r = client.post("/score", content=b'{"runs": [', headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert _problems(r)[0]["path"] == "(body)"
    r = client.post("/score", content=b"runs", headers={"content-type": "text/plain"})
    assert r.status_code == 415
    assert "application/json" in r.json()["error"]


def test_unknown_endpoint_and_wrong_method_are_4xx(client):
    assert client.post("/nope", json={}).status_code == 404
    assert client.get("/score").status_code == 405


# -- explain and model ----------------------------------------------------------------------
def test_explain_gives_every_feature_and_adds_up(client, trained):
    body = client.post("/explain", json={"run": EXAMPLE_RUN}).json()
    assert body["run"]["run_id"] == "K042-R1"
    n_features = len(trained.bundle.predictor.feature_names)
    assert {e["target"] for e in body["explanations"]} == set(trained.bundle.targets)
    for e in body["explanations"]:
        assert len(e["contributions"]) == n_features
        total = e["base_value"] + sum(c["contribution"] for c in e["contributions"])
        assert abs(total - e["prediction"]) < 1e-6
        mags = [abs(c["contribution"]) for c in e["contributions"]]
        assert mags == sorted(mags, reverse=True)


def test_explain_of_a_rejected_run_says_why_without_numbers(client):
    bad = copy.deepcopy(EXAMPLE_RUN)
    bad["samples"][1]["ph"] = 2.0
    body = client.post("/explain", json={"run": bad}).json()
    assert body["run"]["status"] == "rejected" and body["explanations"] == []
    assert "runs[0].samples[1], column 'ph'" in body["run"]["reasons"][0]


def test_model_card_says_version_data_hash_metrics_spec_and_features(client, trained):
    body = client.post("/model", json={}).json()
    assert body["model"]["version"] == "1" and body["alias"] is None
    assert body["model"]["horizon_day"] == 7.0
    assert body["features"] == list(trained.bundle.predictor.feature_names)
    assert "dsp_yield_pct" in body["metrics"]["targets"]
    judged = {lim["attribute"]: lim["judged"] for lim in body["spec"]["limits"]}
    assert judged["g0f_pct"] and judged["hmw_pct"] and judged["hcp_ppm"]
    families = body["manifest"]["model_families"]
    assert set(families) == set(trained.bundle.targets)
    for f in families.values():  # each target's blend: weights over the four families
        assert f["family"] == "blend" and set(f["weights"]) <= {"titer", "pls", "ridge", "boosted"}
        assert sum(f["weights"].values()) == pytest.approx(1.0, abs=1e-3) and f["label"]
    assert body["training_runs"] == len(trained.bundle.training_runs)


# -- score_campaign ---------------------------------------------------------------------------
def _zip_folder(folder: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for p in folder.iterdir():
            if p.name in ("clones.parquet", "runs.parquet", "samples.parquet"):
                z.write(p, f"campaign/{p.name}")
    return buf.getvalue()


def test_score_campaign_from_a_zip_ranks_clones_and_accounts_for_every_run(client, trained):
    zipped = _zip_folder(trained.data.folder)
    r = client.post("/score_campaign", files={"file": ("camp.zip", zipped, "application/zip")})
    assert r.status_code == 200, r.text[:500]
    body = r.json()
    assert body["runs_in"] == len(trained.data.runs)
    assert body["runs_in"] == body["scored"] + body["rejected"]
    ranks = [c["rank"] for c in body["clones"] if c["rank"] is not None]
    assert ranks == list(range(1, len(ranks) + 1))
    assert {c["clone_id"] for c in body["clones"]} == set(trained.data.runs["clone_id"])
    unranked = [c for c in body["clones"] if c["rank"] is None]
    assert all(c["flag"] == "unknown" for c in unranked)
    # the training campaigns against themselves: each one's drift verdict, none drifted
    drift = body["drift"]
    assert drift["available"] and drift["method"]
    assert {c["campaign_id"] for c in drift["campaigns"]} == set(trained.data.clones["campaign_id"])
    assert all(c["verdict"] == "none" for c in drift["campaigns"]), drift


def test_score_campaign_ranks_clones_exactly_as_the_cli_does(
    client, trained, tmp_path, monkeypatch
):
    """One ranking (models.ranking) behind the API and `clonescout score`'s clone table."""
    from clonescout_cli.main import main

    zipped = _zip_folder(trained.data.folder)
    r = client.post("/score_campaign", files={"file": ("camp.zip", zipped, "application/zip")})
    assert r.status_code == 200, r.text[:500]
    api = pd.DataFrame(r.json()["clones"]).set_index("clone_id")
    out = tmp_path / "scores.parquet"
    model = "models:/clonescout-test/1"
    assert (
        main(["score", "--data", str(trained.data.folder), "--out", str(out), "--model", model])
        == 0
    )
    cli = pd.read_parquet(tmp_path / "scores.clones.parquet").set_index("clone_id")
    assert list(api.index) == list(cli.index)  # same order: rank, then unknown clones
    for col in ("desirability", "expected_product_g_l", "dsp_yield_lo90", "titer_g_l"):
        np.testing.assert_allclose(
            api[col].to_numpy(float), cli[col].to_numpy(float), rtol=0, atol=1e-9, err_msg=col
        )
    assert (api["pareto"].to_numpy() == cli["pareto"].to_numpy()).all()
    ranks = [[None if pd.isna(x) else int(x) for x in t["rank"]] for t in (api, cli)]
    assert ranks[0] == ranks[1]


@needs_peer
def test_score_campaign_reads_a_foreign_file_through_a_named_mapping(client):
    name = sorted(p.name for p in PEER.glob("*.csv"))[0]
    content = (PEER / name).read_bytes()
    r = client.post(
        "/score_campaign",
        files={"file": (name, content, "text/csv")},
        data={"mapping": "peer_emulator"},
    )
    assert r.status_code == 200, r.text[:500]
    body = r.json()
    assert body["runs_in"] == body["scored"] + body["rejected"] > 0


@pytest.mark.parametrize(
    ("name", "content", "mapping", "path"),
    [
        ("runs.csv", b"run_id\nR1\n", None, "mapping"),
        ("runs.csv", b"run_id\nR1\n", "no-such-mapping", "mapping"),
        ("notes.txt", b"hello", None, "file"),
        ("camp.zip", b"not a zip", None, "file"),
        ("peer.parquet", b"PAR1 garbage, not parquet", "peer_emulator", "file"),
        ("peer.csv", b"a,b\n1,2\n", "peer_emulator", "file"),  # none of the mapped columns
    ],
)
def test_score_campaign_refuses_what_it_cannot_read_with_422(client, name, content, mapping, path):
    data = {"mapping": mapping} if mapping else {}
    r = client.post("/score_campaign", files={"file": (name, content, "text/plain")}, data=data)
    assert r.status_code == 422, r.text
    assert _problems(r)[0]["path"] == path


def test_score_campaign_with_a_broken_folder_says_what_breaks_the_contract(client, tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("c/runs.csv", "run_id,clone_id,scale\nR1,K1,ambr15\n")
    r = client.post("/score_campaign", files={"file": ("c.zip", buf.getvalue(), "application/zip")})
    assert r.status_code == 422
    assert "clones" in _problems(r)[0]["expected"]


# -- auth -----------------------------------------------------------------------------------
def test_with_keys_configured_every_endpoint_but_health_needs_the_key(monkeypatch, trained):
    with app_client(monkeypatch, trained, keys=f"{KEY},{'z' * 20}") as c:
        wait_ready(c)
        assert c.get("/livez").status_code == 200
        assert c.get("/readyz").status_code == 200
        for method, path, kw in (
            ("post", "/score", {"json": {"runs": [EXAMPLE_RUN]}}),
            ("post", "/explain", {"json": {"run": EXAMPLE_RUN}}),
            ("post", "/model", {"json": {}}),
            ("get", "/docs.json", {}),
        ):
            none = getattr(c, method)(path, **kw)
            wrong = getattr(c, method)(path, headers={"X-API-Key": KEY[:-1] + "x"}, **kw)
            right = getattr(c, method)(path, headers={"X-API-Key": KEY}, **kw)
            assert none.status_code == 401 and wrong.status_code == 401, path
            assert right.status_code == 200, path
            assert KEY not in wrong.text and "X-API-Key" in wrong.json()["error"]
        second = c.post("/model", json={}, headers={"X-API-Key": "z" * 20})
        assert second.status_code == 200


def test_keys_rotate_from_the_file_and_a_missing_file_fails_closed(monkeypatch, trained, tmp_path):
    keys = tmp_path / "keys.txt"
    keys.write_text(KEY + "\n")
    with app_client(monkeypatch, trained) as c:
        monkeypatch.setenv("CLONESCOUT_API_KEYS_FILE", str(keys))
        wait_ready(c)
        assert c.post("/model", json={}, headers={"X-API-Key": KEY}).status_code == 200
        new = "n" * 24
        keys.write_text(new + "\n")
        os.utime(keys, (time.time() + 5, time.time() + 5))
        assert c.post("/model", json={}, headers={"X-API-Key": KEY}).status_code == 401
        assert c.post("/model", json={}, headers={"X-API-Key": new}).status_code == 200
        keys.unlink()
        r = c.post("/model", json={}, headers={"X-API-Key": new})
        assert r.status_code == 503 and "no such file" in r.json()["error"]
        assert c.get("/livez").status_code == 200


def test_short_keys_are_refused_at_start(monkeypatch):
    from serving.config import ConfigError, Settings

    with pytest.raises(ConfigError, match="at least 16 characters"):
        Settings.from_env({"CLONESCOUT_API_KEYS": "short"})


def test_keys_file_is_read_with_comments(tmp_path):
    from serving.config import Settings

    f = tmp_path / "keys"
    f.write_text(f"# team A\n{KEY}\n\n{'y' * 16}  # team B\n")
    assert Settings.from_env({"CLONESCOUT_API_KEYS_FILE": str(f)}).api_keys == (KEY, "y" * 16)


def test_workers_default_to_one_per_core_and_share_the_cores(monkeypatch):
    import argparse

    import serving.config as config
    from clonescout_cli.servecmd import THREAD_VARS, serve_env
    from serving.config import Settings

    monkeypatch.setattr(config, "cores", lambda: 8)
    default = Settings.from_env({})
    assert (default.workers, default.n_workers, default.threads) == ("cpu_count", 8, 1)
    assert Settings.from_env({"CLONESCOUT_WORKERS": "2"}).threads == 4
    assert Settings.from_env({"CLONESCOUT_WORKERS": "3"}).threads == 2
    assert Settings.from_env({"CLONESCOUT_WORKERS": "16"}).threads == 1
    for var in THREAD_VARS:
        monkeypatch.delenv(var, raising=False)
    args = argparse.Namespace(workers="2", api_keys_file=None, no_batching=False, port=3000)
    env = serve_env(args, "models:/m/1")
    assert env["CLONESCOUT_WORKERS"] == "2" and all(env[v] == "4" for v in THREAD_VARS)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the user's own choice stands
    assert serve_env(args, "models:/m/1")["OMP_NUM_THREADS"] == "3"


def test_each_service_gets_its_own_bentoml_home(monkeypatch, tmp_path):
    """bentoml serve empties its home's Prometheus folder at start: two services sharing one
    would zero each other's /metrics, so each port gets its own home under the user's."""
    import argparse

    from clonescout_cli.servecmd import serve_env

    def home(port: int) -> str:
        args = argparse.Namespace(workers=None, api_keys_file=None, no_batching=False, port=port)
        return serve_env(args, "models:/m/1")["BENTOML_HOME"]

    monkeypatch.setenv("BENTOML_HOME", str(tmp_path / "team"))
    assert home(3000) == str(tmp_path / "team" / "clonescout" / "port-3000")
    assert home(3001) != home(3000)
    monkeypatch.delenv("BENTOML_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert home(3000) == str(tmp_path / "bentoml" / "clonescout" / "port-3000")
