"""The HTTP API fuzzed in process, and the requests fuzzing found, kept as fixed cases.

- Every operation the served OpenAPI description lists gets requests that fit it and
  requests that break it (schemathesis), and the JSON and upload endpoints also get
  hand-made ones a description cannot say (real runs with damaged cells; what-if requests
  naming the model's real factors, with NaN, infinities and repeated run ids; damaged
  campaign zips: :mod:`tests.helpers.fuzz`). One fixed seed draws them, so every run
  sends the same requests. None may get a 5xx, and a 422 names the field at fault.
- Each request fuzzing found that got a 500 is a fixed case here: a malformed one now
  gets a 422 naming the field path, a valid one an answer.

The long randomized run (a new seed each time, over a thousand cases per endpoint) is
``bench/bench_fuzz.py``.
"""

from __future__ import annotations

import copy
import io
import json
import zipfile

import pytest

pytest.importorskip("bentoml")
schemathesis = pytest.importorskip("schemathesis")

from serving.engine import runs_from_campaign  # noqa: E402
from tests.helpers import fuzz  # noqa: E402
from tests.helpers.service import app_client, wait_ready  # noqa: E402

SEED = 22  # issue 22: any fixed seed replays the same requests on every run
CASES = 30  # per source and endpoint: ~60 requests for each JSON endpoint, ~1 min in all


@pytest.fixture(scope="module")
def client(trained):
    with pytest.MonkeyPatch.context() as mp, app_client(mp, trained) as c:
        wait_ready(c)
        yield c


@pytest.fixture(scope="module")
def clone(trained) -> dict:
    """A real clone, every assay within its physical range."""
    return json.loads(trained.data.clones.iloc[[2]].to_json(orient="records"))[0]


@pytest.fixture(scope="module")
def measured(trained) -> dict:
    """A measured run of that clone: its conditions and outcomes."""
    pm = trained.bundle.process
    return {
        "run_id": "M1",
        "conditions": {f: float(v) for f, v in pm.reference.items() if v == v},  # NaN: none
        "outcomes": {"final_titer_g_l": 3.0, "dsp_yield_pct": 70.0, "g0f_pct": 45.0},
    }


def _post(client, path: str, body: dict):
    """POST ``body`` as Python writes JSON: NaN and infinities as the tokens, not refused."""
    return client.post(path, content=json.dumps(body), headers={"content-type": "application/json"})


def _problem(resp, path: str) -> dict:
    """The problem the 4xx body names at ``path`` (the text says it too)."""
    body = resp.json()
    assert set(body) == {"error", "detail", "problems"}, body
    hit = [p for p in body["problems"] if p["path"] == path]
    assert hit, body
    assert path in body["detail"]
    return hit[0]


# -- the request of issue 22 ------------------------------------------------------------------
def test_the_reported_whatif_request_gets_422_naming_the_field(client):
    """It got a 500 (KeyError: 'outcomes': the runs' outcomes were read without their default).

    Read with the schema's defaults, the request still describes a clone that cannot
    exist: a doubling time of 0 h (the contract's physical range is 1-500 h).
    """
    body = {
        "request": {
            "runs": [{"conditions": {}, "run_id": "x"}],
            "clone": {
                "campaign_id": "0",
                "clone_id": "0",
                "molecule": "mAb-A",
                "doubling_time_h": 0.0,
                "lc_hc_ratio": 0.0,
            },
        }
    }
    r = client.post("/whatif", json=body)
    assert r.status_code == 422, r.text
    p = _problem(r, "request.clone.doubling_time_h")
    assert p["value"] == 0.0 and "1-500" in p["expected"]


def test_a_run_without_outcomes_reads_them_as_none_measured(client, clone, measured):
    """The schema's default (no outcomes) is what an absent ``outcomes`` means."""
    run = {k: v for k, v in measured.items() if k != "outcomes"}
    absent = client.post("/whatif", json={"request": {"clone": clone, "runs": [run]}})
    empty = client.post(
        "/whatif", json={"request": {"clone": clone, "runs": [{**run, "outcomes": {}}]}}
    )
    assert absent.status_code == 200, absent.text
    assert absent.content == empty.content
    assert not any(absent.json()["anchored_on_runs"].values())


# -- other what-if requests fuzzing found ------------------------------------------------------
def _whatif_case(name: str, clone: dict, measured: dict) -> tuple[dict, str, object]:
    """A what-if request that got a 500 (or a 422 naming no field), its field and value."""
    cond = measured["conditions"]

    def run(**change: dict) -> dict:  # the measured run, changed as named
        return {"runs": [{**measured, **change}]}

    cases: dict[str, tuple[dict, str, object]] = {
        # measured runs are matched to their outcomes by id: a broadcast error
        "run id twice": ({"runs": [measured, measured]}, "request.runs[1].run_id", "M1"),
        # out-of-range numbers made NaN in the answer (invalid JSON) or broke XGBoost
        "outcome 1e308": (
            run(outcomes={"final_titer_g_l": 1e308}),
            "request.runs[0].outcomes.final_titer_g_l",
            1e308,
        ),
        "outcome inf": (
            run(outcomes={"dsp_yield_pct": float("inf")}),
            "request.runs[0].outcomes.dsp_yield_pct",
            "inf",
        ),
        "condition 1e308": (
            run(conditions={**cond, "feed_pct": 1e308}),
            "request.runs[0].conditions.feed_pct",
            1e308,
        ),
        "condition -inf": (
            run(conditions={"mn_um": float("-inf")}),
            "request.runs[0].conditions.mn_um",
            "-inf",
        ),
        "stability -1": (
            {"clone": {**clone, "stability_pct": -1.0}},
            "request.clone.stability_pct",
            -1.0,
        ),
        "glycan assay 1e130": (  # no bound in the contract, but no 32-bit float either
            {"clone": {**clone, "ss_man5_pct": 2.3e130}, "runs": [measured]},
            "request.clone.ss_man5_pct",
            2.3e130,
        ),
        "doubling time '0'": (
            {"clone": {**clone, "doubling_time_h": "0"}},
            "request.clone.doubling_time_h",
            0.0,
        ),
        # names the model does not have (a 422 before, naming no field)
        "unknown factor": (run(conditions={"rpm": 3.0}), "request.runs[0].conditions", "rpm"),
        "unknown candidate": ({"candidates": [{"rpm": 3.0}]}, "request.candidates[0]", "rpm"),
        "empty candidates": ({"candidates": [{}, {}]}, "request.candidates", "a list of 2 items"),
        "map of one factor": (
            {"design_space": ["feed_pct", "feed_pct"]},
            "request.design_space",
            "a list of 2 items",
        ),
    }
    body, path, value = cases[name]
    return {"clone": clone, **body}, path, value


WHATIF_CASES = (
    "run id twice",
    "outcome 1e308",
    "outcome inf",
    "condition 1e308",
    "condition -inf",
    "stability -1",
    "glycan assay 1e130",
    "doubling time '0'",
    "unknown factor",
    "unknown candidate",
    "empty candidates",
    "map of one factor",
)


@pytest.mark.parametrize("name", WHATIF_CASES)
def test_whatif_requests_fuzzing_found_get_422_naming_the_field(client, clone, measured, name):
    body, path, value = _whatif_case(name, clone, measured)
    r = _post(client, "/whatif", {"request": body})
    assert r.status_code == 422, r.text
    assert _problem(r, path)["value"] == value


def test_a_misshapen_whatif_request_gets_422_naming_path_value_and_expectation(client, clone):
    """The guard reads /whatif's body as it reads /score's (BentoML's 400 had no value)."""
    no_molecule = {k: v for k, v in clone.items() if k != "molecule"}
    r = client.post("/whatif", json={"request": {"clone": no_molecule}})
    assert r.status_code == 422, r.text
    assert "required" in _problem(r, "request.clone.molecule")["expected"]
    bad = {"clone": clone, "runs": [{"run_id": "a", "conditions": {"feed_pct": "x"}}]}
    r = client.post("/whatif", json={"request": bad})
    assert r.status_code == 422, r.text
    assert _problem(r, "request.runs[0].conditions.feed_pct")["value"] == "x"


def test_whatif_requests_that_got_500_but_were_valid_are_answered(client, clone, measured):
    # next experiments with no measured run: the best so far is NaN, sent as null
    r = client.post("/whatif", json={"request": {"clone": clone, "next_experiments": 1}})
    assert r.status_code == 200, r.text
    assert r.json()["next_experiments"]["best_expected_so_far_g_l"] is None
    # outcomes of some targets only, and next experiments (bench_fuzz seed 2611385957):
    # the plan read titer and yield columns the outcomes did not have (KeyError)
    some = {**measured, "conditions": {}, "outcomes": {"hmw_pct": 0.0}}
    body = {"clone": clone, "runs": [some], "next_experiments": 1, "min_spec_prob": 0.81}
    r = client.post("/whatif", json={"request": body})
    assert r.status_code == 200, r.text
    assert r.json()["next_experiments"]["measured_runs_used"] == 0
    # a clone sent all as text: its numbers are read as numbers, as when sent as numbers
    text = {k: (None if v is None else str(v)) for k, v in clone.items()}
    as_text = client.post("/whatif", json={"request": {"clone": text, "n_candidates": 20}})
    as_numbers = client.post("/whatif", json={"request": {"clone": clone, "n_candidates": 20}})
    assert as_text.status_code == 200, as_text.text
    assert as_text.json()["recommended"] == as_numbers.json()["recommended"]


def test_a_missing_measurement_in_nan_is_still_read_as_missing(client, clone, measured):
    """NaN (what a pandas client sends for a missing cell) was answered: it still is."""
    run = copy.deepcopy(measured)
    run["conditions"]["feed_pct"] = float("nan")
    run["outcomes"]["g0f_pct"] = float("nan")
    r = _post(client, "/whatif", {"request": {"clone": clone, "runs": [run], "n_candidates": 20}})
    assert r.status_code == 200, r.text


def test_a_candidate_far_outside_the_box_is_excluded_with_its_reason(client, clone):
    """Its distance to the domain overflows: numpy's warning made it a 500 under strict tests."""
    far = [{"feed_pct": float("inf")}, {"feed_pct": 1e308}, {"temp_after_shift_c": -1e300}]
    r = _post(client, "/whatif", {"request": {"clone": clone, "candidates": far}})
    assert r.status_code == 200, r.text[:300]
    reasons = [e["reason"] for e in r.json()["excluded"]]
    assert sum("outside the training range" in x for x in reasons) == 3, reasons


# -- uploads and forms ---------------------------------------------------------------------------
BOUNDARY = "15e3aba44e85b8e30f7afd1cf3495fc3"


@pytest.mark.parametrize(
    ("path", "ctype", "body"),
    [
        # schemathesis' negative case: a part with no headers (BentoML answered 500)
        (
            "/score_campaign",
            f"multipart/form-data; boundary={BOUNDARY}",
            f"--{BOUNDARY}\r\nTrue--{BOUNDARY}--\r\n",
        ),
        ("/score_campaign", f"multipart/form-data; boundary={BOUNDARY}", "garbage"),
        ("/score_campaign", "multipart/form-data", "x"),  # no boundary
        ("/model", f"multipart/form-data; boundary={BOUNDARY}", "garbage"),
    ],
)
def test_a_form_body_that_does_not_parse_gets_400(client, path, ctype, body):
    r = client.post(path, content=body.encode(), headers={"content-type": ctype})
    assert r.status_code == 400, r.text
    _problem(r, "(body)")
    assert "form body cannot be read" in r.json()["error"]


def test_an_upload_sent_as_text_is_refused_not_fetched(client):
    """BentoML reads a text 'file' as a URL to download (and failed with a 500 here)."""
    for value in ("https://example.org/camp.zip", "/etc/passwd"):
        r = client.post("/score_campaign", files={"file": (None, value)})
        assert r.status_code == 422, r.text
        assert _problem(r, "file")["value"] == value
    r = client.post("/score_campaign", files={"mapping": (None, "peer_emulator")})
    assert r.status_code == 422 and _problem(r, "file")["value"] is None, r.text
    r = client.post("/score_campaign", data={"file": "/etc/passwd"})  # urlencoded
    assert r.status_code == 415, r.text
    assert "multipart/form-data" in r.json()["error"]


# -- a number the contract does not bound, beyond 32-bit floats (reached XGBoost: a 500) -----
@pytest.fixture(scope="module")
def huge_assay_run(trained) -> dict:
    run = copy.deepcopy(runs_from_campaign(trained.data)[0])
    run["clone"]["ss_man5_pct"] = 2.3e130
    return run


def test_a_run_with_a_screen_assay_beyond_any_float_is_rejected_not_a_500(
    client, trained, huge_assay_run
):
    good = runs_from_campaign(trained.data)[1]
    r = client.post("/score", json={"runs": [huge_assay_run, good]})
    assert r.status_code == 200, r.text[:300]
    bad, ok = r.json()["results"]
    assert bad["status"] == "rejected" and "ss_man5_pct" in bad["reasons"][0]
    assert ok["status"] == "scored"
    r = client.post("/explain", json={"run": huge_assay_run})
    assert r.status_code == 200 and r.json()["run"]["status"] == "rejected", r.text[:300]


def test_a_campaign_with_a_screen_assay_beyond_any_float_is_scored_not_a_500(client, trained):
    clones = trained.data.clones.astype(object)
    clones.loc[clones.index[0], "ss_man5_pct"] = 2.3e130
    tables = {
        "clones": clones,
        "runs": trained.data.runs,
        "samples": trained.data.samples,
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, df in tables.items():
            z.writestr(f"camp/{name}.csv", df.to_csv(index=False))
    req = fuzz.upload_request("/score_campaign", "camp.zip", buf.getvalue())
    r = client.request(req.method, req.path, headers=req.headers, content=req.body)
    assert r.status_code in (200, 422), r.text[:300]


# -- fuzzing with a fixed seed ------------------------------------------------------------------
def test_the_fuzz_draws_the_same_requests_on_every_run(trained):
    stuff = fuzz.material(trained.data, trained.bundle.process)
    strategy = fuzz.whatif_requests(stuff.clones, stuff.box, stuff.targets)
    first, again = fuzz.draw(strategy, 15, SEED), fuzz.draw(strategy, 15, SEED)
    assert [r.body for r in first] == [r.body for r in again]
    assert len({r.body for r in first}) > 10
    uploads = fuzz.upload_requests(stuff.tables)
    assert [r.body for r in fuzz.draw(uploads, 5, SEED)] == [
        r.body for r in fuzz.draw(uploads, 5, SEED)
    ]


def test_no_request_the_fuzz_draws_gets_a_server_error(client, trained):
    """Every operation of /docs.json, described and hand-made requests, a fixed seed."""
    schema = schemathesis.openapi.from_dict(client.get("/docs.json").json())
    stuff = fuzz.material(trained.data, trained.bundle.process)
    plan = fuzz.endpoint_requests(schema, stuff, CASES, SEED, skip=fuzz.IN_PROCESS_SKIP)
    documented = {f"{m.upper()} {p}" for p, ops in schema.raw_schema["paths"].items() for m in ops}
    assert set(plan) == documented - {f"{m} {p}" for m, p in fuzz.IN_PROCESS_SKIP}
    send = fuzz.asgi_sender(client)
    failures, seen = [], {}
    for endpoint, requests_ in plan.items():
        tally = fuzz.fuzz(send, requests_)
        seen[endpoint] = tally.as_dict()
        failures += tally.server_errors + tally.unnamed_422
    assert not failures, "\n\n".join(failures[:5])
    for endpoint in ("POST /score", "POST /explain", "POST /whatif", "POST /score_campaign"):
        assert seen[endpoint]["cases"] >= 2 * CASES - 5, seen
        assert seen[endpoint]["statuses"].get("200"), seen  # some requests reach the model
