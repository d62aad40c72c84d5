"""The door of the service: API-key check and request-shape errors a person can act on.

A pure ASGI middleware, in front of BentoML's own handling:

- **auth** (when keys are configured): every path but ``/livez``, ``/readyz`` and the pages'
  sign-in and static files needs the ``X-API-Key`` header, or the pages' session cookie
  (:data:`serving.config.KEY_COOKIE`, HttpOnly and SameSite=Strict, set by the sign-in
  form: a key never travels in a URL). The key is compared with every configured key in
  constant time (:func:`hmac.compare_digest`, no early exit) and is never logged or
  echoed. A page asked for without a key is sent to the sign-in form; anything else gets
  a 401.
- **request shape**: the JSON body of each JSON endpoint is validated against its request
  model before BentoML sees it. A bad body gets a 4xx whose ``detail`` lists, per problem,
  the field path (``runs[0].samples[3].day``), the value found and what was expected —
  BentoML's own 400 leaves the value out. Never a 500, never a stack trace.
- **form bodies** (uploads): a multipart body is parsed as BentoML will parse it, first,
  so one that does not parse gets a 400 saying why (BentoML answers those with a 500);
  and each file field of an upload endpoint (``uploads``) must be a file: BentoML reads a
  text value there as a URL to download, which this service never does (no internet at
  run time), so it gets a 422 naming the field.
"""

from __future__ import annotations

import hmac
import json
import math
import os
import tempfile
from collections.abc import AsyncGenerator, Awaitable, Callable, MutableMapping
from typing import IO, Any

from pydantic import BaseModel, ValidationError
from starlette.datastructures import Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.responses import Response

from serving.config import API_KEY_HEADER, KEY_COOKIE, ConfigError, Settings, is_open, is_page

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY_BYTES = 32 * 1024 * 1024
MAX_FORM_BYTES = 513 * 1024 * 1024  # an upload (at most 512 MiB: serving.upload) and its form
SPOOL_BYTES = 1024 * 1024  # a form body is held in memory up to this, on disk beyond
CHUNK_BYTES = 64 * 1024
MULTIPART = b"multipart/form-data"
MAX_VALUE_CHARS = 120
_HEADER = API_KEY_HEADER.lower().encode()


SIGN_IN = "/ui/login"


def key_matches(sent: bytes, keys: tuple[bytes, ...]) -> bool:
    """``sent`` is one of ``keys``, compared with each in constant time (no early exit)."""
    ok = False
    for key in keys:
        ok |= hmac.compare_digest(sent, key)
    return ok


def cookie_value(header: bytes, name: str) -> bytes:
    """The value of cookie ``name`` in a ``Cookie`` header (empty when absent).

    >>> cookie_value(b"a=1; clonescout_key=abc; b=2", "clonescout_key")
    b'abc'
    """
    for part in header.split(b";"):
        key, _, value = part.strip().partition(b"=")
        if key == name.encode():
            return value
    return b""


async def send_redirect(send: Send, location: str) -> None:
    """A 303 to ``location`` (a page asked for without a key goes to the sign-in form)."""
    await send(
        {
            "type": "http.response.start",
            "status": 303,
            "headers": [(b"location", location.encode()), (b"content-length", b"0")],
        }
    )
    await send({"type": "http.response.body", "body": b""})


def field_path(loc: tuple[Any, ...]) -> str:
    """Pydantic's error location as a path a person types: ``runs[0].samples[3].day``.

    >>> field_path(("runs", 0, "samples", 3, "day"))
    'runs[0].samples[3].day'
    >>> field_path(())
    '(body)'
    """
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(body)"


def shown_value(value: Any) -> Any:
    """The offending value, shortened: an object or list is summarised, not echoed whole.

    NaN and the infinities come back as text: JSON has no such numbers.

    >>> shown_value(float("-inf")), shown_value([1, 2])
    ('-inf', 'a list of 2 items')
    """
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        keys = list(value)[:8]
        return f"an object with keys {keys}" + (" ..." if len(value) > 8 else "")
    if isinstance(value, list):
        return f"a list of {len(value)} items"
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        return value[:MAX_VALUE_CHARS] + "..."
    return value


def _expected(err: Any) -> str:
    msg = str(err.get("msg", "a valid value"))
    if err.get("type") == "missing":
        return "this field is required"
    if err.get("type") == "extra_forbidden":
        return "no such field here"
    return msg[0].lower() + msg[1:] if msg else msg


_UNION_TAGS = frozenset(("float", "str", "int", "bool", "none", "list", "dict"))


def validation_detail(exc: ValidationError) -> list[dict[str, Any]]:
    """One entry per problem: path, value found, what was expected.

    A value that fits no member of a union (a measurement is a number, a text or null)
    gives one entry whose expectation lists the members, not one entry per member.
    """
    merged: dict[str, dict[str, Any]] = {}
    for err in exc.errors(include_url=False, include_context=False):
        loc = tuple(err.get("loc", ()))
        while loc and isinstance(loc[-1], str) and loc[-1] in _UNION_TAGS:
            loc = loc[:-1]
        path = field_path(loc)
        missing = err.get("type") == "missing"
        expected = _expected(err)
        if path in merged:
            if expected not in merged[path]["expected"]:
                merged[path]["expected"] += " or " + expected.removeprefix("input should be ")
            continue
        merged[path] = {
            "path": path,
            "value": None if missing else shown_value(err.get("input")),
            "expected": expected,
        }
    return list(merged.values())


def duplicate_runs(payload: BaseModel) -> list[dict[str, Any]]:
    """Run ids sent twice in one request (results are matched to runs by id)."""
    runs = getattr(payload, "runs", None) or []
    first: dict[str, int] = {}
    out = []
    for i, run in enumerate(runs):
        j = first.setdefault(run.run_id, i)
        if j != i:
            out.append(
                {
                    "path": f"runs[{i}].run_id",
                    "value": run.run_id,
                    "expected": f"a run id unique in the request (runs[{j}] has it too)",
                }
            )
    return out


def error_body(error: str, problems: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Every 4xx/5xx body: ``error``, ``detail`` and ``problems``.

    ``detail`` is the problems as text (BentoML documents it as a string); ``problems``
    lists them as path, value found and what was expected.
    """
    problems = problems or []
    lines = [f"{p['path']}: expected {p['expected']}; found {p['value']!r}" for p in problems]
    return {"error": error, "detail": "\n".join(lines), "problems": problems}


NOT_READY = "the model is still loading (or failed to load: see the server log); retry shortly"


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Serialise once, strictly (no NaN in JSON), without a second pydantic pass."""
    return Response(
        json.dumps(body, allow_nan=False, ensure_ascii=False).encode(),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def error_response(
    status: int,
    error: str,
    path: str = "",
    value: Any = None,
    expected: str = "",
    headers: dict[str, str] | None = None,
) -> Response:
    """An error answer (:func:`error_body`); ``path`` names the one problem."""
    problems = [{"path": path, "value": value, "expected": expected}] if path else []
    return json_response(error_body(error, problems), status, headers)


async def send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body, default=str).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


class Guard:
    """ASGI middleware: auth, then body checks before BentoML parses the body.

    ``models``: path -> the model its JSON body must fit; ``uploads``: path -> its file
    fields (a multipart body to any other path is checked to parse, too).
    """

    def __init__(
        self,
        app: ASGIApp,
        models: dict[str, type[BaseModel]],
        api_keys: tuple[str, ...] | None = None,
        uploads: dict[str, tuple[str, ...]] | None = None,
    ):
        self.app = app
        self.models = models
        self.uploads = uploads or {}  # path -> its file fields
        self.fixed = None if api_keys is None else tuple(k.encode() for k in api_keys)
        self._source: tuple[str, str, float] | None = None
        self._keys: tuple[bytes, ...] = ()

    def keys(self) -> tuple[bytes, ...]:
        """The configured keys; re-read when the variables or the keys file change.

        So keys rotate without a restart. A keys file that disappears or breaks the rules
        raises :class:`serving.config.ConfigError`: the request is refused (fail closed).
        """
        if self.fixed is not None:
            return self.fixed
        inline = os.environ.get("CLONESCOUT_API_KEYS", "")
        path = os.environ.get("CLONESCOUT_API_KEYS_FILE", "")
        stamp = os.stat(path).st_mtime if path and os.path.exists(path) else -1.0
        source = (inline, path, stamp)
        if source != self._source:
            self._keys = tuple(k.encode() for k in Settings.from_env().api_keys)
            self._source = source
        return self._keys

    def _authorised(self, scope: Scope, keys: tuple[bytes, ...]) -> bool:
        sent, cookie = b"", b""
        for name, value in scope.get("headers", ()):
            if name == _HEADER:
                sent = value
            elif name == b"cookie":
                cookie = value
        return key_matches(sent or cookie_value(cookie, KEY_COOKIE), keys)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        try:
            keys = self.keys() if not is_open(path) else ()
        except ConfigError as exc:
            await send_json(send, 503, error_body(f"API keys misconfigured: {exc}"))
            return
        if keys and not self._authorised(scope, keys):
            if scope.get("method") == "GET" and is_page(path):
                await send_redirect(send, SIGN_IN)
                return
            await send_json(
                send,
                401,
                error_body(
                    f"missing or wrong API key: send a valid key in the {API_KEY_HEADER} header"
                ),
            )
            return
        model = self.models.get(path)
        if scope.get("method") != "POST":
            await self.app(scope, receive, send)
        elif model is not None:
            await self._checked(model, scope, receive, send)
        elif path in self.uploads or _media_type(scope) == MULTIPART:
            await self._form(self.uploads.get(path, ()), scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _form(
        self, files: tuple[str, ...], scope: Scope, receive: Receive, send: Send
    ) -> None:
        """A form body checked (:func:`form_problem`), then passed on as it came."""
        if files and _media_type(scope) != MULTIPART:
            names = ", ".join(files)
            await send_json(
                send, 415, error_body(f"send the file ({names}) as multipart/form-data")
            )
            return
        with tempfile.SpooledTemporaryFile(SPOOL_BYTES) as spool:
            size = 0
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                size += spool.write(message.get("body", b""))
                if size > MAX_FORM_BYTES:
                    await send_json(
                        send, 413, error_body(f"upload over {MAX_FORM_BYTES // 2**20} MiB")
                    )
                    return
                if not message.get("more_body", False):
                    break
            problem = await form_problem(Headers(scope=scope), spool, files)
            if problem is not None:
                await send_json(send, *problem)
                return
            spool.seek(0)
            sent = False

            async def replay() -> Message:
                nonlocal sent
                if sent:
                    return await receive()
                chunk = spool.read(CHUNK_BYTES)
                sent = spool.tell() >= size
                return {"type": "http.request", "body": chunk, "more_body": not sent}

            await self.app(scope, replay, send)

    async def _checked(
        self, model: type[BaseModel], scope: Scope, receive: Receive, send: Send
    ) -> None:
        ctype = dict(scope.get("headers", ())).get(b"content-type", b"application/json")
        if ctype.split(b";")[0].strip().lower() != b"application/json":
            await send_json(
                send,
                415,
                error_body(
                    f"unsupported Content-Type {ctype.decode(errors='replace')!r}: "
                    "send the body as application/json"
                ),
            )
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                await send_json(
                    send,
                    413,
                    error_body(
                        f"request body over {MAX_BODY_BYTES // 2**20} MiB: split the "
                        "runs over several requests"
                    ),
                )
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        problem = self._problem(model, body)
        if problem is not None:
            await send_json(send, *problem)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    def _problem(model: type[BaseModel], body: bytes) -> tuple[int, dict[str, Any]] | None:
        try:
            payload = model.model_validate_json(body)
        except ValidationError as exc:
            detail = validation_detail(exc)
            if any(e.get("type") == "json_invalid" for e in exc.errors()):
                return 400, error_body("the request body is not valid JSON", detail)
            n = len(detail)
            return 422, error_body(
                f"{n} problem{'s' if n > 1 else ''} in the request body "
                "(see problems: path, value found, expected)",
                detail,
            )
        dups = duplicate_runs(payload)
        if dups:
            return 422, error_body("run ids must be unique within a request", dups)
        return None


def _media_type(scope: Scope) -> bytes:
    ctype = dict(scope.get("headers", ())).get(b"content-type", b"")
    return ctype.split(b";")[0].strip().lower()


async def form_problem(
    headers: Headers, body: IO[bytes], files: tuple[str, ...]
) -> tuple[int, dict[str, Any]] | None:
    """Why a form body cannot be read as the endpoint's input (status and body), or None.

    ``body`` is read from its start with Starlette's parser, BentoML's own; ``files``
    are the fields that must each be one uploaded file.
    """
    body.seek(0)

    async def chunks() -> AsyncGenerator[bytes, None]:
        while chunk := body.read(CHUNK_BYTES):
            yield chunk

    try:
        form = await MultiPartParser(headers, chunks()).parse()
    except MultiPartException as exc:
        where = {"path": "(body)", "value": None, "expected": "a multipart/form-data body"}
        return 400, error_body(f"the form body cannot be read: {exc.message}", [where])
    try:
        for name in files:
            values = form.getlist(name)
            text = [v for v in values if not isinstance(v, UploadFile)]
            if values and not text:
                continue
            expected = (
                "a file, sent as a multipart part with a filename (a text value is not read "
                "as a URL: the service downloads nothing)"
            )
            found = shown_value(text[0]) if text else None
            problem = {"path": name, "value": found, "expected": expected}
            return 422, error_body(f"{name}: expected an uploaded file", [problem])
    finally:
        await form.close()
    return None
