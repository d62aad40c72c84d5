"""Nothing answered is lost from the prediction log: the real server, two workers, a CLI
`score` writing at the same time, then the server killed with SIGKILL in the middle of load.

Counts, not timings: every prediction id an answer carried is in the log, each source's
rows are all there, and the SQLite file stays readable (integrity check) after the kill.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from serving.engine import runs_from_campaign
from serving.predlog import PredictionLog
from tests.helpers.pgcluster import free_port
from tests.helpers.service import start_serve

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
MODEL = "models:/clonescout-test/1"
RUNS_PER_CALL = 5


class Load:
    """Threads posting /score until told to stop; keeps every answered prediction id."""

    def __init__(self, url: str, runs: list[dict], threads: int = 4):
        self.url, self.runs = url, runs
        self.answered: list[str] = []
        self.failures = 0
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._work, args=(i,)) for i in range(threads)]

    def _work(self, i: int) -> None:
        k = i
        with httpx.Client(timeout=60) as client:
            while not self.stop.is_set():
                start = (k * RUNS_PER_CALL) % (len(self.runs) - RUNS_PER_CALL)
                k += len(self.threads)
                try:
                    r = client.post(
                        f"{self.url}/score",
                        json={"runs": self.runs[start : start + RUNS_PER_CALL], "reasons": "none"},
                    )
                except httpx.HTTPError:
                    with self.lock:
                        self.failures += 1
                    continue
                if r.status_code != 200:
                    with self.lock:
                        self.failures += 1
                    continue
                ids = [x["prediction_id"] for x in r.json()["results"] if x.get("prediction_id")]
                with self.lock:
                    self.answered += ids

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=120)


def test_two_workers_and_a_cli_score_lose_nothing_and_a_kill_loses_no_answer(
    trained, tmp_path
) -> None:
    db = tmp_path / "predictions.db"
    env = {**os.environ, "MLFLOW_TRACKING_URI": trained.tracking_uri, "CLONESCOUT_WORKERS": "2"}
    env["CLONESCOUT_PREDICTION_LOG"] = f"sqlite:///{db}"
    env["BENTOML_HOME"] = str(tmp_path / "bentoml_home")  # own metrics dir (helpers.service)
    env.pop("CLONESCOUT_API_KEYS", None)
    runs = runs_from_campaign(trained.data)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_serve(env, port, tmp_path / "serve.log", MODEL)
    try:
        # 1. two workers answering while `clonescout score` appends the whole campaign
        with Load(url, runs) as load:
            time.sleep(2)
            cli = subprocess.run(
                [str(BIN / "clonescout"), "score", "--data", str(trained.data.folder),
                 "--out", str(tmp_path / "scores.csv"), "--model", MODEL, "--reasons", "none"],
                env=env, capture_output=True, text=True, timeout=600,
            )  # fmt: skip
            time.sleep(1)
        assert cli.returncode == 0, cli.stderr[-2000:]
        log = PredictionLog(f"sqlite:///{db}")
        rows = log.frame("predictions")
        api = rows[rows["source"] == "api"]
        assert load.failures == 0
        assert len(load.answered) >= 50  # the load really ran beside the CLI
        assert len(api) == len(load.answered)  # each answer logged once, none more, none less
        assert set(load.answered) <= set(api["prediction_id"])
        assert (rows["source"] == "cli").sum() == len(trained.data.runs)
        print(f"\nconcurrent: {len(api)} API predictions, {(rows['source'] == 'cli').sum()} CLI")

        # 2. SIGKILL of the whole server in the middle of load
        with Load(url, runs) as load:
            time.sleep(4)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            time.sleep(1)
        answered = set(load.answered)
        assert answered, "no answer arrived before the kill"
        logged = set(PredictionLog(f"sqlite:///{db}").frame("predictions")["prediction_id"])
        assert answered <= logged, f"{len(answered - logged)} answered predictions not logged"
        with sqlite3.connect(db) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        print(f"killed mid-load: {len(answered)} answered before the kill, all in the log")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
