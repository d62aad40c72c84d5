"""The HTTP service in process (BentoML's ASGI app) for the service tests."""

from __future__ import annotations

import time

from starlette.testclient import TestClient

KEY = "k" * 8 + "-test-key-0123456789"


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
