"""Every prediction the API and `clonescout score` give is in the prediction log.

On the session's small model (`trained`): ids in answers and files, rows per scoring event,
warm-up left out, a log that fails counted (or refused when the site requires the log).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("bentoml")

from serving.engine import Engine, LogRefused, runs_from_campaign
from serving.predlog import LogError, PredictionLog
from tests.helpers.service import app_client, wait_ready


@pytest.fixture(scope="module")
def runs(trained) -> list[dict]:
    return runs_from_campaign(trained.data)


def _engine(trained, log, required=False, error="") -> Engine:
    from serving.engine import ServedModel

    served = ServedModel("clonescout-test", "1", "models:/clonescout-test/1", None, "h" * 64, 7.0)
    return Engine(trained.bundle, served, log, required, error)


def test_each_answer_names_its_prediction_and_each_scoring_is_a_row(trained, runs, tmp_path):
    log = PredictionLog(f"sqlite:///{tmp_path}/p.db")
    engine = _engine(trained, log)
    engine.warm_up()
    assert log.count() == 0  # warming up is nobody's prediction
    batch = [runs[0], runs[1], {**runs[2], "samples": []}]  # the last is rejected
    first = engine.score(batch)
    again = engine.score(batch)
    ids = [r["prediction_id"] for r in first[:2]]
    assert ids == [r["prediction_id"] for r in again[:2]] and len(set(ids)) == 2
    assert "prediction_id" not in first[2]  # a rejected run is no prediction
    got = log.read()
    assert [r["prediction_id"] for r in got] == ids + ids
    row = got[0]
    assert (row["run_id"], row["clone_id"], row["source"]) == (
        runs[0]["run_id"],
        runs[0]["clone"]["clone_id"],
        "api",
    )
    assert row["model_version"] == "1" and row["training_data_hash"] == "h" * 64
    answer = first[0]
    for t, p in answer["predictions"].items():
        assert row["result"][t] == p["value"]
        assert row["result"][f"{t}_lo90"] == p["pi90"]["lo"]
    assert row["flag"] == answer["flag"]
    assert engine.log_tally.logged == 4 and engine.log_tally.failed == 0


class _Broken:
    where = "sqlite:////nowhere.db"

    def write_batches(self, batches):
        raise LogError(f"prediction log {self.where}: rows not written (none kept): disk full")


def test_a_failed_log_write_is_counted_and_answered_unless_the_log_is_required(trained, runs):
    counted: list[tuple[int, int]] = []
    engine = _engine(trained, _Broken())
    engine.log_tally.on_log = lambda ok, failed: counted.append((ok, failed))
    answers = engine.score(runs[:3])
    assert all(a["status"] == "scored" for a in answers)
    assert engine.log_tally.failed == 3 and "disk full" in engine.log_tally.last_error
    assert counted == [(0, 3)]
    unopened = _engine(trained, None, error="cannot open the prediction log x: no such folder")
    unopened.score(runs[:2])
    assert unopened.log_tally.failed == 2  # every prediction it answers counts as not logged
    switched_off = _engine(trained, None)
    switched_off.score(runs[:2])
    assert switched_off.log_tally.failed == 0
    strict = _engine(trained, _Broken(), required=True)
    with pytest.raises(LogRefused, match=r"could not be logged .*disk full"):
        strict.score(runs[:1])


def test_the_api_logs_what_it_answers(monkeypatch, trained, runs, tmp_path):
    """(Its /metrics counters are checked on a real server: tests/service/test_serving_live.)"""
    monkeypatch.setenv("CLONESCOUT_PREDICTION_LOG", f"sqlite:///{tmp_path}/api.db")
    with app_client(monkeypatch, trained) as c:
        wait_ready(c)
        resp = c.post("/score", json={"runs": runs[:5], "reasons": "none"})
        assert resp.status_code == 200
        answered = [r["prediction_id"] for r in resp.json()["results"]]
    got = PredictionLog(f"sqlite:///{tmp_path}/api.db").read()
    assert [r["prediction_id"] for r in got] == answered
    assert {r["source"] for r in got} == {"api"}


def test_an_api_whose_log_cannot_open_answers_or_stays_down_when_required(
    monkeypatch, trained, runs, tmp_path
):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("CLONESCOUT_PREDICTION_LOG", f"sqlite:///{blocker}/x/p.db")
    with app_client(monkeypatch, trained) as c:
        wait_ready(c)
        resp = c.post("/score", json={"runs": runs[:2]})
        assert resp.status_code == 200 and resp.json()["scored"] == 2
    monkeypatch.setenv("CLONESCOUT_PREDICTION_LOG_REQUIRED", "on")
    with app_client(monkeypatch, trained) as c:
        for _ in range(50):  # the model would load in well under this; the log stops it
            assert c.get("/readyz").status_code == 503
        assert c.post("/score", json={"runs": runs[:1]}).status_code == 503


def test_score_logs_every_scored_run_and_its_files_carry_the_ids(monkeypatch, trained, tmp_path):
    from clonescout_cli.scorecmd import run_score

    url = f"sqlite:///{tmp_path}/cli.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained.tracking_uri)
    monkeypatch.setenv("CLONESCOUT_PREDICTION_LOG", url)
    out = tmp_path / "scores.csv"
    model = "models:/clonescout-test/1"
    assert run_score(Path(trained.data.folder), out, model, reasons="none") == 0
    scores = pd.read_csv(out)
    summary = json.loads(out.with_suffix(".summary.json").read_text())
    got = PredictionLog(url).read()
    assert len(got) == len(scores) == summary["scored"]
    assert summary["prediction_log"] == {"where": url, "logged": len(scores)}
    assert sorted(scores["prediction_id"]) == sorted(r["prediction_id"] for r in got)
    assert {r["source"] for r in got} == {"cli"}
    assert scores["input_fingerprint"].str.len().eq(16).all()
    first = scores.iloc[0]
    row = next(r for r in got if r["run_id"] == first["run_id"])
    assert row["prediction_id"] == first["prediction_id"]
    assert row["result"]["dsp_yield_pct"] == pytest.approx(first["dsp_yield_pct"], rel=1e-12)
