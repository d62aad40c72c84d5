"""Team scale: train and score against an MLflow server on PostgreSQL, 2 tuning workers.

A real PostgreSQL server (a throw-away cluster, see ``pgcluster``) holds MLflow's tracking
store and registry in its ``public`` schema and Optuna's studies in an ``optuna`` schema
of the same database (both keep an ``alembic_version`` table, so they cannot share one
schema). ``clonescout train --workers 2`` runs through a real ``mlflow server``; the test
then reads both stores back from the database and scores through the same server.

Skipped only where the server binaries are truly absent; ``make test`` (and so CI)
installs them and sets CLONESCOUT_REQUIRE_POSTGRES, which turns that skip into a failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import optuna
import pandas as pd
import pytest

from serving.ready import stop
from simulator.campaign import SimulationConfig, simulate_set, write_set
from tests.helpers.pgcluster import REQUIRE_ENV, Cluster, free_port, server_bin, start_cluster

pytestmark = pytest.mark.slow
TRIALS = 4  # per family and tuning: two per worker


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    if server_bin() is None:
        why = "PostgreSQL server binaries (initdb, pg_ctl) are not installed"
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(f"{why}, and {REQUIRE_ENV} is set: `make test` installs them")
        pytest.skip(f"{why}; `make test` installs Debian's postgresql")
    c = start_cluster()
    try:
        c.sql("CREATE SCHEMA optuna")
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def tracking_server(cluster: Cluster, tmp_path_factory) -> Iterator[str]:
    """``mlflow server`` on the cluster's database; its URL once it answers /health."""
    port = free_port()
    artifacts = tmp_path_factory.mktemp("artifacts")
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    cmd = [str(mlflow_bin), "server", "--backend-store-uri", cluster.url()]
    cmd += ["--artifacts-destination", str(artifacts), "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--workers", "1"]
    log = (artifacts / "server.log").open("w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, artifacts / "server.log")
        yield url
    finally:
        stop(proc)
        log.close()


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mlflow server exited ({proc.returncode}): {log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"mlflow server not healthy after {timeout_s} s: {log.read_text()}")


def _cli(args: list[str], tracking: str, cwd: Path, **extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking, **extra}
    env.pop("CLONESCOUT_OPTUNA_STORAGE", None)
    cmd = [sys.executable, "-m", "clonescout_cli.main", *args]
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, f"clonescout {args[0]} failed:\n{done.stderr[-4000:]}"
    return done


def _json(done: subprocess.CompletedProcess) -> dict:
    """The command's stdout as JSON; what it printed instead, when it is not."""
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"not JSON on stdout: {done.stdout[-2000:]!r}") from None


def test_train_with_two_workers_and_score_on_postgres(
    cluster: Cluster, tracking_server: str, tmp_path: Path
) -> None:
    cfg = SimulationConfig(n_campaigns=3, clones_per_campaign=6, seed=3, deep_clone_share=0.0)
    data = tmp_path / "set"
    write_set(simulate_set(cfg), data, cfg, "csv")
    storage = cluster.url(schema="optuna")
    train = ["train", "--data", str(data), "--trials", str(TRIALS), "--folds", "3"]
    train += ["--inner-folds", "2", "--no-curve", "--json", "--target", "dsp_yield_pct"]
    train += ["--target", "g0f_pct", "--workers", "2", "--optuna-storage", storage]
    metrics = json.loads(_cli(train, tracking_server, tmp_path).stdout)
    run_id = metrics["mlflow_run_id"]

    # Optuna: every study of the training (2 families x (3 outer folds + the final model))
    # lives in the database, with its trials shared out between two worker processes
    studies = optuna.study.get_all_study_names(storage)
    assert len(studies) == 2 * (3 + 1)
    pids = set()
    for name in studies:
        trials = optuna.load_study(study_name=name, storage=storage).trials
        assert len(trials) == TRIALS and all(t.state.name in ("COMPLETE", "PRUNED") for t in trials)
        pids |= {t.user_attrs["worker_pid"] for t in trials}
    assert len(pids) == 2  # the same two worker processes served the whole training
    assert cluster.sql("SELECT count(*) FROM optuna.trials")[0][0] == 8 * TRIALS

    # MLflow: the run, its nested trial runs and the registered model are rows in PostgreSQL
    assert cluster.sql(f"SELECT status FROM runs WHERE run_uuid = '{run_id}'") == [("FINISHED",)]
    trial_runs = cluster.sql(
        "SELECT count(*), count(DISTINCT w.value) FROM tags t JOIN tags w "
        "ON w.run_uuid = t.run_uuid AND w.key = 'worker_pid' "
        "WHERE t.key = 'clonescout.role' AND t.value = 'trial'"
    )
    # the final model's trials, from both workers (its studies run last, when both are warm)
    assert trial_runs == [(2 * TRIALS, 2)]
    assert cluster.sql("SELECT name, version FROM model_versions") == [("clonescout", 1)]

    _cli(["promote"], tracking_server, tmp_path)
    scores = tmp_path / "scores.csv"
    model = ["--model", "models:/clonescout/1"]
    # the prediction log on the same database, in its own schema beside MLflow's and Optuna's
    log = {"CLONESCOUT_PREDICTION_LOG": cluster.url()}
    score = ["score", "--data", str(data), "--out", str(scores), *model]
    _cli(score, tracking_server, tmp_path, **log)
    df = pd.read_csv(scores)
    assert len(df) == 36 and (df["model_version"] == 1).all()
    assert df["flag"].isin(["ok", "at risk", "unknown"]).all()
    assert not (tmp_path / "mlflow.db").exists()  # nothing fell back to the local store
    assert not (tmp_path / "predictions.db").exists()
    logged = cluster.sql(
        "SELECT prediction_id, source, model_version FROM clonescout_log.predictions "
        "ORDER BY event_id"
    )
    assert [r[0] for r in logged] == list(df["prediction_id"])
    assert {(r[1], r[2]) for r in logged} == {("cli", "1")}
    _cli(score, tracking_server, tmp_path, **log)  # scored again: new rows, the same ids
    again = cluster.sql("SELECT prediction_id FROM clonescout_log.predictions ORDER BY event_id")
    assert [r[0] for r in again] == [r[0] for r in logged] * 2

    # outcomes come back into the same schema; the monitor reads them from PostgreSQL
    added = _json(_cli(["outcomes", "add", str(data), "--json"], tracking_server, tmp_path, **log))
    assert (added["rows_in"], added["appended"], added["set_aside"]) == (36, 36, 0)
    assert added["log"].startswith("postgresql")
    twice = _json(_cli(["outcomes", "add", str(data), "--json"], tracking_server, tmp_path, **log))
    assert (twice["appended"], twice["already_recorded"]) == (0, 36)
    assert cluster.sql("SELECT count(*) FROM clonescout_log.outcomes") == [(36,)]
    judged = _json(_cli(["monitor", "--json"], tracking_server, tmp_path, **log))
    (v,) = judged["versions"]
    assert v["predictions"] == 36 and v["left_out"]["seen_in_training"] == 36  # its own runs
    assert v["verdict"] == "too few outcomes" and v["mlflow_run_id"]
