"""The request deadline: 504 on time-out, and no timer outlives the request it guards."""

from __future__ import annotations

import asyncio
import json

import pytest

from serving.deadline import Deadline, install


def _call(app, loop_timers: list | None = None) -> tuple[list[dict], asyncio.AbstractEventLoop]:
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    async def main():
        loop = asyncio.get_running_loop()
        if loop_timers is not None:  # record every timer the middleware schedules
            original = loop.call_later

            def recording(*args, **kwargs):
                handle = original(*args, **kwargs)
                loop_timers.append(handle)
                return handle

            loop.call_later = recording  # type: ignore[method-assign]
        await app({"type": "http", "path": "/score", "method": "POST"}, receive, send)
        return loop

    return sent, asyncio.run(main())


async def _ok(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


def test_answered_request_cancels_its_timer_at_once() -> None:
    """BentoML's middleware left each timer pending for the whole timeout (issue 9 soak)."""
    timers: list = []
    sent, _ = _call(Deadline(_ok, timeout=120.0), timers)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 200
    assert len(timers) == 1 and timers[0].cancelled()


def test_request_that_ends_without_a_response_cancels_its_timer() -> None:
    async def silent(scope, receive, send):  # e.g. the client went away
        return None

    timers: list = []
    sent, _ = _call(Deadline(silent, timeout=120.0), timers)
    assert sent == [] and timers[0].cancelled()


def test_slow_request_gets_504_with_a_json_error_and_is_cancelled() -> None:
    cancelled = []

    async def slow(scope, receive, send):
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    sent, _ = _call(Deadline(slow, timeout=0.05))
    assert sent[0]["status"] == 504
    body = json.loads(b"".join(m.get("body", b"") for m in sent[1:]))
    assert "0.05 s" in body["error"] and "fewer runs" in body["error"]
    assert cancelled == [True]


def test_app_errors_still_propagate() -> None:
    async def broken(scope, receive, send):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        _call(Deadline(broken, timeout=120.0))


def test_install_replaces_bentoml_timeout_middleware() -> None:
    from bentoml._internal.server.http import traffic

    install()
    assert traffic.TimeoutMiddleware is Deadline
