"""A request deadline that lets go of each request as soon as it is answered.

BentoML 1.4 enforces ``traffic.timeout`` with its ``TimeoutMiddleware``, which schedules
one ``loop.call_later(timeout, ...)`` per request and never cancels it. Each timer keeps its
request's context (OpenTelemetry span included) alive for the whole timeout, answered or
not: at 500 requests/s and a 120 s timeout that is some 60,000 requests' worth of objects.
We measured what it costs on this service (``make bench``, issue 9): resident memory grew
~25 % over a 5-minute soak before levelling off after about one timeout, and every full
garbage collection had those objects to walk, 30-130 ms pauses that set the p99 latency.

:class:`Deadline` keeps BentoML's contract (a request whose response has not started
within the timeout is cancelled and answered 504 with a JSON error) and cancels its timer
the moment the response starts or the request ends. :func:`install` puts it in place of
BentoML's class; BentoML reads the class when it builds the app, so ``install`` must run
before the service's app is built (``serving.service.build`` calls it first).
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.guard import error_body, send_json


class Deadline:
    """ASGI middleware: 504 when no response has started within ``timeout`` seconds."""

    def __init__(self, app: ASGIApp, timeout: float) -> None:
        self.app = app
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        started: asyncio.Future[None] = loop.create_future()

        async def send_started(message: Message) -> None:
            if not started.done():
                started.set_result(None)
            await send(message)

        task = asyncio.ensure_future(self.app(scope, receive, send_started))
        # the app may end without sending anything (a client gone): that ends the wait too
        task.add_done_callback(lambda _: _settle(started))
        timer = loop.call_later(self.timeout, _expire, started)
        try:
            await started
        except TimeoutError:
            if task.cancel():
                await _send_timeout(send, self.timeout)
                return
        finally:
            timer.cancel()
        await task


def _settle(started: asyncio.Future[None]) -> None:
    if not started.done():
        started.set_result(None)


def _expire(started: asyncio.Future[None]) -> None:
    if not started.done():
        started.set_exception(TimeoutError())


async def _send_timeout(send: Send, timeout: float) -> None:
    body: dict[str, Any] = error_body(
        f"the request was not answered within the server's timeout of {timeout:g} s: "
        "send fewer runs per request"
    )
    await send_json(send, 504, body)


def install() -> None:
    """Use :class:`Deadline` wherever BentoML would use its ``TimeoutMiddleware``."""
    from bentoml._internal.server.http import traffic

    traffic.TimeoutMiddleware = Deadline  # type: ignore[misc,assignment]
