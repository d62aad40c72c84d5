"""The HTTP service in process (BentoML's ASGI app) for the service tests."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from serving.ready import ServerNotReady, wait_until_ready
from tests.helpers.pgcluster import free_port

KEY = "k" * 8 + "-test-key-0123456789"
MODEL = "models:/clonescout-test/1"
BIN = Path(sys.executable).parent


_APP: list = []  # BentoML registers its Prometheus metrics once per process: one app


def app_client(monkeypatch, trained, keys: str = "", model: str | None = None) -> TestClient:
    """A client of the one app; each `with` starts a new service instance from the env."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained.tracking_uri)
    monkeypatch.setenv("CLONESCOUT_MODEL", model or "models:/clonescout-test/1")
    monkeypatch.setenv("CLONESCOUT_API_KEYS", keys)
    monkeypatch.delenv("CLONESCOUT_API_KEYS_FILE", raising=False)
    if not _APP:
        from serving.service import build

        _APP.append(build().to_asgi())
    return TestClient(_APP[0], raise_server_exceptions=False)


def wait_ready(c: TestClient, headers=None, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if c.get("/readyz").status_code == 200:
            return
        time.sleep(0.1)
    raise AssertionError("service never became ready")


def start_serve(env: dict, port: int, log: Path, model: str = MODEL) -> subprocess.Popen:
    """``clonescout serve`` in its own process group, output to ``log``, once ready."""
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(BIN / "clonescout"), "serve", "--port", str(port), "--model", model],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_ready(f"http://127.0.0.1:{port}", proc, timeout=240)
    except ServerNotReady as exc:
        os.killpg(proc.pid, 9)
        pytest.fail(f"{exc}\n{log.read_text()[-3000:]}")
    return proc


@contextlib.contextmanager
def served(trained, root: Path, keys: str = "", model: str = MODEL):
    """``clonescout serve`` (one worker) on a free port, with its own jobs folder and
    prediction log under ``root``; yields its URL and its log file."""
    port = free_port()
    log = root / "serve.log"
    env = {**os.environ, "MLFLOW_TRACKING_URI": trained.tracking_uri, "CLONESCOUT_WORKERS": "1"}
    env["CLONESCOUT_PREDICTION_LOG"] = f"sqlite:///{root / 'predictions.db'}"
    env["CLONESCOUT_UI_JOBS"] = str(root / "jobs")
    # nothing of the tests under the user's ~/bentoml (serve keeps a home per port under it)
    env["BENTOML_HOME"] = str(root / "bentoml_home")
    env["CLONESCOUT_API_KEYS"] = keys
    env.pop("CLONESCOUT_API_KEYS_FILE", None)
    proc = start_serve(env, port, log, model)
    try:
        yield f"http://127.0.0.1:{port}", log
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
