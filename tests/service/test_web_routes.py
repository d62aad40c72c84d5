"""The pages' routes in process (serving.web on the BentoML app): jobs, files, clones, keys.

The browser path itself is tests/service/test_web_browser.py; here every route's answers,
its refusals (each with what, where and what would be right, never a stack trace) and the
sign-in cookie are checked without a browser, on the small model of the `trained` fixture.
"""

from __future__ import annotations

import io
import shutil
import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("bentoml")

from features.contract.files import write_table
from tests.helpers.service import KEY, app_client, wait_ready
from tests.helpers.web import lab_export, zipped


@pytest.fixture()
def client(monkeypatch, trained, tmp_path):
    monkeypatch.setenv("CLONESCOUT_UI_JOBS", str(tmp_path / "jobs"))
    monkeypatch.setenv("CLONESCOUT_PREDICTION_LOG", f"sqlite:///{tmp_path / 'predictions.db'}")
    with app_client(monkeypatch, trained) as c:
        wait_ready(c)
        yield c


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Path:
    return lab_export(tmp_path_factory.mktemp("lab"))


def _wait(c, job: str, timeout: float = 120.0) -> dict:
    deadline = time.time() + timeout
    seen = []
    while time.time() < deadline:
        s = c.get(f"/ui/api/jobs/{job}").json()
        seen.append(s["state"])
        if s["state"] in ("done", "failed"):
            s["seen"] = seen
            return s
        time.sleep(0.1)
    raise AssertionError(f"job {job} never finished: {seen[-5:]}")


def _upload(c, path: Path, mapping: str | None = None):
    data = {"mapping": mapping} if mapping else {}
    with path.open("rb") as f:
        return c.post("/ui/api/jobs", files={"file": (path.name, f)}, data=data)


def _no_trace(resp) -> None:
    assert "Traceback" not in resp.text and 'File "' not in resp.text


def test_pages_and_assets_are_served_from_the_package_with_a_strict_policy(client):
    for path in ("/ui/", "/ui/clone", "/ui/model", "/ui/login"):
        r = client.get(path)
        assert r.status_code == 200, path
        assert r.headers["content-type"].startswith("text/html")
        if path != "/ui/login":
            csp = r.headers["content-security-policy"]
            assert "default-src 'self'" in csp and "http" not in csp
        assert "http://" not in r.text and "https://" not in r.text  # no CDN, nothing fetched
    for name in ("app.css", "common.js", "campaign.js", "clone.js", "model.js", "plotly.min.js"):
        assert client.get(f"/ui/static/{name}").status_code == 200, name
    missing = client.get("/ui/static/evil.js")
    assert missing.status_code == 404 and "app.css" in missing.json()["detail"]
    assert client.get("/ui/nowhere").status_code == 404


def test_a_lab_export_is_scored_as_a_job_with_every_run_counted(client, lab, tmp_path):
    r = _upload(client, zipped(lab, tmp_path / "lab_export.zip"))
    assert r.status_code == 202, r.text
    s = _wait(client, r.json()["job"])
    assert s["state"] == "done", s
    assert s["runs_in"] == s["scored"] + s["rejected"] and s["rejected"] >= 1
    assert set(s["files"]) == {"scores", "clones", "rejects", "summary", "report"}
    # every quirky run is set aside with the file, line and column it broke
    assert len(s["rejects"]) == s["rejected"]
    for rej in s["rejects"]:
        assert rej["reason"] and rej["run_id"]
    assert any(".csv" in rej["reason"] and "line" in rej["reason"] for rej in s["rejects"])
    assert s["summary"]["clones_ranked"] + s["summary"]["clones_unknown"] == len(s["clones"])
    job = r.json()["job"]
    files = {}
    for key in s["files"]:
        got = client.get(f"/ui/api/jobs/{job}/files/{key}")
        assert got.status_code == 200, key
        assert "attachment" in got.headers["content-disposition"]
        files[key] = got.content
    scores = pd.read_csv(io.BytesIO(files["scores"]))
    assert len(scores) == s["scored"]
    assert (scores["prediction_id"].str.len() > 0).all()
    assert b"<html" in files["report"][:2000].lower()
    inline = client.get(f"/ui/api/jobs/{job}/files/report?inline=1")  # the page's frame
    assert "content-disposition" not in inline.headers and inline.content == files["report"]
    # the clone page's data: runs as scored, its what-if request, the factors' box
    top = next(c for c in s["clones"] if c["rank"] == 1)
    view = client.get(f"/ui/api/jobs/{job}/clones/{top['clone_id']}").json()
    assert view["ranking"]["rank"] == 1
    assert {r["run_id"] for r in view["runs"]} <= set(scores["run_id"])
    assert top["runs_unknown"] == 0 and len(view["runs"]) == top["runs"]
    assert view["whatif"]["clone"]["clone_id"] == top["clone_id"]
    assert view["whatif"]["runs"] and all(r["conditions"] for r in view["whatif"]["runs"])
    for f in view["process"]["factors"]:
        assert f["low"] < f["high"]
    # the clone's what-if request is one /whatif takes as it is
    w = client.post("/whatif", json={"request": {**view["whatif"], "n_candidates": 20}})
    assert w.status_code == 200, w.text
    assert w.json()["recommended"] is not None or w.json()["reasons"]


def test_a_job_logs_its_predictions_with_the_pages_as_source(client, lab, tmp_path):
    r = _upload(client, zipped(lab, tmp_path / "lab.zip"))
    s = _wait(client, r.json()["job"])
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'predictions.db'}")
    with engine.connect() as con:
        n = con.execute(sa.text("select count(*) from predictions where source = 'ui'")).scalar()
    assert n == s["scored"]


def test_bad_uploads_say_why_and_lose_nothing(client, lab, tmp_path):
    # one CSV without a mapping: refused at once, naming the field
    csv = tmp_path / "runs.csv"
    shutil.copyfile(lab / "runs.csv", csv)
    r = _upload(client, csv)
    assert r.status_code == 422
    body = r.json()
    assert body["problems"][0]["path"] == "mapping" and "mapping" in body["error"]
    _no_trace(r)
    # an unknown mapping
    r = _upload(client, csv, mapping="nope")
    assert r.status_code == 422 and "peer_emulator" in r.json()["problems"][0]["expected"]
    # not a zip at all
    fake = tmp_path / "broken.zip"
    fake.write_bytes(b"PK not really")
    s = _wait(client, _upload(client, fake).json()["job"])
    assert s["state"] == "failed" and "zip" in s["error"] and s["problems"][0]["path"] == "file"
    # a zip whose runs table lost its key column: the job fails with the violation named
    broken = tmp_path / "broken_set"
    shutil.copytree(lab, broken)
    runs = pd.read_csv(broken / "runs.csv").drop(columns=["clone_id"])
    write_table(runs, broken / "runs.csv")
    s = _wait(client, _upload(client, zipped(broken, tmp_path / "broken_set.zip")).json()["job"])
    assert s["state"] == "failed", s
    assert "clone_id" in " ".join(p["expected"] for p in s["problems"])
    # a broken run inside a good zip: set aside with its reason, the others scored
    one = tmp_path / "one_bad"
    shutil.copytree(lab, one)
    samples = pd.read_csv(one / "samples.csv")
    victim = samples["run_id"].iloc[0]
    samples.loc[samples["run_id"] == victim, "viability_pct"] = 150.0
    write_table(samples, one / "samples.csv")
    s = _wait(client, _upload(client, zipped(one, tmp_path / "one_bad.zip")).json()["job"])
    assert s["state"] == "done" and s["runs_in"] == s["scored"] + s["rejected"]
    assert any(r["run_id"] == victim and "viability_pct" in r["reason"] for r in s["rejects"])


def test_unknown_jobs_clones_and_files_are_404s_that_say_what_exists(client, lab, tmp_path):
    assert client.get("/ui/api/jobs/../../etc").status_code == 404
    r = client.get("/ui/api/jobs/" + "0" * 24)
    assert r.status_code == 404 and "no job" in r.json()["error"]
    s = _wait(client, _upload(client, zipped(lab, tmp_path / "lab.zip")).json()["job"])
    job = s["job"]
    r = client.get(f"/ui/api/jobs/{job}/files/secrets")
    assert r.status_code == 404 and "scores" in r.json()["problems"][0]["expected"]
    r = client.get(f"/ui/api/jobs/{job}/clones/NOPE")
    assert r.status_code == 404 and "NOPE" in r.json()["error"]
    _no_trace(r)


def test_with_keys_the_pages_ask_to_sign_in_and_the_cookie_opens_them(monkeypatch, trained):
    with app_client(monkeypatch, trained, keys=KEY) as c:
        wait_ready(c, headers={"X-API-Key": KEY})
        page = c.get("/ui/", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/ui/login"
        assert c.get("/ui/api/mappings").status_code == 401
        assert c.get("/ui/login").status_code == 200  # the form and its style are open
        assert c.get("/ui/static/app.css").status_code == 200
        wrong = c.post("/ui/login", data={"key": KEY[:-1] + "x"}, follow_redirects=False)
        assert wrong.status_code == 303 and "failed" in wrong.headers["location"]
        assert "set-cookie" not in wrong.headers
        right = c.post("/ui/login", data={"key": KEY}, follow_redirects=False)
        assert right.status_code == 303 and right.headers["location"] == "/ui/"
        cookie = right.headers["set-cookie"]
        assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
        assert c.get("/ui/").status_code == 200  # the client keeps the cookie
        assert c.get("/ui/api/mappings").json()["mappings"]
        assert c.post("/model", json={}).status_code == 200  # the pages' API calls too
        c.post("/ui/logout")
        assert c.get("/ui/api/mappings").status_code == 401


def test_a_zip_member_outside_its_folder_is_refused(client, tmp_path):
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("../outside/runs.csv", "run_id\n")
    s = _wait(client, _upload(client, evil).json()["job"])
    assert s["state"] == "failed" and "outside" in s["error"]
